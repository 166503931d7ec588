import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDevice } from '../../../worker/devices/device-lock.ts';
import { withHostLock } from '../../../worker/devices/host-lock.ts';
import { acquireLock, breakLocksOfDeadOwners, listLocks, LockBusyError } from '../../../worker/devices/owned-lock.ts';
import { currentProcessIdentity } from '../../../worker/devices/process-identity.ts';
import { killRunningChildren, startFixture } from './fixtures/children.ts';

let lockDir: string;

beforeEach(async () => {
  lockDir = await mkdtemp(join(tmpdir(), 'host-lock-'));
});

afterEach(async () => {
  await killRunningChildren();
  await rm(lockDir, { recursive: true, force: true });
});

describe('in one process', () => {
  it('serialises host-lock holders', async () => {
    const events: string[] = [];
    await Promise.all(
      [1, 2, 3, 4].map((n) =>
        withHostLock(lockDir, async () => {
          events.push(`enter ${n}`);
          await sleep(20);
          events.push(`exit ${n}`);
        }),
      ),
    );
    expect(events).toHaveLength(8);
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i + 1]).toBe(events[i]?.replace('enter', 'exit'));
    }
  });

  it('fails at once instead of deadlocking when taken again inside itself', async () => {
    await expect(withHostLock(lockDir, () => withHostLock(lockDir, () => Promise.resolve()))).rejects.toThrow(
      'not re-entrant',
    );
    expect(await listLocks(lockDir)).toEqual([]);
  });

  it('releases the host lock when the function throws', async () => {
    await expect(withHostLock(lockDir, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await listLocks(lockDir)).toEqual([]);
  });

  it('records the owner beside the lock and removes both on release', async () => {
    const lease = await lockDevice(lockDir, '/dev/sdf');
    const [info] = await listLocks(lockDir);
    expect(info?.name).toBe('device-sdf');
    expect(info?.abandoned).toBe(false);
    expect(info?.owner).toMatchObject(await currentProcessIdentity());
    await lease.release();
    await lease.release();
    expect(await listLocks(lockDir)).toEqual([]);
  });

  it('refuses a second lease on the same device at once, naming the holder', async () => {
    const lease = await lockDevice(lockDir, '/dev/sdf');
    try {
      const second = lockDevice(lockDir, '/dev/sdf');
      await expect(second).rejects.toBeInstanceOf(LockBusyError);
      await expect(second).rejects.toThrow(`pid ${process.pid}`);
    } finally {
      await lease.release();
    }
  });

  it('breaks an owner-less lock only once it has stopped being refreshed', async () => {
    await mkdir(join(lockDir, 'device-sdg.lock'));
    await mkdir(join(lockDir, 'device-sdh.lock'));
    const old = new Date(Date.now() - 120_000);
    await utimes(join(lockDir, 'device-sdh.lock'), old, old);
    expect(await breakLocksOfDeadOwners(lockDir)).toEqual(['device-sdh']);
    expect((await listLocks(lockDir)).map((l) => l.name)).toEqual(['device-sdg']);
  });

  it('treats a reused pid (another start time) and an earlier boot as dead owners', async () => {
    const me = await currentProcessIdentity();
    const owners = {
      'device-sdf': { ...me, startTime: me.startTime + 1 },
      'device-sdg': { ...me, bootId: '00000000-0000-0000-0000-000000000000' },
      'device-sdh': me,
    };
    for (const [name, identity] of Object.entries(owners)) {
      await mkdir(join(lockDir, `${name}.lock`));
      const owner = { ...identity, hostname: hostname(), token: name, acquiredAt: 'x' };
      await writeFile(join(lockDir, `${name}.lock`, 'owner.json'), JSON.stringify(owner));
    }
    expect((await breakLocksOfDeadOwners(lockDir)).sort()).toEqual(['device-sdf', 'device-sdg']);
  });
});

describe('across processes', () => {
  it('makes a second process wait for the host lock until the first lets go', async () => {
    const first = startFixture('hold-lock.ts', [lockDir, 'host']);
    await first.waitForLine(/^locked/);
    const second = startFixture('hold-lock.ts', [lockDir, 'host']);
    await sleep(700);
    expect(second.lines).toEqual([]);
    await first.finish();
    await second.waitForLine(/^locked/);
    expect(await second.finish()).toBe(0);
  });

  it('never lets two of four processes into the host lock at once', async () => {
    const log = join(lockDir, 'critical.log');
    const children = [1, 2, 3, 4].map(() => startFixture('host-critical-section.ts', [lockDir, log, '5']));
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(40);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^enter \d+$/);
      expect(lines[i + 1]).toBe(lines[i]?.replace('enter', 'exit'));
    }
  });

  it('breaks a SIGKILLed owner’s lease but not a live owner’s', async () => {
    const doomed = startFixture('hold-lock.ts', [lockDir, 'device', '/dev/sdf']);
    const alive = startFixture('hold-lock.ts', [lockDir, 'device', '/dev/sdg']);
    await Promise.all([doomed.waitForLine(/^locked/), alive.waitForLine(/^locked/)]);

    await expect(lockDevice(lockDir, '/dev/sdf')).rejects.toThrow(`pid ${doomed.pid}`);
    doomed.process.kill('SIGKILL');
    await doomed.exited;

    expect(await breakLocksOfDeadOwners(lockDir)).toEqual(['device-sdf']);
    const left = await listLocks(lockDir);
    expect(left.map((l) => [l.name, l.owner?.pid, l.abandoned])).toEqual([['device-sdg', alive.pid, false]]);
    expect(await alive.finish()).toBe(0);
  });

  it('takes over a SIGKILLed holder’s host lock at once instead of waiting for staleness', async () => {
    const doomed = startFixture('hold-lock.ts', [lockDir, 'host']);
    await doomed.waitForLine(/^locked/);
    doomed.process.kill('SIGKILL');
    await doomed.exited;
    const started = Date.now();
    await withHostLock(lockDir, () => Promise.resolve());
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('lets a waiting lease take over when its holder dies', async () => {
    const doomed = startFixture('hold-lock.ts', [lockDir, 'device', '/dev/sdf']);
    await doomed.waitForLine(/^locked/);
    const waiting = acquireLock(lockDir, 'device-sdf', { waitMs: 20_000 });
    await sleep(300);
    doomed.process.kill('SIGKILL');
    const lock = await waiting;
    expect(lock.owner.pid).toBe(process.pid);
    await lock.release();
  });
});
