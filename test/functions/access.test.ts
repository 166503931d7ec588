/**
 * The factory's access configuration: checked once, with every problem named by its path,
 * and callers placed in teams by IAM-style patterns.
 */
import { describe, expect, it } from 'vitest';
import { callerOf, mayRunHostCommands, maySee, parseAccessConfig, type AccessConfig } from '../../functions/lib/access.ts';
import { ConfigError } from '../../functions/lib/config.ts';
import { ProblemError } from '../../functions/lib/http.ts';
import { ACCESS, ADMIN, apiEvent, CALLER, OPERATOR, OTHER_TEAM_CALLER, STRANGER, TEAMMATE } from './support.ts';

const config: AccessConfig = parseAccessConfig(JSON.stringify(ACCESS));
const caller = (arn: string) => callerOf(apiEvent('GET', '/builds', { caller: arn }), config);

describe('the access configuration', () => {
  it('names every problem with its path', () => {
    const raw = JSON.stringify({
      teams: { 'bad name!': { principals: ['arn:aws:iam::1:user/x'] }, empty: { principals: [] }, web: { principals: ['not-an-arn'] } },
      admins: 'everyone',
      hostCommands: ['nobody'],
      extra: true,
    });
    let error: unknown;
    try {
      parseAccessConfig(raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const part of ['teams["bad name!"]', 'teams.empty.principals', 'teams.web.principals[0]', 'admins', 'extra']) expect(message).toContain(part);
  });

  it('says what it expected when it is not JSON', () => {
    expect(() => parseAccessConfig('{teams')).toThrow(/ACCESS is not JSON.*expected an object such as/);
  });

  it('refuses a hostCommands entry that is neither a team nor an ARN pattern', () => {
    expect(() => parseAccessConfig(JSON.stringify({ teams: {}, hostCommands: ['platform'] }))).toThrow(/hostCommands\[0\]: "platform" is neither a team/);
  });
});

describe('callers', () => {
  it('belong to the team whose patterns match, wildcards as in IAM', () => {
    expect(caller(CALLER)).toEqual({ principal: CALLER, team: 'images', admin: false });
    expect(caller(TEAMMATE).team).toBe('images');
    expect(caller(OTHER_TEAM_CALLER).team).toBe('web');
    expect(caller(STRANGER)).toEqual({ principal: STRANGER, team: null, admin: false });
    expect(caller(ADMIN)).toMatchObject({ team: null, admin: true });
  });

  it('are refused when patterns of two teams match them (403)', () => {
    const overlapping = parseAccessConfig(JSON.stringify({ teams: { a: { principals: ['arn:aws:iam::*:user/*'] }, b: { principals: ['arn:aws:iam::*:user/builder'] } } }));
    expect(() => callerOf(apiEvent('GET', '/builds', { caller: CALLER }), overlapping)).toThrow(ProblemError);
  });

  it('see their team\'s builds; admins see all; no one sees a build without an owner but admins', () => {
    const images = { team: 'images', principal: CALLER };
    expect(maySee(caller(TEAMMATE), images)).toBe(true);
    expect(maySee(caller(OTHER_TEAM_CALLER), images)).toBe(false);
    expect(maySee(caller(STRANGER), images)).toBe(false);
    expect(maySee(caller(ADMIN), images)).toBe(true);
    expect(maySee(caller(CALLER), null)).toBe(false);
    expect(maySee(caller(ADMIN), null)).toBe(true);
  });

  it('may run host-side commands when their team or principal is granted', () => {
    expect(mayRunHostCommands(caller(OPERATOR), config)).toBe(true);
    expect(mayRunHostCommands(caller(CALLER), config)).toBe(false);
    const byPrincipal = parseAccessConfig(JSON.stringify({ ...ACCESS, hostCommands: ['arn:aws:sts::*:assumed-role/images-ci/*'] }));
    expect(mayRunHostCommands(callerOf(apiEvent('GET', '/builds', { caller: TEAMMATE }), byPrincipal), byPrincipal)).toBe(true);
    expect(mayRunHostCommands(callerOf(apiEvent('GET', '/builds', { caller: CALLER }), byPrincipal), byPrincipal)).toBe(false);
  });
});
