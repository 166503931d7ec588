/**
 * The chroot communicator: how provisioners reach into the image, as Packer's communicator
 * does for a chroot build. Commands run as `chroot MOUNT /bin/sh -c CMD` through the
 * template's command_wrapper; files are written from the host, with every path resolved
 * inside the image so that the image's symlinks cannot point a write at the host.
 */
import { copyFile, lstat, mkdir, readdir, readlink, rm, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { renderHostTemplate } from '../../model/index.ts';
import type { BuildLog } from './build-log.ts';
import { describeHolds, endProcessesInChroot } from './chroot-processes.ts';
import { resolveInImage } from './path-in-image.ts';
import { runShellCommand, type ShellCommandOutcome } from './shell-command.ts';
import { shellQuote } from './shell-quote.ts';

export class ChrootCommunicator {
  readonly mountPath: string;
  readonly #commandWrapper: string;
  readonly #log: BuildLog;
  readonly #signal: AbortSignal | undefined;

  constructor(mountPath: string, commandWrapper: string, log: BuildLog, signal?: AbortSignal) {
    this.mountPath = mountPath;
    this.#commandWrapper = commandWrapper;
    this.#log = log;
    this.#signal = signal;
  }

  /**
   * Runs `command` inside the chroot. Whatever it leaves running in the background is
   * ended when it exits: nothing outlives the step that started it, so nothing can keep
   * a mount busy or keep writing to a volume about to be snapshotted.
   */
  async run(command: string, source: string, timeoutMs?: number): Promise<ShellCommandOutcome> {
    const inChroot = `chroot ${shellQuote(this.mountPath)} /bin/sh -c ${shellQuote(command)}`;
    const wrapped = renderHostTemplate(this.#commandWrapper, { Command: inChroot });
    return runShellCommand(wrapped, {
      log: this.#log,
      source,
      timeoutMs,
      signal: this.#signal,
      onExit: async () => {
        const leftovers = await endProcessesInChroot(this.mountPath);
        if (leftovers.length > 0) {
          this.#log.warn(source, `ended processes it left running: ${describeHolds(leftovers)}`);
        }
      },
    });
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

