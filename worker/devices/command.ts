/**
 * Running the block-device tools (losetup, partx, sfdisk). Their exit codes are part of
 * normal control flow here ("no partition table", "already detached"), so a non-zero exit
 * is returned, not thrown; only a tool that cannot be started at all throws.
 */
import { execa } from 'execa';

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const PACKAGE_OF: Record<string, string> = { sfdisk: 'fdisk', losetup: 'mount', partx: 'util-linux' };

export async function runCommand(file: string, args: readonly string[]): Promise<CommandResult> {
  const result = await execa(file, args, { reject: false, stdin: 'ignore' });
  if (result.exitCode === undefined) {
    const pkg = PACKAGE_OF[file];
    const hint = pkg === undefined ? '' : ` (Debian package ${pkg})`;
    throw new Error(`${file}${hint} could not be run: ${result.shortMessage}`);
  }
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr.trim() };
}

/** Throws, naming the purpose, the command and its stderr, unless the command succeeds. */
export async function runChecked(what: string, file: string, args: readonly string[]): Promise<string> {
  const result = await runCommand(file, args);
  if (result.exitCode !== 0) {
    throw new Error(`${what} failed: ${[file, ...args].join(' ')} exited with ${result.exitCode}: ${result.stderr}`);
  }
  return result.stdout;
}
