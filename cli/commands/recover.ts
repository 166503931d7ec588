/**
 * `ami-factory recover`: what every build does first, on demand. After a crash or a
 * reboot an operator can clean the host (mounts, loop devices, image files, locks left by
 * dead runs) and see what was done, without starting a build.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_HOST_CONFIG } from '../../worker/chroot/host-config.ts';
import { recoverHost } from '../../worker/chroot/recovery.ts';
import { COMMANDS } from '../command-catalog.ts';

export function registerRecoverCommand(program: Command): void {
  program
    .command('recover')
    .description(COMMANDS.recover.description)
    .option('--state-dir <dir>', 'journals, locks and build logs of this host', DEFAULT_HOST_CONFIG.stateDir)
    .option('--mount-root <dir>', 'directory under which volumes are mounted', DEFAULT_HOST_CONFIG.mountRoot)
    .action(async (options: { stateDir: string; mountRoot: string }) => {
      const say = (step: string, message: string): void => {
        process.stderr.write(`==> ${step}: ${message}\n`);
      };
      const report = await recoverHost(
        { stateDir: resolve(options.stateDir), mountRoot: resolve(options.mountRoot) },
        { step: say, warn: (step, message) => { say(step, `WARNING: ${message}`); } },
      );
      process.stdout.write(
        `recovered ${report.recoveredBuilds.length} build(s), broke ${report.brokenLocks.length} lock(s)` +
          (report.failures.length > 0 ? `; could not undo: ${report.failures.map((f) => `${f.action} (${f.error})`).join('; ')}` : '') +
          '\n',
      );
      if (report.failures.length > 0) process.exitCode = 1;
    });
}
