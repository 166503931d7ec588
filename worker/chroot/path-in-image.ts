/**
 * Resolving a path inside the image the way a process inside the chroot would see it.
 *
 * An image is untrusted input: its /etc may hold a symlink such as `resolv.conf ->
 * /run/...` or, maliciously, `tmp -> /etc`. Joining the mount path and the image path and
 * letting the host follow the links would resolve absolute targets against the host's root,
 * so a copy, an upload or a bind mount could land on the host. Here every link is followed
 * relative to the chroot, and `..` never climbs above it (the semantics of openat2's
 * RESOLVE_IN_ROOT, which Node does not expose).
 */
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';

const MAX_LINKS = 40; // the kernel's own limit (ELOOP)

/**
 * The host path of `imagePath` inside the chroot at `root`. Every directory on the way is
 * resolved; the last component is resolved too unless `followFinal` is false (when the
 * caller wants to act on a link itself, e.g. to set it aside). Missing components are
 * allowed: the result is where they would be created.
 */
export async function resolveInImage(root: string, imagePath: string, followFinal = true): Promise<string> {
  const pending = posix.normalize('/' + imagePath).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    const isFinal = pending.length === 0;
    let target: string | undefined;
    try {
      const stats = await lstat(candidate);
      if (stats.isSymbolicLink() && (!isFinal || followFinal)) target = await readlink(candidate);
    } catch {
      // does not exist (yet): the rest is taken literally
    }
    if (target === undefined) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`too many levels of symbolic links resolving ${imagePath} in the image`);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter(Boolean));
  }
  return join(root, ...resolved);
}
