/** Carrying out one undo record; shared by normal clean-up and by crash recovery. */
import { lstat, rename, rm, rmdir } from 'node:fs/promises';
import { detachLoopDevice, listLoopDevices, loopDevicesBackedBy } from '../devices/loop-device.ts';
import { endProcessesInChroot } from './chroot-processes.ts';
import type { UndoJournal } from './journal.ts';
import { describeUndo, type UndoAction } from './undo-actions.ts';
import { unmountTree } from './unmount.ts';
import { killCgroup, removeCgroup } from '../sandbox/cgroup.ts';
import { removeSandboxNetwork } from '../sandbox/network.ts';

const exists = async (path: string): Promise<boolean> => {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
};

export async function undo(action: UndoAction): Promise<void> {
  switch (action.kind) {
    case 'detach-image': {
      let loops;
      try {
        loops = await loopDevicesBackedBy(action.imagePath);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // The image file was deleted while attached: the kernel still names its old path.
        loops = (await listLoopDevices()).filter((l) => l.backingFileDeleted && l.backingFile === action.imagePath);
      }
      for (const loop of loops) await detachLoopDevice(loop.device);
      return;
    }
    case 'unmount':
      if (action.cgroupDirs) await killCgroup(action.cgroupDirs);
      return unmountTree(action.mountPoint, action.chrootPath);
    case 'remove-dir':
      try {
        await rmdir(action.path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      return;
    case 'restore-path':
      if (action.savedAs === null) {
        await rm(action.path, { recursive: true, force: true });
      } else if (await exists(action.savedAs)) {
        // Only while the original is still set aside: if it is already back, the path
        // holds the image's own file again and must not be touched.
        await rm(action.path, { recursive: true, force: true });
        await rename(action.savedAs, action.path);
      }
      return;
    case 'end-chroot-processes':
      await endProcessesInChroot(action.chrootPath);
      return;
    case 'remove-sandbox': {
      const { network } = action;
      const removed = await Promise.allSettled([removeCgroup(action.cgroupDirs), network ? removeSandboxNetwork(network) : undefined]);
      const failed = removed.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
      if (failed.length > 0) throw new Error(failed.join('; '));
      return;
    }
  }
}

export interface UnwindFailure {
  action: string;
  error: string;
}

/**
 * Undoes everything the journal holds, newest first. A failed undo does not stop the
 * others (a stuck mount should not also leak the volume's loop device); it stays in the
 * journal for the next recovery and is returned.
 */
export async function unwind(journal: UndoJournal, onAction?: (description: string) => void): Promise<UnwindFailure[]> {
  const failures: UnwindFailure[] = [];
  for (const action of journal.pending) {
    onAction?.(describeUndo(action));
    try {
      await undo(action);
      await journal.settle(action);
    } catch (error) {
      failures.push({ action: describeUndo(action), error: error instanceof Error ? error.message : String(error) });
    }
  }
  if (failures.length === 0) await journal.close();
  return failures;
}
