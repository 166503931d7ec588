import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_PROFILES, loadAwsModelProfile } from '../../../local/aws-model/profile.ts';
import { ResourceClock } from '../../../local/aws-model/resource-clock.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aws-model-profile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function profileFile(content: unknown): Promise<string> {
  const path = join(dir, `${String(Math.random()).slice(2)}.json`);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('AWS model profiles', () => {
  it('has the built-in profiles by name', () => {
    const typical = loadAwsModelProfile('typical');
    expect(typical.timeScale).toBe(1);
    expect(typical.buckets.default).toEqual({ size: 50, refillPerSecond: 5 });
    expect(typical.buckets.describeFiltered).toEqual({ size: 100, refillPerSecond: 20 });
    const slow = loadAwsModelProfile('slow');
    expect(slow.latencySeconds.createVolume).toBeGreaterThan(typical.latencySeconds.createVolume);
  });

  it('models a ~4 min snapshot for a build that changes an eighth of an 8 GiB volume (typical)', async () => {
    const time = { now: 0 };
    const clock = new ResourceClock({ profile: loadAwsModelProfile('typical'), now: () => time.now });
    clock.volumeCreated('vol-1', 8);
    await clock.snapshotStarted('snap-1', 'vol-1');
    time.now = 239_000;
    expect(clock.snapshotProgress('snap-1')).toBe(99);
    time.now = 240_000;
    expect(clock.snapshotProgress('snap-1')).toBeUndefined();
    const slow = new ResourceClock({ profile: loadAwsModelProfile('slow'), changedGiB: () => 1, now: () => 0 });
    await slow.snapshotStarted('snap-2', 'vol-2');
    expect(slow.snapshotProgress('snap-2')).toBe(0);
  });

  it('overrides any subset of a base profile from a file', async () => {
    const path = await profileFile({ base: 'slow', timeScale: 0.02, buckets: { default: { size: 5, refillPerSecond: 1 }, tags: { size: 7 } } });
    const profile = loadAwsModelProfile(path);
    expect(profile.timeScale).toBe(0.02);
    expect(profile.buckets.default).toEqual({ size: 5, refillPerSecond: 1 });
    expect(profile.buckets.tags).toEqual({ size: 7, refillPerSecond: 10 });
    expect(profile.latencySeconds).toEqual(BUILT_IN_PROFILES.slow.latencySeconds);
  });

  it('names every wrong field at once', async () => {
    const path = await profileFile({
      base: 'typical',
      latencySeconds: { createVolume: -1, attachVolum: 3 },
      buckets: { default: { size: 'many' }, everything: { size: 1, refillPerSecond: 1 } },
    });
    let message = '';
    try {
      loadAwsModelProfile(path);
    } catch (error) {
      message = String(error);
    }
    expect(message).toContain(path);
    expect(message).toMatch(/latencySeconds\.createVolume: .*>=\s*0/);
    expect(message).toMatch(/latencySeconds: .*attachVolum/);
    expect(message).toMatch(/buckets\.default\.size: .*number/);
    expect(message).toMatch(/buckets: .*everything/);
  });

  it('says what is wrong with an unknown name, a missing file or bad JSON', async () => {
    expect(() => loadAwsModelProfile('fastest')).toThrow(/neither a built-in profile \(typical, slow\) nor a readable file/);
    const path = await profileFile('{ not json');
    expect(() => loadAwsModelProfile(path)).toThrow(/is not JSON/);
    const badBase = await profileFile({ base: 'fast' });
    expect(() => loadAwsModelProfile(badBase)).toThrow(/base: /);
  });
});
