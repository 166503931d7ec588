/** Where the local factory finds the project's own files and keeps its working state. */
import { join, resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..');
/** Everything the project makes on this machine (git-ignored): tools, images, caches. */
export const cacheDir = join(repoRoot, '.cache');
