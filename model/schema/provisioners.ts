/**
 * Shapes of the provisioners a chroot build runs: Packer's `shell` and `file`, plus the
 * options Packer's core gives every provisioner (only, except, override, pause_before,
 * max_retries, timeout).
 */
import * as z from 'zod';
import { boolean, integer, matching, string, stringList } from './coerce.ts';
import { parseGoDuration } from './duration.ts';
import { containedAbsolutePath } from './paths.ts';

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const duration = () =>
  string()
    .refine((text) => (parseGoDuration(text) ?? -1) >= 0, 'must be a duration such as "30s", "5m" or "1h30m"')
    .transform((text) => parseGoDuration(text) ?? 0);

const names = () => stringList(string(), { commaSeparated: true });

export const commonShape = {
  type: string(),
  only: names(),
  except: names(),
  override: z.record(z.string(), z.unknown(), { error: 'must be an object of build names to option objects' }),
  pause_before: duration(),
  max_retries: integer({ min: 0 }),
  timeout: duration(),
};

const environmentAssignment = () =>
  string().superRefine((assignment, context) => {
    const equals = assignment.indexOf('=');
    if (equals < 0) context.addIssue({ code: 'custom', message: `must be KEY=VALUE, got "${assignment}"` });
    else if (!ENV_NAME.test(assignment.slice(0, equals))) {
      context.addIssue({ code: 'custom', message: `"${assignment.slice(0, equals)}" is not a valid environment variable name` });
    }
  });

export const shellShape = {
  ...commonShape,
  inline: stringList(string()),
  script: string(),
  scripts: stringList(string()),
  environment_vars: stringList(environmentAssignment()),
  env: z.record(
    string().regex(ENV_NAME, 'is not a valid environment variable name'),
    z.preprocess((value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value), string()),
    { error: 'must be an object of environment variable names to values' },
  ),
  execute_command: string(),
  inline_shebang: string(),
  remote_folder: containedAbsolutePath('remote_folder'),
  remote_file: matching(/^(?!\.\.?$)[^/]+$/, 'a file name (no "/")'),
  remote_path: containedAbsolutePath('remote_path').refine((path) => !path.endsWith('/'), 'remote_path must name a file, not a directory'),
  skip_clean: boolean(),
  valid_exit_codes: z.array(integer({ min: 0, max: 255 }), { error: 'must be a list of exit codes' }),
  // Scripts reach the image byte for byte, whatever this says; accepted for compatibility.
  binary: boolean(),
  // A chroot starts a process at once; there is nothing to retry starting.
  start_retry_timeout: duration(),
  // Accepted only with their default values: anything else changes how commands run.
  expect_disconnect: boolean().refine((value) => !value, 'a chroot has no connection to lose: expect_disconnect is not supported'),
  use_env_var_file: boolean().refine((value) => !value, 'use_env_var_file is not supported: variables are passed through {{.Vars}}'),
  env_var_format: string().refine(() => false, 'env_var_format is not supported: {{.Vars}} is always NAME=\'value\' pairs'),
  pause_after: duration().refine((ms) => ms === 0, 'pause_after is not supported: use pause_before on the next provisioner'),
};

export const FILE_DIRECTIONS = ['upload', 'download'] as const;

export const fileShape = {
  ...commonShape,
  source: string(),
  sources: stringList(string()),
  content: string(),
  destination: string(),
  direction: z.enum(FILE_DIRECTIONS, { error: 'must be "upload"' }),
  generated: boolean(),
};

/**
 * Packer's `ansible-local`: the playbook and its folders uploaded into the image, then the
 * image's own `ansible-playbook` run inside the chroot against 127.0.0.1.
 */
export const ansibleLocalShape = {
  ...commonShape,
  playbook_file: string(),
  playbook_files: stringList(string()),
  playbook_dir: string(),
  playbook_paths: stringList(string()),
  role_paths: stringList(string()),
  group_vars: string(),
  host_vars: string(),
  galaxy_file: string(),
  galaxy_command: string(),
  extra_arguments: stringList(string()),
  inventory_groups: names(),
  inventory_file: string(),
  command: string(),
  staging_directory: containedAbsolutePath('staging_directory'),
  clean_staging_directory: boolean(),
};

/**
 * Packer's `shell-local` provisioner: commands on the chroot host, outside the image (an
 * operator's grant, as pre/post_mount_commands).
 */
export const shellLocalShape = {
  ...commonShape,
  command: string(),
  inline: stringList(string()),
  script: string(),
  scripts: stringList(string()),
  environment_vars: stringList(environmentAssignment()),
  env: shellShape.env,
  execute_command: stringList(string()),
  inline_shebang: string(),
  valid_exit_codes: shellShape.valid_exit_codes,
};

export type ShellShape = typeof shellShape;
export type AnsibleLocalShape = typeof ansibleLocalShape;
export type ShellLocalShape = typeof shellLocalShape;
export type FileShape = typeof fileShape;
