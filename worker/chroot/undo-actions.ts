/**
 * The ways a build changes a host or an image, each written down (in the journal) before
 * the change is made, so that the same code undoes it whether the build ends normally,
 * fails, or was killed and is being recovered by the next run. Every undo is idempotent:
 * it may run for a change that was recorded but never happened.
 */
export type UndoAction =
  /** Loop devices over this image file (the device is unknown until losetup answers). */
  | { kind: 'detach-image'; imagePath: string }
  /**
   * A mount of ours; ending processes rooted in `chrootPath` first, and everything in the
   * build's sandbox cgroup (its mount namespace holds the volume too).
   */
  | { kind: 'unmount'; mountPoint: string; chrootPath: string; cgroupDirs?: string[] }
  /** A directory we created (the mount path); removed only if empty. */
  | { kind: 'remove-dir'; path: string }
  /**
   * A path in the image that we wrote. `savedAs` holds what the image had there before,
   * renamed aside (inode, mode, owner, symlink and all), or null if nothing was there.
   */
  | { kind: 'restore-path'; path: string; savedAs: string | null }
  /** Processes left inside the chroot (they would hold the mounts). */
  | { kind: 'end-chroot-processes'; chrootPath: string }
  /**
   * The build's sandbox: its cgroup (one directory per v1 hierarchy; its processes are ended
   * first) and, unless it had none, its network (namespace, host end of the veth pair,
   * nftables table). One record, written before either is made, so both go in parallel.
   */
  | { kind: 'remove-sandbox'; cgroupDirs: string[]; network: { netns: string; hostVeth: string; table: string } | null };

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
    case 'remove-sandbox': {
      const { network } = action;
      const cgroup = `end processes in and remove cgroup ${action.cgroupDirs[0] ?? ''}`;
      return network ? `${cgroup}; remove network ${network.netns} (${network.hostVeth}, table ${network.table})` : cgroup;
    }
  }
}
