/**
 * Unmounting without ever falling back to a lazy unmount: a lazily detached file system
 * may still be written to after we report it clean, and a half-written volume must never
 * be snapshotted. Busy means an error that names the holders.
 */
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeHolds, endProcessesInChroot, processesHolding } from './chroot-processes.ts';
import { mountsAtOrUnder } from './mount-table.ts';

export class MountBusyError extends Error {
  override name = 'MountBusyError';
}

/**
 * Unmounts `mountPoint` and anything mounted below it (deepest first: a provisioner may
 * have mounted things of its own), after ending the processes inside `chrootPath`.
 * Already unmounted is success.
 */
export async function unmountTree(mountPoint: string, chrootPath: string): Promise<void> {
  await endProcessesInChroot(chrootPath);
  for (const mount of await mountsAtOrUnder(mountPoint)) {
    await unmountOne(mount.mountPoint);
  }
}

async function unmountOne(mountPoint: string): Promise<void> {
  // A process that just received SIGKILL may still hold the mount for a moment.
  const attempts = 5;
  for (let attempt = 1; ; attempt++) {
    const result = await execa('umount', [mountPoint], { reject: false });
    if (result.exitCode === 0) return;
    const stillMounted = (await mountsAtOrUnder(mountPoint)).some((m) => m.mountPoint === mountPoint);
    if (!stillMounted) return;
    if (attempt >= attempts) {
      const holders = await processesHolding(mountPoint);
      const held = holders.length > 0 ? `; held by ${describeHolds(holders)}` : '';
      throw new MountBusyError(`cannot unmount ${mountPoint}: ${String(result.stderr).trim()}${held}`);
    }
    await sleep(100 * attempt);
  }
}
