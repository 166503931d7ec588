/**
 * Runs a system tool that reads its work on stdin (`ip -batch -`, `nft -f -`): one process
 * for a whole list of changes, which keeps a build's network set-up to a few milliseconds.
 */
import { execFile } from 'node:child_process';

export function runWithInput(file: string, args: readonly string[], input: string): Promise<{ exitCode: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, (error, _stdout, stderr) => {
      const code = (error as (NodeJS.ErrnoException & { code?: unknown }) | null)?.code;
      if (error && typeof code !== 'number') {
        reject(new Error(`${file} could not be run: ${error.message}`));
        return;
      }
      resolve({ exitCode: typeof code === 'number' ? code : 0, stderr: stderr.trim() });
    });
    child.stdin?.end(input);
  });
}

export async function runCheckedWithInput(what: string, file: string, args: readonly string[], input: string): Promise<void> {
  const result = await runWithInput(file, args, input);
  if (result.exitCode !== 0) throw new Error(`${what} failed: ${[file, ...args].join(' ')} exited with ${result.exitCode}: ${result.stderr}`);
}
