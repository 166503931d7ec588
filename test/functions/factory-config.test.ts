/**
 * The factory configuration: the repository's factory.yml is valid and each of its families'
 * templates bundles and validates as a submit of it would; a broken configuration is refused
 * with every problem and its path at once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../model/bundle.ts';
import { ConfigError } from '../../functions/lib/config.ts';
import { familyBundle, familyOrNotFound, factoryConfigPath, loadFactoryConfig, parseFactoryConfig } from '../../functions/lib/factory-config.ts';

const repo = join(import.meta.dirname, '..', '..');

describe("the repository's factory.yml", () => {
  it('is where the functions look for it outside Lambda, and valid', async () => {
    expect(factoryConfigPath()).toBe(join(repo, 'factory.yml'));
    const config = await loadFactoryConfig();
    expect(Object.keys(config.families).length).toBeGreaterThan(0);
    expect(config.families.hello).toMatchObject({
      template: 'examples/hello/template.json',
      team: 'local',
      targets: [{ region: 'us-west-2', mode: 'share' }, { account: '222222222222', region: 'us-east-1', mode: 'share' }],
      schedule: { enabled: true },
    });
    expect(config.families.hello?.lifecycle?.keep_newest).toBeGreaterThan(0);
  });

  it("bundles every family's template, which validates as the factory validates a submit", async () => {
    const config = await loadFactoryConfig(join(repo, 'factory.yml'));
    for (const [name, family] of Object.entries(config.families)) {
      const bundle = await familyBundle(config, name);
      expect(bundle.variables, name).toMatchObject(family.variables);
      const dir = await mkdtemp(join(tmpdir(), 'family-bundle-'));
      try {
        const request = await loadBundle(bundle, dir);
        expect(request.builder.ami_name, name).not.toBe('');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('a factory configuration', () => {
  const problems = (text: string): string => {
    try {
      parseFactoryConfig(text, 'factory.yml');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('parsed');
  };

  it('without families is a factory without families', () => {
    expect(parseFactoryConfig('', 'factory.yml')).toEqual({ families: {} });
    expect(parseFactoryConfig('families: {}', 'factory.yml')).toEqual({ families: {} });
  });

  it('is refused with every problem, each with its path', () => {
    const message = problems(`
families:
  Bad_Name:
    template: a/template.json
    team: images
  good:
    template: ../outside/template.json
    team: images
    colour: blue
    schedule: { cron: "0 3 * * * *", timezone: Mars/Olympus }
    lifecycle: { keep_newest: 0 }
  flat:
    template: template.json
    team: images
    lifecycle: { keep_newest: 2, schedule: { cron: "61 3 * * ? *" } }
`);
    expect(message).toMatch(/^factory\.yml is invalid: /);
    for (const expected of [
      /families\.Bad_Name: not a family name/,
      /families\.good\.colour: unknown configuration key/,
      /families\.good\.lifecycle\.keep_newest: /,
      // Checked beyond the schema on the families the schema takes, in the same message.
      /families\.flat\.template: "template\.json" must lie in a folder of its own/,
      /families\.flat\.lifecycle\.schedule\.cron: "61 3 \* \* \? \*": minutes: 61 is outside 0-59/,
    ]) {
      expect(message).toMatch(expected);
    }
  });

  it('is refused for what EventBridge and the deployment would refuse, each with its path', () => {
    const message = problems(`
families:
  good:
    template: ../outside/template.json
    team: images
    schedule: { cron: "0 3 * * * *", timezone: Mars/Olympus }
  flat:
    template: template.json
    team: images
    lifecycle: { keep_newest: 2, schedule: { cron: "61 3 * * ? *" } }
`);
    expect(message).toContain('families.good.schedule.cron: "0 3 * * * *": day-of-month and day-of-week: exactly one of them must be "?"');
    expect(message).toContain('families.good.schedule.timezone: "Mars/Olympus" is not an IANA time zone');
    expect(message).toContain('families.good.template: "../outside/template.json" must lie in a folder of its own inside the configuration\'s folder');
    expect(message).toContain('families.flat.template: "template.json" must lie in a folder of its own');
    expect(message).toContain('families.flat.lifecycle.schedule.cron: "61 3 * * ? *": minutes: 61 is outside 0-59');
  });

  it('that is not YAML says so', () => {
    expect(problems('families: [unclosed')).toMatch(/^factory\.yml is not YAML: /);
  });

  it('answers 404 FamilyNotFound for a family it does not have', () => {
    expect(() => familyOrNotFound({ families: {} }, 'nope')).toThrow(expect.objectContaining({ status: 404, code: 'FamilyNotFound', message: 'the factory configuration has no family "nope"' }));
    expect(() => familyOrNotFound({ families: {} }, 'constructor')).toThrow(expect.objectContaining({ status: 404 }));
  });
});
