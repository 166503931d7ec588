import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allocateEc2Device } from '../../../worker/devices/ec2-allocator.ts';
import type { Ec2Attachment } from '../../../worker/devices/ec2-device-names.ts';
import { listLocks } from '../../../worker/devices/owned-lock.ts';
import { buildTree } from './fixtures/fake-tree.ts';
import { killRunningChildren, startFixture } from './fixtures/children.ts';

let root: string;
let lockDir: string;
let devRoot: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ec2-allocator-'));
  lockDir = join(root, 'locks');
  devRoot = join(root, 'dev');
  // A Xen host: root disk and one leftover volume under xvd names.
  await buildTree(root, { 'dev/xvda': '', 'dev/xvda1': '', 'dev/xvdf': '', 'dev/null': '' });
});

afterEach(async () => {
  await killRunningChildren();
  await rm(root, { recursive: true, force: true });
});

const attachments =
  (list: Ec2Attachment[] = []): (() => Promise<Ec2Attachment[]>) =>
  () =>
    Promise.resolve(list);

describe('allocateEc2Device', () => {
  it('skips local nodes and stale EC2 attachments that have no local node', async () => {
    const lease = await allocateEc2Device({
      lockDir,
      devRoot,
      listAttachments: attachments([{ deviceName: '/dev/sdg', volumeId: 'vol-0dead', state: 'attached' }]),
    });
    expect(lease.deviceName).toBe('/dev/sdh');
    expect((await listLocks(lockDir)).map((l) => l.name)).toEqual(['device-sdh']);
    await lease.release();
    expect(await listLocks(lockDir)).toEqual([]);
  });

  it('gives builds allocating at once different names', async () => {
    const leases = await Promise.all(
      [1, 2, 3, 4].map(() => allocateEc2Device({ lockDir, devRoot, listAttachments: attachments() })),
    );
    expect(leases.map((l) => l.deviceName).sort()).toEqual(['/dev/sdg', '/dev/sdh', '/dev/sdi', '/dev/sdj']);
    await Promise.all(leases.map((l) => l.release()));
    const again = await allocateEc2Device({ lockDir, devRoot, listAttachments: attachments() });
    expect(again.deviceName).toBe('/dev/sdg');
    await again.release();
  });

  it('skips a name leased by a build in another process and takes it over once that build is dead', async () => {
    const other = startFixture('hold-lock.ts', [lockDir, 'device', '/dev/sdg']);
    await other.waitForLine(/^locked/);
    const first = await allocateEc2Device({ lockDir, devRoot, listAttachments: attachments() });
    expect(first.deviceName).toBe('/dev/sdh');

    other.process.kill('SIGKILL');
    await other.exited;
    const second = await allocateEc2Device({ lockDir, devRoot, listAttachments: attachments() });
    expect(second.deviceName).toBe('/dev/sdg');
    await Promise.all([first.release(), second.release()]);
  });

  it('says why each candidate is taken when none is free', async () => {
    const attempt = allocateEc2Device({
      lockDir,
      devRoot,
      candidates: ['/dev/sdf', '/dev/sdg'],
      listAttachments: attachments([{ deviceName: 'xvdg', volumeId: 'vol-0abc', state: 'detaching' }]),
    });
    await expect(attempt).rejects.toThrow(/\/dev\/sdf: local node \/dev\/xvdf exists\n {2}\/dev\/sdg: EC2 has vol-0abc detaching as xvdg/);
    expect(await listLocks(lockDir)).toEqual([]);
  });
});
