/**
 * Local builds: a disk image file becomes a block device, as an EBS volume does on EC2.
 * The free loop device is chosen under the host lock so that concurrent builds never race
 * for the same one; partitions are added with partx because the kernel may not scan them.
 */
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { runChecked, runSystemTool } from './system-tool.ts';
import { releaseOnce, type DeviceLease } from './device-lease.ts';
import { withHostLock } from './host-lock.ts';
import { addPartitionNodes, readPartitionTable, removePartitionNodes, type PartitionEntry } from './partitions.ts';
import { isErrno } from './process-identity.ts';

// The engine mounts a partition of what it attached; it finds both here.
export { assertPartitionExists, partitionPath } from './partitions.ts';

export interface LoopDeviceInfo {
  device: string;
  /** Absolute path of the backing file as the kernel recorded it at attach time. */
  backingFile: string;
  /** The backing file was deleted or replaced after it was attached. */
  backingFileDeleted: boolean;
  backingInode: number | undefined;
  /** "major:minor" of the file system holding the backing file. */
  backingDevice: string | undefined;
  readOnly: boolean;
  /** Set by a detach while the device was still open: it goes away on last close. */
  autoclear: boolean;
}

export interface LoopDeviceLease extends DeviceLease {
  readonly image: string;
  /** Partitions found on the image, each now present as a device (loopNpM). */
  readonly partitions: readonly PartitionEntry[];
}

export interface AttachOptions {
  lockDir: string;
  readOnly?: boolean;
}

export interface DetachOptions {
  /** Detach only if the device is still backed by this file (same inode), else do nothing. */
  image?: BackingIdentity;
  /** How long to wait for the kernel to let the device go. */
  timeoutMs?: number;
}

export interface BackingIdentity {
  path: string;
  inode: number;
  device: string;
}

const DELETED_SUFFIX = ' (deleted)';

const LosetupListSchema = z.object({
  loopdevices: z.array(
    z.object({
      name: z.string(),
      'back-file': z.string().nullable(),
      'back-ino': z.number().nullable().optional(),
      'back-maj:min': z.string().nullable().optional(),
      ro: z.boolean().optional(),
      autoclear: z.boolean().optional(),
    }),
  ),
});

/** Attaches an image under the host lock and adds its partitions; release detaches. */
export async function attachLoopDevice(image: string, options: AttachOptions): Promise<LoopDeviceLease> {
  const imagePath = await realpath(image);
  const identity = await backingIdentity(imagePath);
  const args = ['--find', '--show', ...(options.readOnly === true ? ['--read-only'] : []), imagePath];
  const device = await withHostLock(options.lockDir, async () =>
    (await runChecked(`attaching ${imagePath} to a loop device`, 'losetup', args)).trim(),
  );

  try {
    const partitions = (await readPartitionTable(device))?.partitions ?? [];
    if (partitions.length > 0) await addPartitionNodes(device, partitions.map((p) => p.number));
    return {
      device,
      image: imagePath,
      partitions,
      release: releaseOnce(() => detachLoopDevice(device, { image: identity })),
    };
  } catch (err) {
    try {
      await detachLoopDevice(device, { image: identity });
    } catch (detachErr) {
      throw new AggregateError([err, detachErr], `attaching ${imagePath} as ${device} failed, and detaching it failed too`, {
        cause: detachErr,
      });
    }
    throw err;
  }
}

/** attachLoopDevice for callers that record the image and detach by it later. */
export async function attachImage(image: string, options: AttachOptions): Promise<string> {
  return (await attachLoopDevice(image, options)).device;
}

/**
 * Removes the partition devices, detaches, and checks that the device is really free.
 * Detaching a device that is no longer attached (or now backed by another image) is a no-op.
 */
export async function detachLoopDevice(device: string, options: DetachOptions = {}): Promise<void> {
  const name = loopName(device);
  if ((await sysfsBackingFile(name)) === undefined) return;
  if (options.image !== undefined && !(await isBackedBy(device, options.image))) return;

  // losetup --detach of a mounted device "succeeds" by merely flagging it to go away on
  // last close; refusing first keeps the state unchanged and the error clear.
  await assertNotClaimed(device);
  await removePartitionNodes(device);
  const result = await runSystemTool('losetup', ['--detach', device]);
  if (result.exitCode !== 0 && (await sysfsBackingFile(name)) !== undefined) {
    throw new Error(`detaching ${device} failed: ${result.stderr}`);
  }

  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  for (;;) {
    const backing = await sysfsBackingFile(name);
    if (backing === undefined) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `${device} is still attached to ${backing} after losetup --detach: a process still has it open; ` +
          'the kernel detaches it when the last user closes it',
      );
    }
    await sleep(50);
  }
}

/** Every attached loop device with its backing file. */
export async function listLoopDevices(): Promise<LoopDeviceInfo[]> {
  const stdout = await runChecked('listing loop devices', 'losetup', [
    '--json',
    '--list',
    '--output',
    'NAME,BACK-FILE,BACK-INO,BACK-MAJ:MIN,RO,AUTOCLEAR',
  ]);
  if (stdout.trim() === '') return [];
  const infos: LoopDeviceInfo[] = [];
  for (const entry of LosetupListSchema.parse(JSON.parse(stdout)).loopdevices) {
    const file = entry['back-file'];
    if (file === null) continue;
    const deleted = file.endsWith(DELETED_SUFFIX);
    infos.push({
      device: entry.name,
      backingFile: deleted ? file.slice(0, -DELETED_SUFFIX.length) : file,
      backingFileDeleted: deleted,
      backingInode: entry['back-ino'] ?? undefined,
      backingDevice: entry['back-maj:min']?.trim(),
      readOnly: entry.ro ?? false,
      autoclear: entry.autoclear ?? false,
    });
  }
  return infos;
}

/** The loop devices backed by this very file (same inode), whatever path it was attached by. */
export async function loopDevicesBackedBy(image: string): Promise<LoopDeviceInfo[]> {
  const identity = await backingIdentity(image);
  return (await listLoopDevices()).filter((info) => matchesIdentity(info, identity));
}

export async function backingIdentity(image: string): Promise<BackingIdentity> {
  const path = await realpath(image);
  const st = await stat(path, { bigint: true });
  return { path, inode: Number(st.ino), device: majorMinor(st.dev) };
}

async function isBackedBy(device: string, identity: BackingIdentity): Promise<boolean> {
  const info = (await listLoopDevices()).find((i) => i.device === device);
  return info !== undefined && matchesIdentity(info, identity);
}

function matchesIdentity(info: LoopDeviceInfo, identity: BackingIdentity): boolean {
  if (info.backingInode === undefined || info.backingDevice === undefined) return info.backingFile === identity.path;
  return info.backingInode === identity.inode && info.backingDevice === identity.device;
}

/** Linux dev_t encoding, as losetup prints it. */
function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

async function sysfsBackingFile(name: string): Promise<string | undefined> {
  try {
    return (await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')).trim();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** A mounted file system (on the device or any partition) holds an exclusive claim. */
async function assertNotClaimed(device: string): Promise<void> {
  try {
    const handle = await open(device, constants.O_RDONLY | constants.O_EXCL);
    await handle.close();
  } catch (err) {
    if (isErrno(err, 'EBUSY')) {
      throw new Error(
        `${device} is in use (a file system on it or on one of its partitions is mounted): unmount it before detaching`,
        { cause: err },
      );
    }
    if (!isErrno(err, 'ENXIO') && !isErrno(err, 'ENOENT')) throw err;
  }
}

function loopName(device: string): string {
  const name = basename(device);
  if (!/^loop\d+$/.test(name)) throw new Error(`${device} is not a loop device`);
  return name;
}
