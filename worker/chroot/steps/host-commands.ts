/**
 * pre_mount_commands and post_mount_commands: the template's own commands, run on the host
 * around the mount (e.g. partitioning and formatting a from_scratch volume).
 */
import { renderHostTemplate } from '../../../model/index.ts';
import { runShellCommand } from '../shell-command.ts';
import { required, type BuildContext, type ChrootStep } from '../build-context.ts';

async function runAll(context: BuildContext, field: string, commands: readonly string[], fields: Record<string, string>): Promise<void> {
  for (const [index, template] of commands.entries()) {
    const source = `${field}[${index}]`;
    const command = renderHostTemplate(template, fields);
    context.log.step(field, `running ${command}`);
    const outcome = await runShellCommand(command, { log: context.log, source, signal: context.signal });
    if (outcome.exitCode !== 0) {
      throw new Error(`${source} exited with code ${outcome.exitCode}: ${command}`);
    }
  }
}

export const preMountCommandsStep: ChrootStep = {
  name: 'pre-mount-commands',
  run: (context) =>
    runAll(context, 'pre_mount_commands', context.request.builder.pre_mount_commands, {
      Device: required(context, 'device'),
    }),
};

export const postMountCommandsStep: ChrootStep = {
  name: 'post-mount-commands',
  run: (context) =>
    runAll(context, 'post_mount_commands', context.request.builder.post_mount_commands, {
      Device: required(context, 'device'),
      MountPath: required(context, 'mountPath'),
    }),
};
