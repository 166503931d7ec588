/**
 * Picking and leasing the device name a build attaches its EBS volume under. The host lock
 * is held only while choosing and claiming; from then on the build's device lease keeps
 * other builds off the name, so attaching and waiting for EC2 happen outside the host lock
 * and builds on one host proceed in parallel.
 */
import { readdir } from 'node:fs/promises';
import { canonicalDeviceName, pickFreeDeviceName, type Ec2Attachment } from './ec2-device-names.ts';
import { deviceOfLockName, lockDevice } from './device-lock.ts';
import { withHostLock } from './host-lock.ts';
import { listLocks, LockBusyError } from './owned-lock.ts';

export interface Ec2DeviceNameLease {
  /** The name to give AttachVolume, e.g. /dev/sdf; the local device is found afterwards (nvme.ts). */
  readonly deviceName: string;
  /** Idempotent. */
  release(): Promise<void>;
}

export interface AllocateEc2DeviceOptions {
  lockDir: string;
  devRoot?: string;
  /** The instance's block-device mappings as EC2 currently reports them. */
  listAttachments: () => Promise<readonly Ec2Attachment[]>;
  candidates?: readonly string[];
}

export async function allocateEc2Device(options: AllocateEc2DeviceOptions): Promise<Ec2DeviceNameLease> {
  // Asked before taking the host lock, so an EC2 API call never holds up other builds. A
  // name attached since then belongs to a build that holds its lease, which is checked
  // under the lock.
  const attachments = await options.listAttachments();
  return withHostLock(options.lockDir, async () => {
    const [localNodes, leased] = await Promise.all([
      readdir(options.devRoot ?? '/dev'),
      leasedDeviceNames(options.lockDir),
    ]);
    for (;;) {
      const deviceName = pickFreeDeviceName({ localNodes, attachments, leased, candidates: options.candidates });
      try {
        const lease = await lockDevice(options.lockDir, canonicalDeviceName(deviceName));
        return { deviceName, release: () => lease.release() };
      } catch (err) {
        // Someone leased it without the host lock (a build given an explicit device_path).
        if (!(err instanceof LockBusyError)) throw err;
        leased.push(deviceName);
      }
    }
  });
}

/** Names leased by live builds; a dead build's lease is taken over when its name is picked. */
async function leasedDeviceNames(lockDir: string): Promise<string[]> {
  const names: string[] = [];
  for (const lock of await listLocks(lockDir)) {
    const device = deviceOfLockName(lock.name);
    if (device !== undefined && !lock.abandoned) names.push(device);
  }
  return names;
}
