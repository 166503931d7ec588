/**
 * Absolute paths that the build host joins to the chroot's mount point: a ".." segment
 * would reach outside the image being built, into the host itself.
 */
import { string } from './coerce.ts';

export function isContainedAbsolutePath(path: string): boolean {
  return path.startsWith('/') && !path.split('/').includes('..');
}

export const containedAbsolutePath = (what: string) =>
  string().refine(isContainedAbsolutePath, `${what} must be an absolute path without ".." segments`);
