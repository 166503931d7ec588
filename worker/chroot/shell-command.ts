/**
 * Runs a host shell command (a pre/post mount command, or a provisioner's chroot command
 * after command_wrapper) and streams its output line by line into the build log.
 */
import { execa } from 'execa';
import type { BuildLog } from './build-log.ts';

export interface ShellCommandOutcome {
  exitCode: number;
  /** Set when the command was killed: by a signal, or because it timed out. */
  signal?: string;
  timedOut: boolean;
}

export interface ShellCommandOptions {
  log: BuildLog;
  /** Tag for each output line: `pre_mount_commands[0]`, `provisioners[2] shell`. */
  source: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Kills the command (SIGTERM) when aborted. */
  signal?: AbortSignal;
  /**
   * Called as soon as the command's own process exits, before its output is drained.
   * Processes it left in the background still hold the output pipes; this is where they
   * are ended, or the command would never be seen to finish.
   */
  onExit?: () => Promise<unknown>;
}

const MINIMAL_ENVIRONMENT = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LANG: 'C.UTF-8',
};

export async function runShellCommand(command: string, options: ShellCommandOptions): Promise<ShellCommandOutcome> {
  const { log, source } = options;
  // execa splits the output into lines for a generator; each goes to the log and is not
  // kept (a provisioner's output can be large).
  // eslint-disable-next-line require-yield
  const toLog = function* (line: unknown): Generator<never> {
    log.output(source, String(line));
  };
  const subprocess = execa('/bin/sh', ['-c', command], {
    stdin: 'ignore',
    buffer: false,
    reject: false,
    // Commands come from the requester; they must not see the host's environment (it
    // may hold the factory's configuration). Variables reach them only as Packer's do:
    // through environment_vars, rendered into the command itself.
    env: { ...MINIMAL_ENVIRONMENT, ...options.env },
    extendEnv: false,
    timeout: options.timeoutMs,
    cancelSignal: options.signal,
    stdout: { transform: toLog },
    stderr: { transform: toLog },
  });
  let afterExit: Promise<unknown> = Promise.resolve();
  if (options.onExit) {
    const onExit = options.onExit;
    subprocess.nodeChildProcess.once('exit', () => {
      afterExit = onExit();
      // Awaited below, once the output is drained; until then it must not count as unhandled.
      afterExit.catch(() => undefined);
    });
  }
  const result = await subprocess;
  await afterExit;
  options.signal?.throwIfAborted();
  return {
    exitCode: result.exitCode ?? -1,
    signal: result.signal,
    timedOut: result.timedOut,
  };
}
