/**
 * The build request: a Packer `amazon-chroot` template after parsing, rendering and
 * validation. Option names stay Packer's (snake_case) so a reader can hold this file next
 * to Packer's documentation. Every default is applied; functions, worker and CLI receive
 * this shape and never re-parse the template.
 */
import type { FieldError } from '../contract/field-errors.ts';

/** One `chroot_mounts` entry: [fstype, source, mountpoint inside the chroot]. */
export type ChrootMount = readonly [fstype: string, source: string, mountpoint: string];

export interface BlockDeviceMapping {
  device_name: string;
  delete_on_termination?: boolean;
  encrypted?: boolean;
  iops?: number;
  kms_key_id?: string;
  no_device?: boolean;
  snapshot_id?: string;
  throughput?: number;
  virtual_name?: string;
  volume_type?: string;
  volume_size?: number;
}

export interface SourceAmiFilter {
  filters: Record<string, string>;
  owners: string[];
  most_recent: boolean;
  /** Let deprecated images match (DescribeImages IncludeDeprecated). Defaults to false. */
  include_deprecated?: boolean;
}

export type BootMode = 'legacy-bios' | 'uefi' | 'uefi-preferred';
export type Architecture = 'x86_64' | 'arm64' | 'i386' | 'x86_64_mac' | 'arm64_mac';
export type VirtualizationType = 'hvm' | 'paravirtual';
export type VolumeType = 'standard' | 'io1' | 'io2' | 'gp2' | 'gp3' | 'sc1' | 'st1';

/**
 * Fields documented as templates that are rendered on the chroot host (they need
 * `{{.Device}}`, `{{.MountPath}}` or `{{.Command}}`) stay unrendered strings here, with
 * every other template function already applied; see `renderHostTemplate`.
 */
/**
 * A template's wishes for its sandbox (the factory's own builder option): the host refuses
 * limits above its maxima. `egress` is filtered outbound network; `none` is loopback only.
 */
export interface SandboxOptions {
  memory_mb?: number;
  max_processes?: number;
  cpu_weight?: number;
  network: 'egress' | 'none';
}

export interface AmazonChrootConfig {
  type: 'amazon-chroot';
  name: string;

  // AMI
  ami_name: string;
  /**
   * ami_description and the three tag maps (keys too) may still hold build data actions
   * (`{{ .SourceAMI }}`, ...): the planner renders them once the source image is known.
   */
  ami_description: string;
  ami_virtualization_type?: VirtualizationType;
  ami_architecture?: Architecture;
  boot_mode?: BootMode;
  uefi_data?: string;
  tpm_support?: 'v2.0';
  ena_support?: boolean;
  sriov_support: boolean;
  imds_support?: 'v2.0';
  tags: Record<string, string>;
  snapshot_tags: Record<string, string>;
  force_deregister: boolean;
  force_delete_snapshot: boolean;
  encrypt_boot?: boolean;
  kms_key_id?: string;
  deprecate_at?: string;
  deregistration_protection: { enabled: boolean; with_cooldown: boolean };
  ami_product_codes: string[];

  // Where the AMI goes
  region?: string;
  ami_regions: string[];
  region_kms_key_ids: Record<string, string>;
  skip_region_validation: boolean;
  skip_save_build_region: boolean;
  snapshot_copy_duration_minutes?: number;
  ami_users: string[];
  ami_groups: string[];
  ami_org_arns: string[];
  ami_ou_arns: string[];
  snapshot_users: string[];
  snapshot_groups: string[];

  // Source
  source_ami?: string;
  source_ami_filter?: SourceAmiFilter;
  from_scratch: boolean;
  root_device_name?: string;
  ami_block_device_mappings: BlockDeviceMapping[];

  // Chroot (host side)
  chroot_mounts: ChrootMount[];
  copy_files: string[];
  /** Host template: `{{.Command}}`. */
  command_wrapper: string;
  /** The sandbox every command of the build runs in; unset limits take the host's defaults. */
  sandbox: SandboxOptions;
  /** Host template: `{{.Device}}`. Must resolve inside the host's mount root. */
  mount_path: string;
  mount_options: string[];
  /** "0" mounts the whole device, "N" its N-th partition. */
  mount_partition: string;
  /** Host templates: `{{.Device}}`. */
  pre_mount_commands: string[];
  /** Host templates: `{{.Device}}`, `{{.MountPath}}`. */
  post_mount_commands: string[];
  device_path?: string;
  nvme_device_path?: string;

  // Volume
  root_volume_size?: number;
  root_volume_type?: VolumeType;
  root_volume_tags: Record<string, string>;
  root_volume_encrypt_boot?: boolean;
  root_volume_kms_key_id?: string;

  // Client behaviour the factory honours (credentials are refused, see validation)
  max_retries?: number;
  aws_polling?: { delay_seconds?: number; max_attempts?: number };
}

export interface ShellProvisioner {
  type: 'shell';
  /** Index in the template's `provisioners` array, for error messages and logs. */
  index: number;
  /** Inline commands, written to one script behind `inline_shebang`. */
  inline?: string[];
  /** Absolute paths on the machine that loaded the template. */
  scripts: string[];
  environment_vars: string[];
  env: Record<string, string>;
  /** Template: `{{.Vars}}`, `{{.Path}}`. */
  execute_command: string;
  inline_shebang: string;
  /** Where scripts are uploaded inside the chroot. */
  remote_folder: string;
  remote_file?: string;
  skip_clean: boolean;
  valid_exit_codes: number[];
  pause_before_ms: number;
  timeout_ms?: number;
  max_retries: number;
}

export interface FileProvisioner {
  type: 'file';
  index: number;
  /** Absolute host paths; a directory source ending in "/" copies its contents. */
  sources: string[];
  content?: string;
  /** Path inside the chroot. */
  destination: string;
}

/** Packer's `ansible-local`: run with the image's own Ansible, inside the chroot. */
export interface AnsibleLocalProvisioner {
  type: 'ansible-local';
  index: number;
  /** Absolute host paths: playbook_file, then playbook_files. */
  playbook_files: string[];
  /** Host folders: their contents land in the staging directory. */
  playbook_dir?: string;
  playbook_paths: string[];
  role_paths: string[];
  group_vars?: string;
  host_vars?: string;
  galaxy_file?: string;
  galaxy_command: string;
  extra_arguments: string[];
  inventory_groups: string[];
  inventory_file?: string;
  command: string;
  /** Inside the image; undefined: a new folder under /tmp/packer-provisioner-ansible-local. */
  staging_directory?: string;
  clean_staging_directory: boolean;
  pause_before_ms: number;
  timeout_ms?: number;
}

/** Packer's `shell-local`: host commands outside the chroot, only with the hostCommands grant. */
export interface ShellLocalProvisioner {
  type: 'shell-local';
  index: number;
  /** `command`, or `inline` lines: one script behind inline_shebang. */
  inline?: string[];
  /** Absolute host paths of scripts. */
  scripts: string[];
  environment_vars: string[];
  env: Record<string, string>;
  /** Packer's default: ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]. */
  execute_command: string[];
  inline_shebang: string;
  valid_exit_codes: number[];
  pause_before_ms: number;
  timeout_ms?: number;
}

export type Provisioner = ShellProvisioner | FileProvisioner | AnsibleLocalProvisioner | ShellLocalProvisioner;

/** Packer's `manifest` post-processor: served by the factory once the build succeeds. */
export interface ManifestPostProcessor {
  type: 'manifest';
  /** `post-processors[0]` or `post-processors[1][0]` (in a sequence), for error paths. */
  path: string;
  custom_data: Record<string, string> | null;
  /** Packer's strip_time: no build_time in the manifest. */
  strip_time: boolean;
}

export interface BuildRequest {
  builder: AmazonChrootConfig;
  provisioners: Provisioner[];
  /** Values of `sensitive-variables`: masked wherever the factory logs or prints. */
  sensitive_values: string[];
  /**
   * Every declared variable's final value (overrides applied, `{{env}}` and other functions
   * rendered). Passed back as `vars`, it reproduces this request without the environment.
   */
  variables_used: Record<string, string>;
  /**
   * Where the chosen builder sits in the template, for error paths: `builders[1]`, or ""
   * for a lone builder object. Absent in requests made before builders could be chosen.
   */
  builder_path?: string;
  /** The manifest post-processors that apply to this build; absent or empty: none. */
  post_processors?: ManifestPostProcessor[];
  /**
   * What Packer accepts but the requester should hear about (an undeclared variable rendered
   * as "", a deprecated function, ...), with field paths. Never fails a build.
   */
  warnings?: FieldError[];
}

export type { FieldError };
