/**
 * The template's `provisioners` to the normalized Provisioner list: which apply to this
 * build (only/except), per-build overrides, rendering, validation, local files and defaults.
 */
import type { AnsibleLocalProvisioner, FileProvisioner, Provisioner, ShellLocalProvisioner, ShellProvisioner } from './types.ts';
import type { Issues } from './errors.ts';
import { resolveLocalFile } from './local-files.ts';
import type { LocalFileKind } from './local-files.ts';
import { joinPath } from '../contract/field-errors.ts';
import { renderOption } from './render-tree.ts';
import { SHELL_HOST_FIELDS, SHELL_LOCAL_HOST_FIELDS } from './template/host-fields.ts';
import type { HostField } from './template/host-fields.ts';
import type { RequestTemplateContext } from './template/request.ts';
import { isPlainObject, parseOptions, unknownKeyMessage } from './schema/fields.ts';
import type { ParsedOptions, Shape } from './schema/fields.ts';
import { isContainedAbsolutePath } from './schema/paths.ts';
import { ansibleLocalShape, fileShape, shellLocalShape, shellShape } from './schema/provisioners.ts';
import type { AnsibleLocalShape, FileShape, ShellLocalShape, ShellShape } from './schema/provisioners.ts';

export const SUPPORTED_PROVISIONERS = ['shell', 'file', 'ansible-local', 'shell-local'] as const;
type SupportedType = (typeof SUPPORTED_PROVISIONERS)[number];

/** Packer's ansible-local defaults. */
export const DEFAULT_ANSIBLE_COMMAND = 'ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook';
export const DEFAULT_GALAXY_COMMAND = 'ansible-galaxy';
/** Packer's shell-local default: the script run by /bin/sh with the variables before it. */
export const DEFAULT_SHELL_LOCAL_EXECUTE_COMMAND = ['/bin/sh', '-c', '{{.Vars}} {{.Script}}'];

/** Why a Packer provisioner a chroot build cannot run is refused, and what to use instead. */
const UNSUPPORTED_HINTS: Readonly<Record<string, string>> = {
  ansible: ' (it connects over SSH or WinRM from the requesting machine, and a chroot build has no connection: use "ansible-local", which runs the image\'s own Ansible in the chroot)',
  'windows-shell': ' (a chroot build makes Linux images)',
  powershell: ' (a chroot build makes Linux images)',
  'windows-restart': ' (a chroot build makes Linux images)',
  breakpoint: ' (a factory build runs unattended)',
};

/** The host files and folders a provisioner reads: what a bundle must carry. */
export function localPathsOf(provisioner: Provisioner): string[] {
  switch (provisioner.type) {
    case 'shell':
    case 'shell-local':
      return provisioner.scripts;
    case 'file':
      return provisioner.sources;
    case 'ansible-local':
      return [
        ...provisioner.playbook_files,
        ...[provisioner.playbook_dir, provisioner.group_vars, provisioner.host_vars, provisioner.galaxy_file, provisioner.inventory_file]
          .filter((path): path is string => path !== undefined),
        ...provisioner.playbook_paths,
        ...provisioner.role_paths,
      ];
  }
}

export const DEFAULT_EXECUTE_COMMAND = 'chmod +x {{.Path}}; {{.Vars}} {{.Path}}';
export const DEFAULT_INLINE_SHEBANG = '/bin/sh -e';
export const DEFAULT_REMOTE_FOLDER = '/tmp';

export interface ProvisionerContext {
  templateDir: string;
  /** The build's name (the builder's `name`, else its type), as only/except/override use it. */
  buildName: string;
  /** Every build's name in the template: only/except/override may name any of them. */
  buildNames?: readonly string[];
  render: RequestTemplateContext;
}

interface Entry<S extends Shape> extends ParsedOptions<S> {
  index: number;
  base: string;
  pathOf: (option: string) => string;
}

const buildNamesOf = (context: ProvisionerContext): readonly string[] =>
  context.buildNames && context.buildNames.length > 0 ? context.buildNames : [context.buildName];

const knownBuild = (name: string, context: ProvisionerContext): boolean => buildNamesOf(context).includes(name);

function unknownBuildMessage(name: string, context: ProvisionerContext): string {
  const names = buildNamesOf(context);
  return names.length === 1
    ? `no build is named "${name}" (this template's build is "${names[0] ?? ''}")`
    : `no build is named "${name}" (this template's builds: ${names.map((known) => `"${known}"`).join(', ')})`;
}

/** Applies `override[buildName]` and remembers where each option came from, for error paths. */
function withOverride(
  raw: Record<string, unknown>,
  base: string,
  context: ProvisionerContext,
  issues: Issues,
): { options: Record<string, unknown>; pathOf: (option: string) => string } {
  const { override, ...options } = raw;
  const origin = new Map<string, string>();
  if (isPlainObject(override)) {
    for (const [name, values] of Object.entries(override)) {
      const overridePath = joinPath(joinPath(base, 'override'), name);
      if (!knownBuild(name, context)) {
        issues.add(overridePath, unknownBuildMessage(name, context));
      } else if (name !== context.buildName) {
        continue;
      } else if (!isPlainObject(values)) {
        issues.add(overridePath, 'must be an object of provisioner options');
      } else {
        for (const [option, value] of Object.entries(values)) {
          options[option] = value;
          origin.set(option, joinPath(overridePath, option));
        }
      }
    }
  } else if (override !== undefined && override !== null) {
    issues.add(joinPath(base, 'override'), 'must be an object of build names to provisioner options');
  }
  return { options, pathOf: (option) => origin.get(option) ?? joinPath(base, option) };
}

function parseEntry<S extends Shape>(
  options: Record<string, unknown>,
  shape: S,
  hostFields: Readonly<Record<string, readonly HostField[]>>,
  pathOf: (option: string) => string,
  context: ProvisionerContext,
  issues: Issues,
): ParsedOptions<S> {
  const rendered: Record<string, unknown> = {};
  const unrendered = new Set<string>();
  for (const [option, value] of Object.entries(options)) {
    if (!Object.hasOwn(shape, option)) {
      issues.add(pathOf(option), unknownKeyMessage(option, [...Object.keys(shape), 'override']));
      continue;
    }
    const placement = { hostFields: hostFields[option] ?? [], inVariables: false };
    const result = renderOption(value, pathOf(option), placement, context.render, issues);
    rendered[option] = result.value;
    if (!result.ok) unrendered.add(option);
  }
  return parseOptions(rendered, shape, pathOf, issues, unrendered);
}

/** False when only/except leave this build out; unknown build names are errors. */
function appliesToBuild(entry: Entry<Shape>, context: ProvisionerContext, issues: Issues): boolean {
  const { buildName } = context;
  const { only, except } = entry.value as { only?: string[]; except?: string[] };
  for (const [option, names] of [['only', only], ['except', except]] as const) {
    names?.forEach((name, index) => {
      if (!knownBuild(name, context)) issues.add(joinPath(entry.pathOf(option), index), unknownBuildMessage(name, context));
    });
  }
  if (only && only.length > 0 && !only.includes(buildName)) return false;
  return !(except ?? []).includes(buildName);
}

function localFiles(
  paths: readonly string[],
  pathAt: (index: number) => string,
  kind: LocalFileKind,
  context: ProvisionerContext,
  issues: Issues,
): string[] {
  return paths.map((path, index) => {
    const resolved = resolveLocalFile(path, context.templateDir, kind);
    if (resolved.ok) return resolved.path;
    issues.add(pathAt(index), resolved.message);
    return path;
  });
}

function normalizeShell(entry: Entry<ShellShape>, context: ProvisionerContext, issues: Issues): ShellProvisioner {
  const { value, pathOf } = entry;
  const inline = value.inline && value.inline.length > 0 ? value.inline : undefined;
  const sources = (
    [['inline', inline], ['script', value.script], ['scripts', value.scripts?.length ? value.scripts : undefined]] as const
  ).filter(([option, set]) => set !== undefined || entry.bad.has(option));
  const [first, ...others] = sources;
  if (first === undefined) {
    issues.add(entry.base, 'one of inline, script or scripts is required');
  }
  for (const [option] of others) {
    issues.add(pathOf(option), `conflicts with ${first?.[0] ?? ''}: set exactly one of inline, script or scripts`);
  }

  let scripts: string[] = [];
  if (value.script !== undefined) {
    scripts = localFiles([value.script], () => pathOf('script'), 'file', context, issues);
  } else if (value.scripts !== undefined) {
    scripts = localFiles(value.scripts, (index) => joinPath(pathOf('scripts'), index), 'file', context, issues);
  }

  // remote_path is remote_folder/remote_file in one option, and wins over them as in Packer.
  let remoteFolder = value.remote_folder ?? DEFAULT_REMOTE_FOLDER;
  let remoteFile = value.remote_file;
  if (value.remote_path !== undefined) {
    const slash = value.remote_path.lastIndexOf('/');
    remoteFolder = value.remote_path.slice(0, slash) || '/';
    remoteFile = value.remote_path.slice(slash + 1);
  }

  return {
    type: 'shell',
    index: entry.index,
    inline,
    scripts,
    environment_vars: value.environment_vars ?? [],
    env: value.env ?? {},
    execute_command: value.execute_command ?? DEFAULT_EXECUTE_COMMAND,
    inline_shebang: value.inline_shebang ?? DEFAULT_INLINE_SHEBANG,
    remote_folder: remoteFolder,
    remote_file: remoteFile,
    skip_clean: value.skip_clean ?? false,
    valid_exit_codes: value.valid_exit_codes && value.valid_exit_codes.length > 0 ? value.valid_exit_codes : [0],
    pause_before_ms: value.pause_before ?? 0,
    timeout_ms: value.timeout || undefined,
    max_retries: value.max_retries ?? 0,
  };
}

function normalizeFile(entry: Entry<FileShape>, context: ProvisionerContext, issues: Issues): FileProvisioner {
  const { value, pathOf } = entry;
  if (value.direction === 'download') {
    issues.add(
      pathOf('direction'),
      'download is not supported: the factory builds on its own hosts, so there is no requesting machine to download to',
    );
  }
  for (const option of ['pause_before', 'timeout', 'max_retries'] as const) {
    if (value[option]) issues.add(pathOf(option), `${option} is only supported on shell provisioners`);
  }
  const listed = value.sources ?? [];
  const sourcePaths = [
    ...localFiles(listed, (index) => joinPath(pathOf('sources'), index), 'file or directory', context, issues),
    // Packer appends `source` after `sources`.
    ...(value.source === undefined ? [] : localFiles([value.source], () => pathOf('source'), 'file or directory', context, issues)),
  ];
  const hasSources = sourcePaths.length > 0 || entry.bad.has('source') || entry.bad.has('sources');
  if (value.content !== undefined && hasSources) {
    issues.add(pathOf('content'), 'content conflicts with source/sources: set one of them');
  } else if (value.content === undefined && !hasSources && !entry.bad.has('content')) {
    issues.add(entry.base, 'one of source, sources or content is required');
  }
  const destination = value.destination ?? '';
  if (!entry.given.has('destination')) issues.add(pathOf('destination'), 'destination must be specified');
  else if (value.destination !== undefined && !isContainedAbsolutePath(destination)) {
    issues.add(pathOf('destination'), 'destination must be an absolute path inside the image, without ".." segments');
  }
  return { type: 'file', index: entry.index, sources: sourcePaths, content: value.content, destination };
}

function localDirectory(path: string | undefined, at: string, context: ProvisionerContext, issues: Issues): string | undefined {
  if (path === undefined) return undefined;
  const [resolved] = localFiles([path], () => at, 'file or directory', context, issues);
  return resolved?.replace(/\/$/, '');
}

function normalizeAnsibleLocal(entry: Entry<AnsibleLocalShape>, context: ProvisionerContext, issues: Issues): AnsibleLocalProvisioner {
  const { value, pathOf } = entry;
  const playbooks = [
    ...(value.playbook_file === undefined ? [] : localFiles([value.playbook_file], () => pathOf('playbook_file'), 'file', context, issues)),
    ...localFiles(value.playbook_files ?? [], (index) => joinPath(pathOf('playbook_files'), index), 'file', context, issues),
  ];
  if (playbooks.length === 0 && !entry.bad.has('playbook_file') && !entry.bad.has('playbook_files')) {
    issues.add(entry.base, 'one of playbook_file or playbook_files is required');
  } else if (value.playbook_file !== undefined && (value.playbook_files?.length ?? 0) > 0) {
    issues.add(pathOf('playbook_files'), 'conflicts with playbook_file: set one of them');
  }
  const folders = (option: 'playbook_paths' | 'role_paths'): string[] =>
    (value[option] ?? []).flatMap((path, index) => localDirectory(path, joinPath(pathOf(option), index), context, issues) ?? []);
  if (value.galaxy_command !== undefined && value.galaxy_file === undefined) {
    issues.add(pathOf('galaxy_command'), 'galaxy_command is used only with galaxy_file');
  }
  return {
    type: 'ansible-local',
    index: entry.index,
    playbook_files: playbooks,
    playbook_dir: localDirectory(value.playbook_dir, pathOf('playbook_dir'), context, issues),
    playbook_paths: folders('playbook_paths'),
    role_paths: folders('role_paths'),
    group_vars: localDirectory(value.group_vars, pathOf('group_vars'), context, issues),
    host_vars: localDirectory(value.host_vars, pathOf('host_vars'), context, issues),
    galaxy_file: value.galaxy_file === undefined ? undefined : localFiles([value.galaxy_file], () => pathOf('galaxy_file'), 'file', context, issues)[0],
    galaxy_command: value.galaxy_command ?? DEFAULT_GALAXY_COMMAND,
    extra_arguments: value.extra_arguments ?? [],
    inventory_groups: value.inventory_groups ?? [],
    inventory_file: value.inventory_file === undefined ? undefined : localFiles([value.inventory_file], () => pathOf('inventory_file'), 'file', context, issues)[0],
    command: value.command ?? DEFAULT_ANSIBLE_COMMAND,
    staging_directory: value.staging_directory,
    clean_staging_directory: value.clean_staging_directory ?? false,
    pause_before_ms: value.pause_before ?? 0,
    timeout_ms: value.timeout || undefined,
  };
}

function normalizeShellLocal(entry: Entry<ShellLocalShape>, context: ProvisionerContext, issues: Issues): ShellLocalProvisioner {
  const { value, pathOf } = entry;
  const inline = value.command !== undefined ? [value.command] : value.inline && value.inline.length > 0 ? value.inline : undefined;
  const sources = (
    [['command', value.command], ['inline', value.inline?.length ? value.inline : undefined], ['script', value.script], ['scripts', value.scripts?.length ? value.scripts : undefined]] as const
  ).filter(([option, set]) => set !== undefined || entry.bad.has(option));
  const [first, ...others] = sources;
  if (first === undefined) issues.add(entry.base, 'one of command, inline, script or scripts is required');
  for (const [option] of others) {
    issues.add(pathOf(option), `conflicts with ${first?.[0] ?? ''}: set exactly one of command, inline, script or scripts`);
  }
  if (value.max_retries) issues.add(pathOf('max_retries'), 'max_retries is only supported on shell provisioners');
  let scripts: string[] = [];
  if (value.script !== undefined) scripts = localFiles([value.script], () => pathOf('script'), 'file', context, issues);
  else if (value.scripts !== undefined) scripts = localFiles(value.scripts, (index) => joinPath(pathOf('scripts'), index), 'file', context, issues);
  const execute = value.execute_command && value.execute_command.length > 0 ? value.execute_command : DEFAULT_SHELL_LOCAL_EXECUTE_COMMAND;
  if (!execute.some((part) => part.includes('{{.Script}}') || part.includes('{{ .Script }}'))) {
    issues.add(pathOf('execute_command'), 'execute_command must run {{.Script}}');
  }
  return {
    type: 'shell-local',
    index: entry.index,
    inline,
    scripts,
    environment_vars: value.environment_vars ?? [],
    env: value.env ?? {},
    execute_command: [...execute],
    inline_shebang: value.inline_shebang ?? DEFAULT_INLINE_SHEBANG,
    valid_exit_codes: value.valid_exit_codes && value.valid_exit_codes.length > 0 ? value.valid_exit_codes : [0],
    pause_before_ms: value.pause_before ?? 0,
    timeout_ms: value.timeout || undefined,
  };
}

function normalizeOne(raw: unknown, index: number, context: ProvisionerContext, issues: Issues): Provisioner | undefined {
  const base = joinPath('provisioners', index);
  if (!isPlainObject(raw)) {
    issues.add(base, 'a provisioner must be a JSON object');
    return undefined;
  }
  const type = raw.type;
  if (!SUPPORTED_PROVISIONERS.includes(type as SupportedType)) {
    issues.add(
      joinPath(base, 'type'),
      typeof type === 'string' && type !== ''
        ? `provisioner type "${type}" is not supported${UNSUPPORTED_HINTS[type] ?? ''}; supported types: ${SUPPORTED_PROVISIONERS.join(', ')}`
        : `type is required (one of ${SUPPORTED_PROVISIONERS.join(', ')})`,
    );
    return undefined;
  }
  const { options, pathOf } = withOverride(raw, base, context, issues);
  if (type === 'shell') {
    const entry = { ...parseEntry(options, shellShape, SHELL_HOST_FIELDS, pathOf, context, issues), index, base, pathOf };
    return appliesToBuild(entry, context, issues) ? normalizeShell(entry, context, issues) : undefined;
  }
  if (type === 'ansible-local') {
    const entry = { ...parseEntry(options, ansibleLocalShape, {}, pathOf, context, issues), index, base, pathOf };
    return appliesToBuild(entry, context, issues) ? normalizeAnsibleLocal(entry, context, issues) : undefined;
  }
  if (type === 'shell-local') {
    const entry = { ...parseEntry(options, shellLocalShape, SHELL_LOCAL_HOST_FIELDS, pathOf, context, issues), index, base, pathOf };
    return appliesToBuild(entry, context, issues) ? normalizeShellLocal(entry, context, issues) : undefined;
  }
  const entry = { ...parseEntry(options, fileShape, {}, pathOf, context, issues), index, base, pathOf };
  return appliesToBuild(entry, context, issues) ? normalizeFile(entry, context, issues) : undefined;
}

export function normalizeProvisioners(raw: unknown, context: ProvisionerContext, issues: Issues): Provisioner[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.add('provisioners', 'must be a list of provisioners');
    return [];
  }
  return raw.flatMap((item, index) => normalizeOne(item, index, context, issues) ?? []);
}
