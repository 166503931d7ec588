/**
 * Which `{{.Field}}` values each option receives on the build host. These options are
 * rendered when the request is loaded except for their dot fields, which the host fills in
 * with `renderHostTemplate` once it knows the device, mount path, command or script.
 */

export type HostField = 'Device' | 'MountPath' | 'Command' | 'Vars' | 'Path';

export const BUILDER_HOST_FIELDS: Readonly<Record<string, readonly HostField[]>> = {
  pre_mount_commands: ['Device'],
  post_mount_commands: ['Device', 'MountPath'],
  mount_path: ['Device'],
  command_wrapper: ['Command'],
};

export const SHELL_HOST_FIELDS: Readonly<Record<string, readonly HostField[]>> = {
  execute_command: ['Vars', 'Path'],
};

const PLACES: Readonly<Record<HostField, readonly string[]>> = (() => {
  const places: Record<HostField, string[]> = { Device: [], MountPath: [], Command: [], Vars: [], Path: [] };
  for (const [option, fields] of Object.entries(BUILDER_HOST_FIELDS)) {
    for (const field of fields) places[field].push(option);
  }
  for (const [option, fields] of Object.entries(SHELL_HOST_FIELDS)) {
    for (const field of fields) places[field].push(`shell provisioner ${option}`);
  }
  return places;
})();

export function isHostField(name: string): name is HostField {
  return Object.hasOwn(PLACES, name);
}

/** Why `{{.name}}` may not appear in an option that allows only `allowed`. */
export function misplacedFieldMessage(name: string, allowed: readonly HostField[]): string {
  const here = allowed.length > 0
    ? `here only ${allowed.map((field) => `.${field}`).join(' and ')} ${allowed.length > 1 ? 'are' : 'is'} available`
    : 'this option takes no dot fields';
  if (isHostField(name)) return `.${name} is only available in ${PLACES[name].join(', ')}; ${here}`;
  return `unknown field .${name}: ${here}`;
}
