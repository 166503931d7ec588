/**
 * The ways a build changes a host or an image, each written down (in the journal) before
 * the change is made, so that the same code undoes it whether the build ends normally,
 * fails, or was killed and is being recovered by the next run. Every undo is idempotent:
 * it may run for a change that was recorded but never happened.
 */
export type UndoAction =
  /** Loop devices over this image file (the device is unknown until losetup answers). */
  | { kind: 'detach-image'; imagePath: string }
  /** A mount of ours; ending processes rooted in `chrootPath` first. */
  | { kind: 'unmount'; mountPoint: string; chrootPath: string }
  /** A directory we created (the mount path); removed only if empty. */
  | { kind: 'remove-dir'; path: string }
  /**
   * A path in the image that we wrote. `savedAs` holds what the image had there before,
   * renamed aside (inode, mode, owner, symlink and all), or null if nothing was there.
   */
  | { kind: 'restore-path'; path: string; savedAs: string | null }
  /** Processes left inside the chroot (they would hold the mounts). */
  | { kind: 'end-chroot-processes'; chrootPath: string };

export function describeUndo(action: UndoAction): string {
  switch (action.kind) {
    case 'detach-image':
      return `detach loop devices of ${action.imagePath}`;
    case 'unmount':
      return `unmount ${action.mountPoint}`;
    case 'remove-dir':
      return `remove directory ${action.path}`;
    case 'restore-path':
      return action.savedAs ? `restore ${action.path}` : `remove ${action.path}`;
    case 'end-chroot-processes':
      return `end processes in ${action.chrootPath}`;
  }
}
