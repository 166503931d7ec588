/**
 * Host-side commands are an operator's privilege (`grants.hostCommands` of the stored
 * build, or `ami-factory chroot --allow-host-commands`): pre/post_mount_commands, shell-local
 * provisioners, a command_wrapper of one's own, and chroot_mounts beyond Packer's defaults (a bind of `/`
 * would hand the host to the template). Checked before the build changes anything, and
 * every offending field is named at once.
 */
import type { BuildGrants } from '../../contract/bundle.ts';
import { DEFAULT_CHROOT_MOUNTS, DEFAULT_COMMAND_WRAPPER } from '../../model/index.ts';
import type { AmazonChrootConfig, ChrootMount, Provisioner } from '../../model/types.ts';

export class HostCommandsNotGrantedError extends Error {
  override name = 'HostCommandsNotGrantedError';
}

export const isDefaultChrootMount = (mount: ChrootMount): boolean =>
  DEFAULT_CHROOT_MOUNTS.some((known) => known.every((part, index) => part === mount[index]));

/** The fields of `builder` that would run something on the host. */
export function hostCommandFields(builder: AmazonChrootConfig): string[] {
  const fields: string[] = [];
  if (builder.pre_mount_commands.length > 0) fields.push('pre_mount_commands');
  if (builder.post_mount_commands.length > 0) fields.push('post_mount_commands');
  if (builder.command_wrapper !== DEFAULT_COMMAND_WRAPPER) fields.push('command_wrapper');
  for (const [index, mount] of builder.chroot_mounts.entries()) {
    if (!isDefaultChrootMount(mount)) fields.push(`chroot_mounts[${String(index)}] (${mount.join(' ')})`);
  }
  return fields;
}

export function assertHostCommandsGranted(builder: AmazonChrootConfig, grants: BuildGrants, provisioners: readonly Provisioner[] = []): void {
  if (grants.hostCommands) return;
  const fields = [
    ...hostCommandFields(builder),
    // shell-local runs on the host by definition.
    ...provisioners.filter((provisioner) => provisioner.type === 'shell-local').map((provisioner) => `provisioners[${provisioner.index}] (shell-local)`),
  ];
  if (fields.length === 0) return;
  throw new HostCommandsNotGrantedError(
    `this build may not run commands on the host (grants.hostCommands is false), but its template sets ` +
      `${fields.join(', ')}; an operator grants host commands to a build, or on one's own machine ` +
      '`ami-factory chroot --allow-host-commands`',
  );
}
