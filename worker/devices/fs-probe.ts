/** Asking the file system whether something is there, where "no" is an answer, not an error. */
import { access, readFile } from 'node:fs/promises';
import { isErrno } from './process-identity.ts';

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** The file's text, or undefined when it (or a directory on its path) is not there. */
export async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}
