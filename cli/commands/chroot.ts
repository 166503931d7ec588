/**
 * `ami-factory chroot TEMPLATE --image DISK.img`: run the chroot engine on this machine
 * against a disk image (as a loop device), leaving the provisioned changes in the image.
 * The same engine runs on chroot hosts against attached EBS volumes, in the same sandbox;
 * only here may it be turned off (`--no-sandbox`, loudly), and only here does a flag
 * (`--allow-host-commands`) stand for the grant an operator gives a build in the factory.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadTemplateFile } from '../../model/index.ts';
import { runChrootBuild } from '../../worker/chroot/engine.ts';
import { DEFAULT_HOST_CONFIG } from '../../worker/chroot/host-config.ts';
import { collectNames, collectVar, loadOrReport } from './shared-options.ts';
import { COMMANDS } from '../command-catalog.ts';

interface ChrootOptions {
  image: string;
  var: Record<string, string>;
  only?: string[];
  except?: string[];
  stateDir: string;
  mountRoot: string;
  buildId?: string;
  /** commander's negation of --no-sandbox. */
  sandbox: boolean;
  allowHostCommands: boolean;
}

const NO_SANDBOX_WARNING = [
  '',
  '!!! --no-sandbox: the template\'s commands run as root on this machine, with its processes,',
  '!!! devices and network in reach. Use it only for a template you wrote yourself.',
  '',
].join('\n');

export function registerChrootCommand(program: Command): void {
  program
    .command('chroot')
    .description(COMMANDS.chroot.description)
    .argument('<template>', 'Packer JSON template with an amazon-chroot builder')
    .requiredOption('--image <file>', 'disk image to provision in place (partitioned or a bare file system)')
    .option('--var <name=value>', 'set a template variable (repeatable)', collectVar, {})
    .option('--only <names>', 'build only the builder of this name or type (comma-separated, repeatable)', collectNames)
    .option('--except <names>', 'leave out the builders of these names or types (comma-separated, repeatable)', collectNames)
    .option('--state-dir <dir>', 'journals, locks and build logs of this host', DEFAULT_HOST_CONFIG.stateDir)
    .option('--mount-root <dir>', 'directory under which volumes are mounted', DEFAULT_HOST_CONFIG.mountRoot)
    .option('--build-id <id>', 'name of this build in logs and journals (default: a new UUID)')
    .option('--allow-host-commands', 'allow pre/post_mount_commands, shell-local provisioners, a command_wrapper and non-default chroot_mounts (they still run sandboxed)', false)
    .option('--no-sandbox', 'DANGEROUS: run the template\'s commands with plain chroot, as root on this machine')
    .action(async (template: string, options: ChrootOptions) => {
      const request = await loadOrReport(template, () => loadTemplateFile(template, {
        vars: options.var, allowEnv: true, env: process.env, cwd: process.cwd(), only: options.only, except: options.except,
      }));
      if (!request) return;
      if (!options.sandbox) process.stderr.write(`${NO_SANDBOX_WARNING}\n`);
      // Ctrl-C or a service stop cancels the build; the engine then cleans up as on any
      // failure. A second signal is not special: clean-up must finish to leave a clean host.
      const cancel = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        process.stderr.write(`\n${signal}: cancelling the build and cleaning up\n`);
        cancel.abort(new Error(`cancelled by ${signal}`));
      };
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      try {
        const result = await runChrootBuild({
          signal: cancel.signal,
          request,
          source: { kind: 'image', imagePath: resolve(options.image) },
          host: { stateDir: resolve(options.stateDir), mountRoot: resolve(options.mountRoot), sandbox: { enabled: options.sandbox } },
          buildId: options.buildId,
          grants: { hostCommands: options.allowHostCommands },
        });
        const total = Object.values(result.timings).reduce((a, b) => a + b, 0);
        process.stdout.write(
          `Provisioned ${options.image} in ${(total / 1000).toFixed(1)} s (build ${result.buildId}; log ${result.logPath})\n`,
        );
      } catch (error) {
        process.exitCode = 1;
        process.stderr.write(`Build failed: ${error instanceof Error ? error.message : String(error)}\n`);
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}
