/**
 * Writing a file into the image that must be gone at the end: whatever the image had at
 * that path (a file, or a symlink such as a systemd resolv.conf) is renamed aside, not
 * overwritten, and renamed back at clean-up, so the image keeps it bit for bit.
 */
import { lstat, rename } from 'node:fs/promises';
import { resolveInImage } from './path-in-image.ts';
import type { BuildContext } from './build-context.ts';

const SAVED_SUFFIX = '.ami-factory-saved';

/** Makes `imagePath` free to be written; returns its host path. */
export async function setAside(context: BuildContext, mountPath: string, imagePath: string): Promise<string> {
  // The final component is not followed: a symlink is moved aside, not its target.
  const hostPath = await resolveInImage(mountPath, imagePath, false);
  let existing = true;
  try {
    await lstat(hostPath);
  } catch {
    existing = false;
  }
  const savedAs = existing ? hostPath + SAVED_SUFFIX : null;
  await context.journal.record({ kind: 'restore-path', path: hostPath, savedAs });
  if (savedAs) await rename(hostPath, savedAs);
  return hostPath;
}
