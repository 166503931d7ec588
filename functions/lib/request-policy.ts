/**
 * What a valid template may still not ask of a shared factory, decided at submit with every
 * problem named by its field path:
 * - a sensitive variable's value in a field the image publishes (its name, description and
 *   tags are readable by everyone the image is shared with) or that the workflow is handed
 *   (its input and history are kept for 90 days and read by the API);
 * - commands that run on the chroot host, outside the chroot, unless the factory's
 *   configuration grants them to the caller.
 */
import { joinPath, type FieldError } from '../../contract/field-errors.ts';
import { DEFAULT_CHROOT_MOUNTS, DEFAULT_COMMAND_WRAPPER, type BuildRequest } from '../../model/index.ts';
import { ProblemError } from './http.ts';

/**
 * Every option the planner copies into the execution input: published on the image, its
 * snapshots and volumes, or kept in the workflow's history.
 */
const PUBLISHED_OPTIONS = [
  'ami_name',
  'ami_description',
  'tags',
  'snapshot_tags',
  'root_volume_tags',
  'run_volume_tags',
  'ami_block_device_mappings',
  'kms_key_id',
  'root_volume_kms_key_id',
  'region_kms_key_ids',
  'source_ami',
  'source_ami_filter',
  'root_device_name',
  'uefi_data',
  'ami_users',
  'ami_groups',
  'ami_org_arns',
  'ami_ou_arns',
  'snapshot_users',
  'snapshot_groups',
  'ami_regions',
  'ami_product_codes',
  'deprecate_at',
] as const;

function containsSecret(text: string, secrets: readonly string[]): boolean {
  return secrets.some((secret) => secret !== '' && text.includes(secret));
}

/** Paths under `path` whose string values, or object keys, hold a secret. */
function secretPaths(value: unknown, path: string, secrets: readonly string[]): string[] {
  if (typeof value === 'string') return containsSecret(value, secrets) ? [path] : [];
  if (Array.isArray(value)) return value.flatMap((item, index) => secretPaths(item, joinPath(path, index), secrets));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => [
      ...(containsSecret(key, secrets) ? [joinPath(path, key)] : []),
      ...secretPaths(item, joinPath(path, key), secrets),
    ]);
  }
  return [];
}

export function publishedSensitiveValues(request: BuildRequest, builderPath: string): FieldError[] {
  const secrets = request.sensitive_values;
  if (secrets.length === 0) return [];
  const builder = request.builder as unknown as Record<string, unknown>;
  const message =
    'holds the value of a sensitive variable: it would be published with the image (or kept in the build\'s history); use a variable that is not sensitive here';
  return PUBLISHED_OPTIONS.flatMap((option) => secretPaths(builder[option], joinPath(builderPath, option), secrets)).map((path) => ({ path, message }));
}

/** custom_data of a manifest post-processor: kept in the workflow's input and served with the manifest. */
export function manifestSensitiveValues(request: BuildRequest): FieldError[] {
  const secrets = request.sensitive_values;
  const message = 'holds the value of a sensitive variable: the manifest is kept with the build and served by the API; use a variable that is not sensitive here';
  return (request.post_processors ?? [])
    .flatMap((manifest) => (manifest.custom_data === null ? [] : secretPaths(manifest.custom_data, joinPath(manifest.path, 'custom_data'), secrets)))
    .map((path) => ({ path, message }));
}

const DEFAULT_MOUNTS = new Set(DEFAULT_CHROOT_MOUNTS.map((mount) => mount.join('\u0000')));

/** Packer's default mounts, or some of them: nothing of the host beyond what every build gets. */
const onlyDefaultMounts = (mounts: readonly (readonly string[])[]): boolean => mounts.every((mount) => DEFAULT_MOUNTS.has(mount.join('\u0000')));

/** Options the template sets that run commands, or mount sources, on the chroot host itself. */
export function hostCommandUses(request: BuildRequest, builderPath: string): FieldError[] {
  const { builder } = request;
  const uses: FieldError[] = [];
  const use = (option: string, what: string): void => {
    uses.push({ path: joinPath(builderPath, option), message: `${what} on the chroot host, outside the chroot: the factory's configuration (hostCommands) does not grant that to you or your team` });
  };
  if (builder.pre_mount_commands.length > 0) use('pre_mount_commands', 'runs commands');
  if (builder.post_mount_commands.length > 0) use('post_mount_commands', 'runs commands');
  if (builder.command_wrapper !== DEFAULT_COMMAND_WRAPPER) use('command_wrapper', 'wraps every command');
  if ('manual_mount_command' in builder) use('manual_mount_command', 'mounts with a command');
  if (!onlyDefaultMounts(builder.chroot_mounts)) use('chroot_mounts', 'mounts host file systems other than the defaults');
  for (const provisioner of request.provisioners) {
    if (provisioner.type !== 'shell-local') continue;
    uses.push({
      path: joinPath('provisioners', provisioner.index),
      message: 'is a shell-local provisioner: it runs commands on the chroot host, outside the chroot: the factory\'s configuration (hostCommands) does not grant that to you or your team',
    });
  }
  return uses;
}

/** One 400 for both kinds, so a requester sees every refused field at once. */
export function refuseIfAny(sensitive: readonly FieldError[], hostCommands: readonly FieldError[]): void {
  const errors = [...sensitive, ...hostCommands];
  if (errors.length === 0) return;
  const code = hostCommands.length === 0 ? 'SensitiveValuePublished' : sensitive.length === 0 ? 'HostCommandsNotAllowed' : 'RequestNotAllowed';
  throw new ProblemError(400, code, errors.map((error) => `${error.path}: ${error.message}`).join('; '), errors);
}
