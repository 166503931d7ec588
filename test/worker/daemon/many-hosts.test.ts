/**
 * Two chroot hosts in different zones serve one factory, and more builds arrive than they
 * have slots. Every build's later tasks reach the host that claimed it, its volume is made
 * in that host's zone, no device name is leased twice at once on a host, and neither host
 * runs more builds than its limit.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import {
  makeTestWorker,
  startBuild,
  startTestFactory,
  until,
  waitForExecution,
  type TestFactory,
  type TestWorker,
} from './factory.ts';

/** The most builds a host held at once, from its claim and release events. */
function peakClaims(host: TestWorker): number {
  let held = 0;
  let peak = 0;
  for (const event of host.events) {
    if (event.name === 'claimed') peak = Math.max(peak, ++held);
    if (event.name === 'released') held--;
  }
  return peak;
}

/** Device names a host leased to two builds at once. */
function deviceOverlaps(host: TestWorker): string[] {
  const holder = new Map<string, string>();
  const overlaps: string[] = [];
  for (const event of host.events) {
    const { buildId = '', deviceName = '' } = event;
    if (event.name === 'claimed') {
      const other = holder.get(deviceName);
      if (other !== undefined) overlaps.push(`${deviceName}: ${other} and ${buildId}`);
      holder.set(deviceName, buildId);
    }
    if (event.name === 'released' && holder.get(deviceName) === buildId) holder.delete(deviceName);
  }
  return overlaps;
}

describeIfRoot('worker daemon: several hosts, several builds', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('many');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('routes each build to its claiming host and respects every host limit', async () => {
    const hosts = [
      await makeTestWorker(factory, 'a', 'us-east-1a', { maxConcurrentBuilds: 1 }),
      await makeTestWorker(factory, 'b', 'us-east-1b', { maxConcurrentBuilds: 2 }),
    ];
    await Promise.all(hosts.map((h) => h.worker.start()));
    const builds = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        startBuild(factory, `many-${i}`, [{ type: 'shell', inline: [`echo ${i} > /etc/build-number`, 'sleep 1'] }]),
      ),
    );
    const results = await Promise.all(builds.map((b) => waitForExecution(factory, b.executionArn)));
    // The last releases are sent as the executions end.
    await until(() => hosts.reduce((n, h) => n + h.events.filter((e) => e.name === 'released').length, 0) === 5, 20_000, 'releases');
    await Promise.all(hosts.map((h) => h.worker.stop()));

    for (const [i, result] of results.entries()) {
      expect(result.status, `build ${i + 1}`).toBe('SUCCEEDED');
      const claimer = hosts.find((h) => h.instanceId === result.output.claim?.instanceId);
      expect(claimer, `build ${i + 1} was claimed by a known host`).toBeDefined();
      if (claimer === undefined) continue;
      const buildId = builds[i]?.buildId;
      const startedOn = hosts.filter((h) => h.events.some((e) => e.name === 'build_started' && e.buildId === buildId));
      expect(startedOn.map((h) => h.instanceId)).toEqual([claimer.instanceId]);
      const volumeId = result.output.volume?.volumeId ?? '';
      expect(result.output.volume?.availabilityZone).toBe(claimer.availabilityZone);
      await withImageMounted(factory.store.volumePath(volumeId), async (root) => {
        expect(await readFile(join(root, 'etc/build-number'), 'utf8')).toBe(`${i + 1}\n`);
      });
    }
    for (const host of hosts) {
      expect(deviceOverlaps(host)).toEqual([]);
      expect(peakClaims(host)).toBeLessThanOrEqual(host.config.maxConcurrentBuilds);
    }
    // Both hosts took part, and the two-slot host ran two builds at once at some point.
    expect(hosts.map((h) => h.events.filter((e) => e.name === 'claimed').length).every((n) => n > 0)).toBe(true);
    expect(peakClaims(hosts[1] as TestWorker)).toBe(2);
  });
});
