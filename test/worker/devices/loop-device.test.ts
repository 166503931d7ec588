import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  attachLoopDevice,
  backingIdentity,
  detachLoopDevice,
  listLoopDevices,
  loopDevicesBackedBy,
  type LoopDeviceLease,
} from '../../../worker/devices/loop-device.ts';
import { assertPartitionExists, partitionPath } from '../../../worker/devices/partitions.ts';
import { killRunningChildren, startFixture } from './fixtures/children.ts';

function loopSupport(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control (no loop device support)';
  return undefined;
}
const skipReason = loopSupport();
if (skipReason !== undefined) console.warn(`skipping real loop-device tests: ${skipReason}`);

let dir: string;
let lockDir: string;
const mounted: string[] = [];

async function image(name: string, setup: 'ext4' | 'mbr' | 'empty'): Promise<string> {
  const path = join(dir, name);
  await execa('truncate', ['-s', '64M', path]);
  if (setup === 'ext4') await execa('mkfs.ext4', ['-F', '-q', path]);
  if (setup === 'mbr') await execa('sfdisk', ['--quiet', path], { input: 'label: dos\nstart=2048, type=83\n' });
  return path;
}

const isAttached = (device: string): boolean => existsSync(`/sys/block/${basename(device)}/loop/backing_file`);

describe.skipIf(skipReason !== undefined)('loop devices (real, as root)', () => {
  beforeAll(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'loop-device-')));
    lockDir = join(dir, 'locks');
  });

  // Whatever a test left behind, even when it failed halfway.
  afterEach(async () => {
    await killRunningChildren();
    for (const mountPoint of mounted.splice(0).reverse()) await execa('umount', [mountPoint], { reject: false });
    for (const loop of await listLoopDevices()) {
      if (!loop.backingFile.startsWith(`${dir}/`)) continue;
      await execa('partx', ['--delete', loop.device], { reject: false });
      await execa('losetup', ['--detach', loop.device], { reject: false });
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('attaches a bare file system image and detaches it for good', async () => {
    const img = await image('bare.img', 'ext4');
    const lease = await attachLoopDevice(img, { lockDir });
    expect(lease.device).toMatch(/^\/dev\/loop\d+$/);
    expect(lease.partitions).toEqual([]);
    expect(await listLoopDevices()).toContainEqual(expect.objectContaining({ device: lease.device, backingFile: img }));
    expect(await assertPartitionExists(lease.device, 0)).toBe(lease.device);
    await expect(assertPartitionExists(lease.device, 1, { waitMs: 0 })).rejects.toThrow(
      `partition 1 of ${lease.device} does not exist (the device has no partitions; partition 0 is the whole device)`,
    );

    await lease.release();
    expect(await loopDevicesBackedBy(img)).toEqual([]);
    await lease.release();
    await detachLoopDevice(lease.device, { image: await backingIdentity(img) });
  });

  it('adds the partitions of a partitioned image and removes them on detach', async () => {
    const img = await image('mbr.img', 'mbr');
    const lease = await attachLoopDevice(img, { lockDir });
    expect(lease.partitions).toEqual([{ number: 1, start: 2048, size: 129024, type: '83' }]);
    const p1 = partitionPath(lease.device, 1);
    expect(p1).toBe(`${lease.device}p1`);
    expect(await assertPartitionExists(lease.device, 1)).toBe(p1);
    await execa('mkfs.ext4', ['-F', '-q', p1]);
    await expect(assertPartitionExists(lease.device, 2, { waitMs: 0 })).rejects.toThrow(
      `partition 2 of ${lease.device} does not exist (the device has 1 partition)`,
    );

    await lease.release();
    expect(await loopDevicesBackedBy(img)).toEqual([]);
    // Another build may have taken the freed device since; its partitions are not ours.
    if (!isAttached(lease.device)) {
      expect(existsSync(p1)).toBe(false);
      expect(existsSync(`/sys/block/${basename(lease.device)}/${basename(p1)}`)).toBe(false);
    }
  });

  it('refuses to detach a mounted device and leaves it attached, then detaches after unmount', async () => {
    const img = await image('mounted.img', 'mbr');
    const lease = await attachLoopDevice(img, { lockDir });
    const p1 = partitionPath(lease.device, 1);
    await execa('mkfs.ext4', ['-F', '-q', p1]);
    const mountPoint = join(dir, 'mnt');
    await mkdir(mountPoint, { recursive: true });
    await execa('mount', [p1, mountPoint]);
    mounted.push(mountPoint);

    await expect(lease.release()).rejects.toThrow(`${lease.device} is in use`);
    const [info] = await loopDevicesBackedBy(img);
    expect(info).toMatchObject({ device: lease.device, autoclear: false });
    expect(existsSync(p1)).toBe(true);

    await execa('umount', [mountPoint]);
    mounted.pop();
    await lease.release();
    expect(await loopDevicesBackedBy(img)).toEqual([]);
  });

  it('leaves alone a device that is now backed by another image', async () => {
    const mine = await image('mine.img', 'empty');
    const theirs = await image('theirs.img', 'ext4');
    const lease = await attachLoopDevice(theirs, { lockDir });
    await detachLoopDevice(lease.device, { image: await backingIdentity(mine) });
    expect(isAttached(lease.device)).toBe(true);
    await lease.release();
  });

  it('finds the loop devices of an image by inode, whatever path it was attached by', async () => {
    const img = await image('linked.img', 'ext4');
    const link = join(dir, 'link-to.img');
    await symlink(img, link);
    const lease = await attachLoopDevice(link, { lockDir });
    expect(lease.image).toBe(img);
    expect((await loopDevicesBackedBy(link)).map((l) => l.device)).toEqual([lease.device]);
    await lease.release();
  });

  it('gives four attaches at once four different devices', async () => {
    const images = await Promise.all([1, 2, 3, 4].map((n) => image(`parallel-${n}.img`, n % 2 ? 'mbr' : 'ext4')));
    const leases: LoopDeviceLease[] = await Promise.all(images.map((img) => attachLoopDevice(img, { lockDir })));
    try {
      expect(new Set(leases.map((l) => l.device)).size).toBe(4);
      for (const [i, lease] of leases.entries()) {
        expect((await loopDevicesBackedBy(images[i] ?? '')).map((l) => l.device)).toEqual([lease.device]);
      }
    } finally {
      await Promise.all(leases.map((l) => l.release()));
    }
    for (const img of images) expect(await loopDevicesBackedBy(img)).toEqual([]);
  });

  it('gives four processes attaching at once four different devices', async () => {
    const images = await Promise.all([1, 2, 3, 4].map((n) => image(`process-${n}.img`, 'mbr')));
    const children = images.map((img) => startFixture('attach-image.ts', [lockDir, img]));
    const devices = await Promise.all(children.map((c) => c.waitForLine(/^\/dev\/loop\d+$/)));
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
    expect(new Set(devices).size).toBe(4);
    for (const [i, device] of devices.entries()) {
      const img = images[i] ?? '';
      expect((await loopDevicesBackedBy(img)).map((l) => l.device)).toEqual([device]);
      expect(existsSync(partitionPath(device, 1))).toBe(true);
      await detachLoopDevice(device, { image: await backingIdentity(img) });
      expect(await loopDevicesBackedBy(img)).toEqual([]);
    }
  });

  it('reports a missing image clearly and attaches nothing', async () => {
    await expect(attachLoopDevice(join(dir, 'missing.img'), { lockDir })).rejects.toThrow('missing.img');
    const backing = (await listLoopDevices()).filter((l) => l.backingFile.startsWith(`${dir}/`));
    expect(backing).toEqual([]);
  });
});
