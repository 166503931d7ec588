/**
 * Which `{{.Field}}` values each option receives on the build host. These options are
 * rendered when the request is loaded except for their dot fields, which the host fills in
 * with `renderHostTemplate` once it knows the device, mount path, command or script.
 */

export type HostField = 'Device' | 'MountPath' | 'Command' | 'Vars' | 'Path' | 'Script';

export const BUILDER_HOST_FIELDS: Readonly<Record<string, readonly HostField[]>> = {
  pre_mount_commands: ['Device'],
  post_mount_commands: ['Device', 'MountPath'],
  mount_path: ['Device'],
  command_wrapper: ['Command'],
};

export const SHELL_HOST_FIELDS: Readonly<Record<string, readonly HostField[]>> = {
  execute_command: ['Vars', 'Path'],
};

/** shell-local's execute_command, as Packer's: `{{.Script}}` on the host, not `{{.Path}}`. */
export const SHELL_LOCAL_HOST_FIELDS: Readonly<Record<string, readonly HostField[]>> = {
  execute_command: ['Vars', 'Script'],
};

const PLACES: Readonly<Record<HostField, readonly string[]>> = (() => {
  const places: Record<HostField, string[]> = { Device: [], MountPath: [], Command: [], Vars: [], Path: [], Script: [] };
  for (const [option, fields] of Object.entries(BUILDER_HOST_FIELDS)) {
    for (const field of fields) places[field].push(option);
  }
  for (const [option, fields] of Object.entries(SHELL_HOST_FIELDS)) {
    for (const field of fields) places[field].push(`shell provisioner ${option}`);
  }
  for (const [option, fields] of Object.entries(SHELL_LOCAL_HOST_FIELDS)) {
    for (const field of fields) places[field].push(`shell-local provisioner ${option}`);
  }
  return places;
})();

/**
 * Packer's build data for amazon-chroot (BuildInfoTemplate): known once the source image is
 * resolved, so the model keeps them and the submit (functions/lib/planner.ts) renders them.
 * `.SourceAMITags.NAME` is the source image's tag NAME.
 */
export const BUILD_DATA_FIELDS = [
  'BuildRegion', 'SourceAMI', 'SourceAMIName', 'SourceAMIOwner', 'SourceAMIOwnerName', 'SourceAMICreationDate',
] as const;
const SOURCE_TAG_PREFIX = 'SourceAMITags.';

/** The options Packer renders with build data (and their list spellings). */
export const BUILD_DATA_OPTIONS: ReadonlySet<string> = new Set([
  'ami_description', 'tags', 'tag', 'snapshot_tags', 'snapshot_tag', 'root_volume_tags', 'root_volume_tag',
]);

export function isBuildDataField(name: string): boolean {
  return (BUILD_DATA_FIELDS as readonly string[]).includes(name) || (name.startsWith(SOURCE_TAG_PREFIX) && name.length > SOURCE_TAG_PREFIX.length);
}

/** The build data of one build: from_scratch has no source image, and gets "" as in Packer. */
export function buildDataFields(
  region: string,
  source: { ImageId?: string; Name?: string; OwnerId?: string; ImageOwnerAlias?: string; CreationDate?: string; Tags?: { Key?: string; Value?: string }[] } | null,
): Record<string, string> {
  const fields: Record<string, string> = {
    BuildRegion: region,
    SourceAMI: source?.ImageId ?? '',
    SourceAMIName: source?.Name ?? '',
    SourceAMIOwner: source?.OwnerId ?? '',
    SourceAMIOwnerName: source?.ImageOwnerAlias ?? '',
    SourceAMICreationDate: source?.CreationDate ?? '',
  };
  for (const { Key, Value } of source?.Tags ?? []) {
    if (Key !== undefined) fields[`${SOURCE_TAG_PREFIX}${Key}`] = Value ?? '';
  }
  return fields;
}

export function isHostField(name: string): name is HostField {
  return Object.hasOwn(PLACES, name);
}

/** Why `{{.name}}` may not appear in an option that allows only `allowed`. */
export function misplacedFieldMessage(name: string, allowed: readonly HostField[]): string {
  const here = allowed.length > 0
    ? `here only ${allowed.map((field) => `.${field}`).join(' and ')} ${allowed.length > 1 ? 'are' : 'is'} available`
    : 'this option takes no dot fields';
  if (isHostField(name)) return `.${name} is only available in ${PLACES[name].join(', ')}; ${here}`;
  if (isBuildDataField(name)) return `.${name} (build data) is only available in ${[...BUILD_DATA_OPTIONS].join(', ')}; ${here}`;
  return `unknown field .${name}: ${here}`;
}
