import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assertPartitionExists,
  listKernelPartitions,
  PartitionNotFoundError,
  partitionPath,
} from '../../../worker/devices/partitions.ts';
import { buildTree } from './fixtures/fake-tree.ts';

describe('partitionPath', () => {
  it('puts a p between a name ending in a digit and the number', () => {
    expect(partitionPath('/dev/loop3', 1)).toBe('/dev/loop3p1');
    expect(partitionPath('/dev/nvme1n1', 2)).toBe('/dev/nvme1n1p2');
  });

  it('appends the number to other names', () => {
    expect(partitionPath('/dev/xvdf', 1)).toBe('/dev/xvdf1');
    expect(partitionPath('/dev/sdf', 15)).toBe('/dev/sdf15');
  });

  it('means the whole device by 0 and rejects anything but a whole number', () => {
    expect(partitionPath('/dev/loop3', 0)).toBe('/dev/loop3');
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(() => partitionPath('/dev/loop3', bad)).toThrow('invalid partition number');
    }
  });
});

describe('assertPartitionExists on a fake NVMe disk', () => {
  let root: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'partitions-'));
    await buildTree(root, {
      'dev/nvme1n1': '',
      'dev/nvme1n1p1': '',
      'sys/class/block/nvme1n1/size': '16777216\n',
      'sys/class/block/nvme1n1/nvme1n1p1/partition': '1\n',
    });
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const opts = (): { sysRoot: string; waitMs: number } => ({ sysRoot: join(root, 'sys'), waitMs: 0 });

  it('lists the kernel’s partitions and returns an existing one', async () => {
    const disk = join(root, 'dev/nvme1n1');
    expect(await listKernelPartitions(disk, join(root, 'sys'))).toEqual([1]);
    expect(await assertPartitionExists(disk, 1, opts())).toBe(`${disk}p1`);
    expect(await assertPartitionExists(disk, 0, opts())).toBe(disk);
  });

  it('says how many partitions there are when one is missing', async () => {
    const disk = join(root, 'dev/nvme1n1');
    const attempt = assertPartitionExists(disk, 2, opts());
    await expect(attempt).rejects.toBeInstanceOf(PartitionNotFoundError);
    await expect(attempt).rejects.toThrow(`partition 2 of ${disk} does not exist (the device has 1 partition)`);
  });

  it('says when the device itself is missing', async () => {
    await expect(assertPartitionExists(join(root, 'dev/nvme9n1'), 1, opts())).rejects.toThrow(
      `device ${join(root, 'dev/nvme9n1')} does not exist`,
    );
  });
});
