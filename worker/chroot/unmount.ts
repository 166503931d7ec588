/**
 * Unmounting without ever falling back to a lazy unmount: a lazily detached file system
 * may still be written to after we report it clean, and a half-written volume must never
 * be snapshotted. Busy means an error that names the holders.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runSystemTool } from '../devices/system-tool.ts';
import { describeHolds, endProcessesInChroot, processesHolding } from './chroot-processes.ts';
import { mountsAtOrUnder } from './mount-table.ts';

export class MountBusyError extends Error {
  override name = 'MountBusyError';
}

/**
 * Unmounts `mountPoint` and anything mounted below it (deepest first: a provisioner may
 * have mounted things of its own). Already unmounted is success. A busy mount gets the
 * processes inside `chrootPath` ended, then a few retries, then an error naming who holds it.
 */
export async function unmountTree(mountPoint: string, chrootPath: string): Promise<void> {
  const mounts = (await mountsAtOrUnder(mountPoint)).map((m) => m.mountPoint);
  if (mounts.length === 0) return;
  // One umount for the whole tree, in order: a chroot has half a dozen mounts, and each
  // process spawned from Node costs more than the unmount itself.
  if ((await runSystemTool('umount', mounts)).exitCode === 0) return;
  for (const mount of await mountsAtOrUnder(mountPoint)) {
    if ((await runSystemTool('umount', [mount.mountPoint])).exitCode !== 0) {
      await unmountBusy(mount.mountPoint, chrootPath);
    }
  }
}

async function unmountBusy(mountPoint: string, chrootPath: string): Promise<void> {
  await endProcessesInChroot(chrootPath);
  // A process that just received SIGKILL may still hold the mount for a moment.
  const attempts = 5;
  for (let attempt = 1; ; attempt++) {
    const result = await runSystemTool('umount', [mountPoint]);
    if (result.exitCode === 0) return;
    const stillMounted = (await mountsAtOrUnder(mountPoint)).some((m) => m.mountPoint === mountPoint);
    if (!stillMounted) return;
    if (attempt >= attempts) {
      const holders = await processesHolding(mountPoint);
      const held = holders.length > 0 ? `; held by ${describeHolds(holders)}` : '';
      throw new MountBusyError(`cannot unmount ${mountPoint}: ${result.stderr}${held}`);
    }
    await sleep(100 * attempt);
  }
}
