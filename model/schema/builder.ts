/**
 * The shape of every option of Packer's `amazon-chroot` builder (AMIConfig, SnapshotConfig,
 * the chroot Config, and the parts of AccessConfig a factory honours). Values arrive here
 * rendered; defaults and cross-field rules live in ../builder.ts and ./rules.ts.
 */
import * as z from 'zod';
import type { ChrootMount } from '../types.ts';
import { cleanResourceName } from '../template/clean-resource-name.ts';
import {
  accountId, amiId, imageOwner, isKmsKey, KMS_KEY_MESSAGE, kmsKey, organizationArn, organizationalUnitArn, region,
} from './aws.ts';
import { blockDeviceMapping, volumeType } from './block-devices.ts';
import { boolean, integer, matching, options, string, stringList, stringMap } from './coerce.ts';
import { containedAbsolutePath, isContainedAbsolutePath } from './paths.ts';
import { tagList, tagMap } from './tags.ts';
import { isRfc3339 } from './time.ts';

export const ARCHITECTURES = ['x86_64', 'arm64', 'i386', 'x86_64_mac', 'arm64_mac'] as const;
export const BOOT_MODES = ['legacy-bios', 'uefi', 'uefi-preferred'] as const;

const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.map((value) => `"${value}"`).join(', ')}` });

const amiName = () =>
  string().superRefine((name, context) => {
    if (name.length < 3 || name.length > 128) {
      context.addIssue({ code: 'custom', message: `ami_name must be 3 to 128 characters long (got ${name.length})` });
    }
    if (name !== cleanResourceName(name)) {
      context.addIssue({
        code: 'custom',
        message:
          `ami_name "${name}" may only contain letters, digits, parentheses (()), square brackets ([]), spaces, ` +
          `periods (.), slashes (/), dashes (-), single quotes ('), at-signs (@) and underscores (_); ` +
          'the clean_resource_name template function replaces the others',
      });
    }
  });

const CHROOT_MOUNT_MESSAGE = 'each chroot_mounts entry must be 3 strings: [fstype, source, mountpoint]';

const chrootMount = () =>
  z
    .custom<ChrootMount>(
      (value) => Array.isArray(value) && value.length === 3 && value.every((item) => typeof item === 'string'),
      CHROOT_MOUNT_MESSAGE,
    )
    .refine(
      ([, , mountpoint]) => isContainedAbsolutePath(mountpoint),
      'the mountpoint (third element) must be an absolute path inside the chroot, without ".." segments',
    );

const devicePath = () => matching(/^\/dev\/[A-Za-z0-9._/-]+$/, 'a device path under /dev, such as "/dev/xvdf"');

const names = <T extends z.ZodType<string>>(item: T) => stringList(item, { commaSeparated: true });

export const builderShape = {
  type: z.literal('amazon-chroot', { error: 'must be "amazon-chroot"' }),
  name: string(),

  // AMIConfig
  ami_name: amiName(),
  ami_description: string().max(255, 'must be at most 255 characters (an EC2 limit)'),
  ami_virtualization_type: oneOf(['hvm', 'paravirtual']),
  ami_users: names(accountId()),
  ami_groups: names(z.literal('all', { error: 'the only launch permission group is "all" (public)' })),
  ami_org_arns: names(organizationArn()),
  ami_ou_arns: names(organizationalUnitArn()),
  ami_product_codes: names(string().min(1, 'must not be empty')),
  ami_regions: names(region()),
  skip_region_validation: boolean(),
  tags: tagMap(),
  tag: tagList(),
  ena_support: boolean(),
  sriov_support: boolean(),
  force_deregister: boolean(),
  force_delete_snapshot: boolean(),
  encrypt_boot: boolean(),
  kms_key_id: kmsKey(),
  // "" asks for the region's default key, as in Packer.
  region_kms_key_ids: z.record(region(), string().refine((key) => key === '' || isKmsKey(key), KMS_KEY_MESSAGE), {
    error: 'must be an object of region names to KMS keys',
  }),
  skip_save_build_region: boolean(),
  snapshot_copy_duration_minutes: integer().superRefine((minutes, context) => {
    if (minutes < 15) context.addIssue({ code: 'custom', message: 'must be at least 15 (minutes)' });
    else if (minutes % 15 !== 0) context.addIssue({ code: 'custom', message: 'must be a multiple of 15 (minutes)' });
  }),
  imds_support: z.literal('v2.0', { error: 'the only valid imds_support value is "v2.0"' }),
  deprecate_at: string().refine(isRfc3339, 'must be an RFC 3339 time such as "2030-01-02T15:04:05Z"'),
  deregistration_protection: options({ enabled: boolean().optional(), with_cooldown: boolean().optional() }),

  // SnapshotConfig
  snapshot_tags: tagMap(),
  snapshot_tag: tagList(),
  snapshot_users: names(accountId()),
  snapshot_groups: names(z.literal('all', { error: 'the only volume permission group is "all" (public)' })),

  // AccessConfig: what a factory honours.
  region: region(),
  max_retries: integer({ min: 0 }),
  aws_polling: options({ delay_seconds: integer({ min: 1 }).optional(), max_attempts: integer({ min: 1 }).optional() }),

  // The chroot builder
  ami_block_device_mappings: z.array(blockDeviceMapping(), { error: 'must be a list of block device mappings' }),
  chroot_mounts: z.array(chrootMount(), { error: 'must be a list of [fstype, source, mountpoint] lists' }),
  command_wrapper: string(),
  // The factory's own option: limits and network of the sandbox every command runs in. The
  // host caps each limit at its configured maximum (worker config `sandbox.maxima`).
  sandbox: options({
    memory_mb: integer({ min: 64 }).optional(),
    max_processes: integer({ min: 16 }).optional(),
    cpu_weight: integer({ min: 1, max: 10000 }).optional(),
    network: oneOf(['egress', 'none']).optional(),
  }),
  copy_files: stringList(containedAbsolutePath('a copy_files entry')),
  device_path: devicePath(),
  nvme_device_path: devicePath(),
  from_scratch: boolean(),
  mount_options: stringList(string()),
  // Packer's option is a string; an integer is accepted as the obvious shorthand.
  mount_partition: z.preprocess(
    (value) => (typeof value === 'number' && Number.isInteger(value) && value >= 0 ? String(value) : value),
    matching(/^\d+$/, 'a partition number such as "1" ("0" mounts the whole device)'),
  ),
  mount_path: containedAbsolutePath('mount_path'),
  post_mount_commands: stringList(string()),
  pre_mount_commands: stringList(string()),
  root_device_name: matching(/^(\/dev\/)?[a-z0-9]+$/, 'a device name such as "/dev/xvda"'),
  root_volume_size: integer({ min: 1 }),
  root_volume_type: volumeType(),
  source_ami: amiId(),
  source_ami_filter: options({
    filters: stringMap(z.string()).optional(),
    owners: names(imageOwner()).optional(),
    most_recent: boolean().optional(),
    include_deprecated: boolean().optional(),
  }),
  root_volume_tags: tagMap(),
  root_volume_tag: tagList(),
  root_volume_encrypt_boot: boolean(),
  root_volume_kms_key_id: kmsKey(),
  ami_architecture: oneOf(ARCHITECTURES),
  boot_mode: oneOf(BOOT_MODES),
  uefi_data: matching(/^[A-Za-z0-9+/]+={0,2}$/, 'base64 data (a UEFI variable store)'),
  tpm_support: z.literal('v2.0', { error: 'the only valid tpm_support value is "v2.0"' }),
};

export type BuilderShape = typeof builderShape;

/** Tag maps: their keys are rendered as well as their values, as Packer does. */
export const TAG_MAP_OPTIONS: ReadonlySet<string> = new Set(['tags', 'snapshot_tags', 'root_volume_tags']);
