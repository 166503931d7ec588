/**
 * The local block device of an EBS volume that EC2 reports as attached.
 *
 * On Nitro hosts volumes are NVMe namespaces named in discovery order (nvme1n1, nvme2n1),
 * not after the requested device name, and parallel attaches make that order unpredictable.
 * What identifies a volume is its NVMe controller's serial number: the volume id without
 * its dash. On Xen hosts the device carries the requested name, or its xvd spelling.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { driveLetter } from './ec2-device-names.ts';
import { isErrno } from './process-identity.ts';
import { exists, readOrUndefined } from './fs-probe.ts';

export interface ResolveAttachedDeviceOptions {
  volumeId: string;
  /** The name given to AttachVolume; used on Xen hosts. */
  deviceName?: string;
  sysRoot?: string;
  devRoot?: string;
}

export interface WaitForAttachedDeviceOptions extends ResolveAttachedDeviceOptions {
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

export class AttachedDeviceNotFoundError extends Error {
  readonly volumeId: string;

  constructor(volumeId: string, message: string) {
    super(message);
    this.name = 'AttachedDeviceNotFoundError';
    this.volumeId = volumeId;
  }
}

const BY_ID_PREFIX = 'nvme-Amazon_Elastic_Block_Store_';

/** "vol-0abc" -> "vol0abc", the serial number of the volume's NVMe controller. */
export function nvmeSerialOfVolume(volumeId: string): string {
  if (!/^vol-?[0-9a-f]+$/.test(volumeId)) throw new Error(`${volumeId} is not an EBS volume id`);
  return volumeId.replace('-', '');
}

/** The device node, or undefined while the volume is not (yet) visible on this host. */
export async function findAttachedDevice(options: ResolveAttachedDeviceOptions): Promise<string | undefined> {
  const serial = nvmeSerialOfVolume(options.volumeId);
  const sysRoot = options.sysRoot ?? '/sys';
  const devRoot = options.devRoot ?? '/dev';
  const nvme = await byControllerSerial(serial, sysRoot, devRoot);
  // A matching controller settles it, even while its namespace node is still missing: any
  // node found by name could then only be another volume's.
  if (nvme !== undefined) return nvme.device;
  return (
    (await byIdLink(serial, devRoot)) ??
    (options.deviceName === undefined ? undefined : await byRequestedName(options.deviceName, devRoot))
  );
}

export async function resolveAttachedDevice(options: ResolveAttachedDeviceOptions): Promise<string> {
  const device = await findAttachedDevice(options);
  if (device === undefined) throw notFound(options, '');
  return device;
}

/** Polls: the node appears a moment after EC2 reports the attachment. */
export async function waitForAttachedDevice(options: WaitForAttachedDeviceOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const device = await findAttachedDevice(options);
    if (device !== undefined) return device;
    if (Date.now() >= deadline) throw notFound(options, ` after waiting ${timeoutMs / 1000} s`);
    await sleep(options.intervalMs ?? 250, undefined, { signal: options.signal });
  }
}

async function byControllerSerial(
  serial: string,
  sysRoot: string,
  devRoot: string,
): Promise<{ device: string | undefined } | undefined> {
  const classDir = join(sysRoot, 'class', 'nvme');
  for (const controller of await readdirOrEmpty(classDir)) {
    const found = (await readOrUndefined(join(classDir, controller, 'serial')))?.trim();
    if (found?.replace('-', '') !== serial) continue;
    const namespaces = (await readdirOrEmpty(join(classDir, controller)))
      .map(blockDeviceOfNamespace)
      .filter((name): name is string => name !== undefined)
      .sort(byNamespaceNumber);
    for (const name of namespaces) {
      const device = join(devRoot, name);
      if (await exists(device)) return { device };
    }
    return { device: undefined };
  }
  return undefined;
}

/**
 * nvme1n1 as is; with native multipath the controller lists its path (nvme1c1n1) while the
 * block device is the subsystem's head, nvme1n1.
 */
function blockDeviceOfNamespace(entry: string): string | undefined {
  const match = /^nvme(\d+)(?:c\d+)?n(\d+)$/.exec(entry);
  return match === null ? undefined : `nvme${match[1] ?? ''}n${match[2] ?? ''}`;
}

function byNamespaceNumber(a: string, b: string): number {
  const ns = (name: string): number => Number(/n(\d+)$/.exec(name)?.[1]);
  return ns(a) - ns(b);
}

async function byIdLink(serial: string, devRoot: string): Promise<string | undefined> {
  const dir = join(devRoot, 'disk', 'by-id');
  const links = (await readdirOrEmpty(dir)).filter(
    (name) => name.startsWith(`${BY_ID_PREFIX}${serial}`) && !/-part\d+$/.test(name),
  );
  for (const link of links.sort()) {
    const target = await resolveLink(join(dir, link));
    if (target !== undefined && (await exists(target))) return target;
  }
  return undefined;
}

async function byRequestedName(deviceName: string, devRoot: string): Promise<string | undefined> {
  const letter = driveLetter(deviceName);
  const names = letter === undefined ? [basename(deviceName)] : [`sd${letter}`, `xvd${letter}`];
  for (const name of names) {
    const path = join(devRoot, name);
    let isLink: boolean;
    try {
      isLink = (await lstat(path)).isSymbolicLink();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    if (!isLink) return path;
    const target = await resolveLink(path);
    // Distribution udev rules link sdf to its NVMe device; such a link may be stale, and
    // on an NVMe host the serial number above is the only trustworthy identity.
    if (target === undefined || basename(target).startsWith('nvme')) continue;
    if (await exists(target)) return target;
  }
  return undefined;
}

function notFound(options: ResolveAttachedDeviceOptions, after: string): AttachedDeviceNotFoundError {
  const serial = nvmeSerialOfVolume(options.volumeId);
  const sysRoot = options.sysRoot ?? '/sys';
  const devRoot = options.devRoot ?? '/dev';
  const letter = options.deviceName === undefined ? undefined : driveLetter(options.deviceName);
  const byName =
    options.deviceName === undefined
      ? ''
      : letter === undefined
        ? `, and ${join(devRoot, basename(options.deviceName))} does not exist`
        : `, and neither ${join(devRoot, `sd${letter}`)} nor ${join(devRoot, `xvd${letter}`)} exists`;
  return new AttachedDeviceNotFoundError(
    options.volumeId,
    `EBS volume ${options.volumeId} is not visible on this host${after}: no NVMe controller with serial ` +
      `${serial} under ${join(sysRoot, 'class', 'nvme')} with a device in ${devRoot}, ` +
      `no ${join(devRoot, 'disk', 'by-id', BY_ID_PREFIX + serial)} link${byName}`,
  );
}

async function resolveLink(path: string): Promise<string | undefined> {
  try {
    return resolve(dirname(path), await readlink(path));
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'EINVAL')) return undefined;
    throw err;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
}


