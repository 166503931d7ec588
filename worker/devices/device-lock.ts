/**
 * Device leases: one lock per device name, held for a whole build, so that no two builds on
 * a host are given the same device.
 */
import { basename } from 'node:path';
import { acquireLock, type AcquireOptions, type HeldLock } from './owned-lock.ts';

const DEVICE_PREFIX = 'device-';

export interface DeviceLock extends HeldLock {
  readonly deviceName: string;
}

/**
 * A lease on one device name for a whole build. Fails at once with LockBusyError when a live
 * build holds it (unless waitMs is given); a dead holder's lease is taken over. Names are
 * taken literally: callers that have aliases (sdf/xvdf) lock one canonical spelling.
 */
export async function lockDevice(
  lockDir: string,
  deviceName: string,
  options: AcquireOptions = {},
): Promise<DeviceLock> {
  const lock = await acquireLock(lockDir, deviceLockName(deviceName), {
    purpose: `build using ${deviceName}`,
    ...options,
  });
  return Object.assign(lock, { deviceName });
}

export function deviceLockName(deviceName: string): string {
  return `${DEVICE_PREFIX}${basename(deviceName)}`;
}

/** The device base name ("sdf") a device lease is for, or undefined for other locks. */
export function deviceOfLockName(lockName: string): string | undefined {
  return lockName.startsWith(DEVICE_PREFIX) ? lockName.slice(DEVICE_PREFIX.length) : undefined;
}

