/**
 * Partitions of a block device: Linux naming, the table on disk (sfdisk) and what the
 * kernel knows (sysfs). Kernels without partition-table parsers never create partition
 * devices on their own, so loop devices get theirs added and removed explicitly with partx.
 */
import { readFile, readdir, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { runSystemTool } from './system-tool.ts';
import { isErrno } from './process-identity.ts';
import { exists } from './fs-probe.ts';

export interface PartitionEntry {
  number: number;
  /** In sectors of the table's sector size. */
  start: number;
  size: number;
  type: string;
}

export interface PartitionTable {
  label: string;
  sectorSize: number;
  partitions: PartitionEntry[];
}

export class PartitionNotFoundError extends Error {
  readonly device: string;
  readonly partition: number;

  constructor(device: string, partition: number, message: string) {
    super(message);
    this.name = 'PartitionNotFoundError';
    this.device = device;
    this.partition = partition;
  }
}

/**
 * The device node of partition n; 0 means the whole device. A name ending in a digit gets
 * a "p" separator (loop3p1, nvme1n1p1), any other gets the number appended (xvdf1).
 */
export function partitionPath(device: string, partition: number): string {
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw new Error(`invalid partition number ${String(partition)} for ${device}: expected 0 (the whole device) or 1, 2, ...`);
  }
  if (partition === 0) return device;
  return /\d$/.test(device) ? `${device}p${partition}` : `${device}${partition}`;
}

const SfdiskSchema = z.object({
  partitiontable: z.object({
    label: z.string(),
    sectorsize: z.number().int().positive().optional(),
    partitions: z
      .array(z.object({ node: z.string(), start: z.number(), size: z.number(), type: z.string() }))
      .optional(),
  }),
});

/** The partition table of a device or image file; undefined when it has none. */
export async function readPartitionTable(deviceOrImage: string): Promise<PartitionTable | undefined> {
  const result = await runSystemTool('sfdisk', ['--json', deviceOrImage]);
  if (result.exitCode !== 0) {
    if (/does not contain a recognized partition table/i.test(result.stderr)) return undefined;
    throw new Error(`reading the partition table of ${deviceOrImage} failed: ${result.stderr}`);
  }
  // sfdisk prints nothing at all for an empty device.
  if (result.stdout.trim() === '') return undefined;
  const { partitiontable: table } = SfdiskSchema.parse(JSON.parse(result.stdout));
  return {
    label: table.label,
    sectorSize: table.sectorsize ?? 512,
    partitions: (table.partitions ?? []).map((p) => ({
      number: partitionNumberOfNode(p.node),
      start: p.start,
      size: p.size,
      type: p.type,
    })),
  };
}

/** The partition numbers the kernel has for a device, ascending. */
export async function listKernelPartitions(device: string, sysRoot = '/sys'): Promise<number[]> {
  const name = basename(await realpath(device));
  const dir = join(sysRoot, 'class', 'block', name);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const numbers: number[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(name)) continue;
    try {
      numbers.push(Number((await readFile(join(dir, entry, 'partition'), 'utf8')).trim()));
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
  }
  return numbers.sort((a, b) => a - b);
}

export interface AssertPartitionOptions {
  sysRoot?: string;
  /** Partition nodes can appear a moment after the disk; how long to give them. */
  waitMs?: number;
}

/** Returns the node of partition n of device (0: the device itself) or throws a clear error. */
export async function assertPartitionExists(
  device: string,
  partition: number,
  options: AssertPartitionOptions = {},
): Promise<string> {
  const path = partitionPath(device, partition);
  if (!(await exists(device))) throw new PartitionNotFoundError(device, partition, `device ${device} does not exist`);
  if (partition === 0) return device;

  const deadline = Date.now() + (options.waitMs ?? 2_000);
  for (;;) {
    const known = await listKernelPartitions(device, options.sysRoot);
    if (known.includes(partition) && (await exists(path))) return path;
    if (Date.now() >= deadline) {
      const message = known.includes(partition)
        ? `partition ${partition} of ${device} is known to the kernel but its node ${path} does not exist`
        : `partition ${partition} of ${device} does not exist (${describeCount(known.length)})`;
      throw new PartitionNotFoundError(device, partition, message);
    }
    await sleep(100);
  }
}

/** Makes the kernel create partition devices for partitions listed on disk. */
export async function addPartitionNodes(device: string, expected: readonly number[]): Promise<void> {
  const result = await runSystemTool('partx', ['--add', device]);
  // partx fails for partitions the kernel already has (a kernel that scans tables itself):
  // what counts is that every expected partition exists afterwards.
  const missing = await waitForPartitions(device, (known) => expected.filter((n) => !known.includes(n)));
  if (missing.length > 0) {
    const detail = result.exitCode === 0 ? '' : `: ${result.stderr}`;
    throw new Error(`partition ${missing.join(', ')} of ${device} did not appear after partx --add${detail}`);
  }
}

/** Removes every partition device of a device; fails while a partition is in use. */
export async function removePartitionNodes(device: string): Promise<void> {
  if ((await listKernelPartitions(device)).length === 0) return;
  const result = await runSystemTool('partx', ['--delete', device]);
  const left = await waitForPartitions(device, (known) => known);
  if (left.length > 0) {
    throw new Error(
      `partition ${left.join(', ')} of ${device} could not be removed (mounted or otherwise in use?): ${result.stderr}`,
    );
  }
}

/** Polls briefly until problems(known partitions) is empty; returns the last problems. */
async function waitForPartitions(device: string, problems: (known: number[]) => number[]): Promise<number[]> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const left = problems(await listKernelPartitions(device));
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(50);
  }
}

function partitionNumberOfNode(node: string): number {
  const match = /(\d+)$/.exec(node);
  if (match?.[1] === undefined) throw new Error(`sfdisk listed a partition node without a number: ${node}`);
  return Number(match[1]);
}

function describeCount(count: number): string {
  if (count === 0) return 'the device has no partitions; partition 0 is the whole device';
  return `the device has ${count} partition${count === 1 ? '' : 's'}`;
}

