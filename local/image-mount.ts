/**
 * Opens a disk image read-only, independently of the engine, to look at what a build left
 * in it: `mount -o ro,loop,offset=N` (the kernel here does not read partition tables, so
 * the first partition's offset comes from sfdisk). The loop device goes with the unmount.
 */
import { execa } from 'execa';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function firstPartitionOffset(imagePath: string): Promise<number> {
  const result = await execa('sfdisk', ['--json', imagePath], { reject: false });
  if (result.exitCode !== 0) return 0; // no partition table: a bare file system
  const table = JSON.parse(result.stdout) as { partitiontable: { sectorsize?: number; partitions: { start: number }[] } };
  const first = table.partitiontable.partitions[0];
  return first ? first.start * (table.partitiontable.sectorsize ?? 512) : 0;
}

export async function withImageMounted<T>(imagePath: string, inspect: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'ami-factory-inspect-'));
  const offset = await firstPartitionOffset(imagePath);
  await execa('mount', ['-o', `ro,loop,offset=${offset}`, imagePath, root]);
  try {
    return await inspect(root);
  } finally {
    await execa('umount', [root]);
    await rmdir(root);
  }
}
