/**
 * The kernel's view of what is mounted, read from /proc/self/mountinfo (which, unlike
 * /proc/mounts, lists every mount in order of creation and escapes odd characters).
 */
import { readFile } from 'node:fs/promises';
import { sep } from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
const unescape = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

export async function readMountTable(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [before, after] = line.split(' - ');
    const fields = before?.split(' ') ?? [];
    const [fsType, source] = after?.split(' ') ?? [];
    const mountPoint = fields[4];
    if (mountPoint === undefined || fsType === undefined || source === undefined) continue;
    entries.push({ mountPoint: unescape(mountPoint), fsType, source: unescape(source) });
  }
  return entries;
}

export const isAtOrUnder = (path: string, root: string): boolean =>
  path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);

/** Mounts at or below `root`, deepest (most recently stacked) first: the unmount order. */
export async function mountsAtOrUnder(root: string): Promise<MountEntry[]> {
  return (await readMountTable()).filter((m) => isAtOrUnder(m.mountPoint, root)).reverse();
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await readMountTable()).some((m) => m.mountPoint === path);
}
