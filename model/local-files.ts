/**
 * Local files a request names (shell scripts, file sources). Relative paths resolve against
 * the template file's directory, not the working directory as in Packer: a template then
 * means the same thing whichever directory the CLI runs from, and the request carries
 * absolute paths that stay right wherever it travels next.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';

export type LocalFileKind = 'file' | 'file or directory';

export type ResolvedLocalFile = { ok: true; path: string } | { ok: false; message: string };

export function resolveLocalFile(path: string, templateDir: string, kind: LocalFileKind): ResolvedLocalFile {
  const target = resolve(templateDir, path);
  // resolve() drops a trailing "/", which means "copy the directory's contents" for file sources.
  const slash = path.endsWith('/') && target !== '/';
  let isDirectory: boolean;
  try {
    isDirectory = statSync(target).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, message: `no such ${kind}: ${target}` };
    return { ok: false, message: `cannot read ${target}: ${(error as Error).message}` };
  }
  if (isDirectory && kind === 'file') return { ok: false, message: `is a directory, not a file: ${target}` };
  if (!isDirectory && slash) return { ok: false, message: `is a file, not a directory (remove the trailing "/"): ${target}` };
  try {
    // A directory must also be searchable for its files to be read.
    accessSync(target, isDirectory ? constants.R_OK | constants.X_OK : constants.R_OK);
  } catch {
    return { ok: false, message: `not readable: ${target}` };
  }
  return { ok: true, path: slash ? `${target}/` : target };
}
