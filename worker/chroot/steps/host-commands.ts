/**
 * pre_mount_commands and post_mount_commands: the template's own commands, run around the
 * mount (e.g. partitioning and formatting a from_scratch volume). Only a build granted host
 * commands gets here with any (host-command-grants.ts), and even then they run sandboxed:
 * the host's programs read-only, and of its devices and mounts only the build's own.
 */
import { renderHostTemplate } from '../../../model/index.ts';
import { runShellCommand } from '../shell-command.ts';
import { required, type BuildContext, type ChrootStep } from '../build-context.ts';

async function runAll(
  context: BuildContext,
  field: string,
  commands: readonly string[],
  fields: Record<string, string>,
  scope: { device: string; mountPath?: string },
): Promise<void> {
  for (const [index, template] of commands.entries()) {
    const source = `${field}[${String(index)}]`;
    const command = renderHostTemplate(template, fields);
    context.log.step(field, `running ${command}`);
    const { sandbox } = context;
    const line = sandbox === undefined ? command : await sandbox.hostCommand(['/bin/sh', '-c', command], scope);
    const outcome = await runShellCommand(line, {
      log: context.log,
      source,
      signal: context.signal,
      onExit: sandbox === undefined ? undefined : () => sandbox.endLeftovers(),
    });
    if (outcome.exitCode !== 0) {
      throw new Error(`${source} exited with code ${String(outcome.exitCode)}: ${command}`);
    }
  }
}

export const preMountCommandsStep: ChrootStep = {
  name: 'pre-mount-commands',
  run: (context) => {
    const device = required(context, 'device');
    return runAll(context, 'pre_mount_commands', context.request.builder.pre_mount_commands, { Device: device }, { device });
  },
};

export const postMountCommandsStep: ChrootStep = {
  name: 'post-mount-commands',
  run: (context) => {
    const device = required(context, 'device');
    const mountPath = required(context, 'mountPath');
    return runAll(context, 'post_mount_commands', context.request.builder.post_mount_commands, { Device: device, MountPath: mountPath }, { device, mountPath });
  },
};
