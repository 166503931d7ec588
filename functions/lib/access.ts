/**
 * Who may do what in a factory many teams share, from the factory's access configuration
 * (the `ACCESS` variable, deployed with the stack):
 *
 *   { "teams": { "NAME": { "principals": ["ARN pattern", ...] } },
 *     "admins": ["ARN pattern", ...],
 *     "hostCommands": ["team name or ARN pattern", ...] }
 *
 * A caller is the IAM principal API Gateway verified (SigV4). It belongs to the one team
 * whose patterns match it; its builds are that team's, and may go (share or copy targets)
 * only into the factory's own account and the team's `targetAccounts`. Admins see and cancel every build
 * (they submit only through a team of their own). `hostCommands` lists the teams and
 * principals whose templates may run commands on the chroot host. Patterns are ARNs where
 * `*` stands for any run of characters and `?` for one, as in IAM: an assumed role's
 * sessions are `arn:aws:sts::ACCOUNT:assumed-role/ROLE/*`.
 */
import * as z from 'zod';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { BuildOwner } from '../../contract/execution.ts';
import type { Target } from '../../contract/targets.ts';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';
import { ConfigError, requiredEnv } from './config.ts';
import { callerIdentity, ProblemError } from './http.ts';

/** Team names go into S3 keys and EC2 tags: a safe, short alphabet. */
const TEAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ARN_PATTERN = /^arn:[^\s]+$/;

const arnPattern = z.string().regex(ARN_PATTERN, 'must be an ARN pattern such as arn:aws:iam::123456789012:role/builders or arn:aws:sts::123456789012:assumed-role/builders/*');

export const AccessConfigSchema = z
  .strictObject({
    teams: z.record(
      z.string().regex(TEAM_NAME, 'team names are 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
      z.strictObject({
        principals: z.array(arnPattern).min(1, 'must list at least one principal pattern'),
        /** Accounts the team's builds may share or copy images into, besides the factory's own. */
        targetAccounts: z.array(z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id')).default([]),
      }),
    ),
    admins: z.array(arnPattern).default([]),
    hostCommands: z.array(z.string().min(1, 'must be a team name or an ARN pattern')).default([]),
  })
  .superRefine((config, context) => {
    config.hostCommands.forEach((entry, index) => {
      if (!ARN_PATTERN.test(entry) && config.teams[entry] === undefined) {
        context.addIssue({ code: 'custom', path: ['hostCommands', index], message: `"${entry}" is neither a team of "teams" nor an ARN pattern` });
      }
    });
  });

export type AccessConfig = z.output<typeof AccessConfigSchema>;

const EXAMPLE = '{"teams": {"images": {"principals": ["arn:aws:iam::123456789012:role/images-ci"]}}, "admins": [], "hostCommands": []}';

/** Parses and checks the configuration, naming every problem with its path. */
export function parseAccessConfig(raw: string, variable = 'ACCESS'): AccessConfig {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ConfigError(`${variable} is not JSON (${(error as Error).message}): expected an object such as ${EXAMPLE}`);
  }
  const parsed = AccessConfigSchema.safeParse(json);
  if (!parsed.success) {
    const problems = formatFieldErrors(fieldErrorsOf(parsed.error), { whole: '(root)', separator: '; ' });
    throw new ConfigError(`${variable} is invalid: ${problems}; expected an object such as ${EXAMPLE}`);
  }
  return parsed.data;
}

let cached: { raw: string; config: AccessConfig } | undefined;

/** The deployment's configuration, checked once per container (again only if it changes). */
export function accessConfig(): AccessConfig {
  const raw = requiredEnv('ACCESS', `the factory's access configuration (JSON), such as ${EXAMPLE}`);
  if (cached?.raw !== raw) cached = { raw, config: parseAccessConfig(raw) };
  return cached.config;
}

/** IAM-style matching: `*` any run of characters, `?` one; the rest literally. */
export function matchesPattern(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

export interface Caller {
  principal: string;
  /** The caller's team, or null for a caller in none (an admin may be in none). */
  team: string | null;
  admin: boolean;
}

/** The caller of a request, placed by the configuration. */
export function callerOf(event: APIGatewayProxyEvent, config: AccessConfig = accessConfig()): Caller {
  const principal = callerIdentity(event);
  const teams = Object.entries(config.teams)
    .filter(([, team]) => team.principals.some((pattern) => matchesPattern(pattern, principal)))
    .map(([name]) => name);
  if (teams.length > 1) {
    // Overlapping patterns are the configuration's mistake: guessing a team could hand one
    // team's builds to another.
    throw new ProblemError(403, 'AmbiguousTeam', `${principal} matches the teams ${teams.join(', ')}; the factory's operators must make their patterns disjoint`);
  }
  return { principal, team: teams[0] ?? null, admin: config.admins.some((pattern) => matchesPattern(pattern, principal)) };
}

/** The owner a new build of this caller gets; a caller in no team may not build. */
export function ownerFor(caller: Caller): BuildOwner {
  if (caller.team === null) {
    throw new ProblemError(403, 'NoTeam', `${caller.principal} belongs to no team of the factory's access configuration; ask its operators to add it`);
  }
  return { team: caller.team, principal: caller.principal };
}

/** Whether the caller may see (and cancel) a build of this owner. */
export function maySee(caller: Caller, owner: BuildOwner | null): boolean {
  if (caller.admin) return true;
  return owner !== null && caller.team !== null && owner.team === caller.team;
}

/**
 * Whether the configuration lets a team's templates run commands on the chroot host, by the
 * team's name alone: what a factory family's builds get, whoever starts them, so a run on
 * demand builds what the schedule would.
 */
export function teamMayRunHostCommands(team: string, config: AccessConfig = accessConfig()): boolean {
  return config.hostCommands.includes(team);
}

/**
 * The targets of a team's request that name an account the team may not put images into: the
 * target-account role trusts the factory, not a team, so the factory decides which team
 * reaches which account. Families (factory.yml) are the operators' own and are not checked.
 */
export function refuseForeignTargets(team: string, targets: readonly Target[], factoryAccountId: string, config: AccessConfig = accessConfig()): void {
  const allowed = new Set([factoryAccountId, ...(config.teams[team]?.targetAccounts ?? [])]);
  const errors = targets.flatMap((target, index) =>
    target.account === undefined || allowed.has(target.account)
      ? []
      : [{ path: `targets[${index}].account`, message: `team ${team} may not put images into account ${target.account}: it is not among the team's targetAccounts in the factory's access configuration` }],
  );
  if (errors.length > 0) throw new ProblemError(403, 'TargetAccountNotAllowed', formatFieldErrors(errors, { separator: '; ' }), errors);
}

/** Whether the configuration lets this caller's templates run commands on the chroot host. */
export function mayRunHostCommands(caller: Caller, config: AccessConfig = accessConfig()): boolean {
  return config.hostCommands.some((entry) => (ARN_PATTERN.test(entry) ? matchesPattern(entry, caller.principal) : entry === caller.team));
}
