/**
 * The chroot communicator: how provisioners reach into the image, as Packer's communicator
 * does for a chroot build. Commands run as `/bin/sh -c CMD` in the build's sandbox with the
 * image as its root (or, with the sandbox turned off, `chroot MOUNT /bin/sh -c CMD` through
 * the template's command_wrapper on the host); files are written from the host, with every
 * path resolved inside the image so that the image's symlinks cannot point a write at the
 * host.
 *
 * A provisioner's environment variables travel in the process environment, never on a
 * command line (the host's `ps` shows every sandboxed process's): one variable holds them as
 * `export NAME='value'` lines, which the shell inside evaluates before the command. The
 * host-side processes that start the sandbox therefore never run with, say, a template's
 * LD_PRELOAD or PATH.
 */
import { copyFile, lstat, mkdir, readdir, readlink, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { renderHostTemplate } from '../../model/index.ts';
import type { BuildLog } from './build-log.ts';
import { describeHolds, endProcessesInChroot } from './chroot-processes.ts';
import { resolveInImage } from './path-in-image.ts';
import { runShellCommand, type ShellCommandOutcome } from './shell-command.ts';
import { shellQuote } from './shell-quote.ts';
import { DEFAULT_COMMAND_WRAPPER } from '../../model/index.ts';
import type { BuildSandbox } from '../sandbox/build-sandbox.ts';

/** The one variable that carries a command's environment past the host-side processes. */
export const ENVIRONMENT_CARRIER = 'AMI_FACTORY_ENVIRONMENT';

/** `command`, preceded by what sets `environment` from the carrier variable, if any. */
export function withEnvironment(command: string, environment: ReadonlyMap<string, string>): { command: string; env: Record<string, string> } {
  if (environment.size === 0) return { command, env: {} };
  const exports = [...environment].map(([name, value]) => `export ${name}=${shellQuote(value)}`).join('\n');
  return {
    command: `eval "$${ENVIRONMENT_CARRIER}"; unset ${ENVIRONMENT_CARRIER}; ${command}`,
    env: { [ENVIRONMENT_CARRIER]: exports },
  };
}

export interface ChrootCommunicatorOptions {
  mountPath: string;
  commandWrapper: string;
  log: BuildLog;
  signal?: AbortSignal;
  /** The build's sandbox; without one, commands run through `chroot` on the host. */
  sandbox?: BuildSandbox;
}

export class ChrootCommunicator {
  readonly mountPath: string;
  readonly #commandWrapper: string;
  readonly #log: BuildLog;
  readonly #signal: AbortSignal | undefined;
  readonly #sandbox: BuildSandbox | undefined;

  constructor(options: ChrootCommunicatorOptions) {
    this.mountPath = options.mountPath;
    this.#commandWrapper = options.commandWrapper;
    this.#log = options.log;
    this.#signal = options.signal;
    this.#sandbox = options.sandbox;
  }

  /**
   * Runs `command` inside the chroot, with `environment` set. Whatever it leaves running in
   * the background is ended when it exits: nothing outlives the step that started it, so
   * nothing can keep a mount busy or keep writing to a volume about to be snapshotted.
   */
  async run(command: string, source: string, timeoutMs?: number, environment: ReadonlyMap<string, string> = new Map()): Promise<ShellCommandOutcome> {
    const carried = withEnvironment(command, environment);
    const sandbox = this.#sandbox;
    const line = sandbox === undefined ? this.#chrootLine(carried.command) : this.#sandboxLine(sandbox, carried.command);
    return runShellCommand(line, {
      log: this.#log,
      source,
      timeoutMs,
      signal: this.#signal,
      env: carried.env,
      onExit: async () => {
        if (sandbox !== undefined) {
          const ended = await sandbox.endLeftovers();
          if (ended.length > 0) this.#log.warn(source, `ended processes it left running: pids ${ended.join(', ')}`);
          return;
        }
        const leftovers = await endProcessesInChroot(this.mountPath);
        if (leftovers.length > 0) {
          this.#log.warn(source, `ended processes it left running: ${describeHolds(leftovers)}`);
        }
      },
    });
  }

  #chrootLine(command: string): string {
    const inChroot = `chroot ${shellQuote(this.mountPath)} /bin/sh -c ${shellQuote(command)}`;
    return renderHostTemplate(this.#commandWrapper, { Command: inChroot });
  }

  /**
   * In a sandbox, a command_wrapper (allowed only with the host-commands grant) runs inside
   * it too, around `/bin/sh -c CMD`: it wraps the command, but is never a way onto the host.
   */
  #sandboxLine(sandbox: BuildSandbox, command: string): string {
    const wrapped = this.#commandWrapper === DEFAULT_COMMAND_WRAPPER
      ? command
      : renderHostTemplate(this.#commandWrapper, { Command: `/bin/sh -c ${shellQuote(command)}` });
    return sandbox.imageCommand(this.mountPath, ['/bin/sh', '-c', wrapped]);
  }

  /** The host path of `imagePath`, created parents included. */
  async #target(imagePath: string): Promise<string> {
    const normalized = posix.normalize('/' + imagePath);
    await mkdir(await resolveInImage(this.mountPath, posix.dirname(normalized)), { recursive: true });
    return resolveInImage(this.mountPath, normalized);
  }

  async writeFile(imagePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const target = await this.#target(imagePath);
    await rm(target, { force: true });
    await writeFile(target, content, { mode });
    await chmod(target, mode); // writeFile's mode is filtered by the umask
  }

  /** Uploads a host file or directory tree to `imagePath` (the exact destination). */
  async upload(hostPath: string, imagePath: string): Promise<void> {
    const info = await lstat(hostPath);
    if (info.isDirectory()) {
      const target = await this.#target(imagePath);
      await mkdir(target, { recursive: true, mode: info.mode & 0o7777 });
      for (const entry of await readdir(hostPath)) {
        await this.upload(join(hostPath, entry), posix.join(imagePath, entry));
      }
    } else if (info.isSymbolicLink()) {
      const target = await resolveInImage(this.mountPath, imagePath, false);
      await rm(target, { force: true });
      await symlink(await readlink(hostPath), target);
    } else {
      const target = await this.#target(imagePath);
      await rm(target, { force: true });
      await copyFile(hostPath, target);
      await chmod(target, info.mode & 0o7777);
    }
  }

  /** Whether `imagePath` is a directory inside the image (links followed in the image). */
  async isDirectory(imagePath: string): Promise<boolean> {
    try {
      return (await stat(await resolveInImage(this.mountPath, imagePath))).isDirectory();
    } catch {
      return false;
    }
  }

  async remove(imagePath: string): Promise<void> {
    await rm(await resolveInImage(this.mountPath, imagePath, false), { recursive: true, force: true });
  }
}

