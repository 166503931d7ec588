/**
 * One `amazon-chroot` builder object to the normalized AmazonChrootConfig: render its
 * strings, refuse credentials, validate each option, run the cross-field rules, then apply
 * Packer's defaults.
 */
import type { AmazonChrootConfig, ChrootMount } from './types.ts';
import { Issues } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { renderOption } from './render-tree.ts';
import { BUILD_DATA_OPTIONS, BUILDER_HOST_FIELDS } from './template/host-fields.ts';
import type { RequestTemplateContext } from './template/request.ts';
import { IGNORED_OPTIONS, isEmptyOptionValue, REFUSED_OPTIONS } from './schema/access.ts';
import { checkBlockDeviceMappings, salvageBlockDeviceMappings } from './schema/block-devices.ts';
import { builderShape, TAG_MAP_OPTIONS } from './schema/builder.ts';
import type { BuilderShape } from './schema/builder.ts';
import { isPlainObject, parseOptions, unknownKeyMessage } from './schema/fields.ts';
import type { Parsed } from './schema/fields.ts';
import { checkBuilderRules } from './schema/rules.ts';
import { mergeTags } from './schema/tags.ts';

export const BUILDER_TYPE = 'amazon-chroot';

export const DEFAULT_CHROOT_MOUNTS: readonly ChrootMount[] = [
  ['proc', 'proc', '/proc'],
  ['sysfs', 'sysfs', '/sys'],
  ['bind', '/dev', '/dev'],
  ['devpts', 'devpts', '/dev/pts'],
  ['binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc'],
];
/** Packer's own mount directory, so operators find volumes where Packer users look. */
export const DEFAULT_MOUNT_ROOT = '/mnt/packer-amazon-chroot-volumes';
export const DEFAULT_MOUNT_PATH = `${DEFAULT_MOUNT_ROOT}/{{.Device}}`;
export const DEFAULT_COMMAND_WRAPPER = '{{.Command}}';
// Packer's AccessConfig default: the SDK's 3 retries trip over EC2 throttling.
const DEFAULT_MAX_RETRIES = 10;

const KNOWN_OPTIONS = [...Object.keys(builderShape), ...Object.keys(REFUSED_OPTIONS), ...Object.keys(IGNORED_OPTIONS)];

/** Renders the options and reports refused, ignored-but-invalid and unknown ones. */
function renderBuilderOptions(
  raw: Readonly<Record<string, unknown>>,
  pathOf: (option: string) => string,
  context: RequestTemplateContext,
  issues: Issues,
): { rendered: Record<string, unknown>; unrendered: Set<string> } {
  const rendered: Record<string, unknown> = {};
  const unrendered = new Set<string>();
  for (const [option, value] of Object.entries(raw)) {
    const path = pathOf(option);
    const refusal = REFUSED_OPTIONS[option];
    if (refusal !== undefined) {
      // Rendered aside: `{{user `aws_access_key`}}` with an empty default means "not set".
      const scratch = new Issues();
      const { value: text, ok } = renderOption(value, path, { hostFields: [], inVariables: false }, context, scratch);
      if (!ok || !isEmptyOptionValue(text)) issues.add(path, refusal);
      continue;
    }
    if (option in IGNORED_OPTIONS) {
      const result = IGNORED_OPTIONS[option as keyof typeof IGNORED_OPTIONS].safeParse(value);
      if (!result.success && value !== null && value !== '') issues.add(path, 'must be true or false');
      continue;
    }
    if (!Object.hasOwn(builderShape, option)) {
      issues.add(path, unknownKeyMessage(option, KNOWN_OPTIONS));
      continue;
    }
    const placement = { hostFields: BUILDER_HOST_FIELDS[option] ?? [], inVariables: false, buildData: BUILD_DATA_OPTIONS.has(option) };
    const result = renderOption(value, path, placement, context, issues, { renderKeys: TAG_MAP_OPTIONS.has(option) });
    rendered[option] = result.value;
    if (!result.ok) unrendered.add(option);
  }
  return { rendered, unrendered };
}

function withDefaults(value: Parsed<BuilderShape>, merged: {
  tags: Record<string, string>;
  snapshot_tags: Record<string, string>;
  root_volume_tags: Record<string, string>;
  ami_block_device_mappings: AmazonChrootConfig['ami_block_device_mappings'];
}): AmazonChrootConfig {
  const fromScratch = value.from_scratch ?? false;
  const protection = value.deregistration_protection ?? {};
  const filter = value.source_ami_filter;
  const chrootMounts = value.chroot_mounts ?? [];
  return {
    type: BUILDER_TYPE,
    name: value.name ?? BUILDER_TYPE,
    ami_name: value.ami_name ?? '',
    ami_description: value.ami_description ?? '',
    ami_virtualization_type: value.ami_virtualization_type,
    // Packer registers a from-scratch image as x86_64 unless told otherwise; from a source
    // image it keeps the source's architecture.
    ami_architecture: value.ami_architecture ?? (fromScratch ? 'x86_64' : undefined),
    boot_mode: value.boot_mode,
    uefi_data: value.uefi_data,
    tpm_support: value.tpm_support,
    ena_support: value.ena_support,
    sriov_support: value.sriov_support ?? false,
    imds_support: value.imds_support,
    tags: merged.tags,
    snapshot_tags: merged.snapshot_tags,
    force_deregister: value.force_deregister ?? false,
    force_delete_snapshot: value.force_delete_snapshot ?? false,
    encrypt_boot: value.encrypt_boot,
    kms_key_id: value.kms_key_id,
    deprecate_at: value.deprecate_at,
    deregistration_protection: {
      // A cooldown only exists on a protected image.
      enabled: (protection.enabled ?? false) || (protection.with_cooldown ?? false),
      with_cooldown: protection.with_cooldown ?? false,
    },
    ami_product_codes: value.ami_product_codes ?? [],
    region: value.region,
    // As Packer: each region once, and never a copy into the region the AMI is built in.
    ami_regions: [...new Set(value.ami_regions ?? [])].filter((region) => region !== value.region),
    region_kms_key_ids: value.region_kms_key_ids ?? {},
    skip_region_validation: value.skip_region_validation ?? false,
    skip_save_build_region: value.skip_save_build_region ?? false,
    snapshot_copy_duration_minutes: value.snapshot_copy_duration_minutes,
    ami_users: value.ami_users ?? [],
    ami_groups: value.ami_groups ?? [],
    ami_org_arns: value.ami_org_arns ?? [],
    ami_ou_arns: value.ami_ou_arns ?? [],
    snapshot_users: value.snapshot_users ?? [],
    snapshot_groups: value.snapshot_groups ?? [],
    source_ami: value.source_ami,
    source_ami_filter: filter && {
      filters: filter.filters ?? {},
      owners: filter.owners ?? [],
      most_recent: filter.most_recent ?? false,
      include_deprecated: filter.include_deprecated ?? false,
    },
    from_scratch: fromScratch,
    root_device_name: value.root_device_name,
    ami_block_device_mappings: merged.ami_block_device_mappings,
    // An empty list means the defaults in Packer too.
    chroot_mounts: chrootMounts.length > 0 ? chrootMounts : [...DEFAULT_CHROOT_MOUNTS],
    // resolv.conf lets the chroot resolve names; a from-scratch volume has nowhere to put it yet.
    copy_files: value.copy_files ?? (fromScratch ? [] : ['/etc/resolv.conf']),
    command_wrapper: value.command_wrapper ?? DEFAULT_COMMAND_WRAPPER,
    sandbox: { ...value.sandbox, network: value.sandbox?.network ?? 'egress' },
    mount_path: value.mount_path ?? DEFAULT_MOUNT_PATH,
    mount_options: value.mount_options ?? [],
    mount_partition: value.mount_partition ?? '1',
    pre_mount_commands: value.pre_mount_commands ?? [],
    post_mount_commands: value.post_mount_commands ?? [],
    device_path: value.device_path,
    nvme_device_path: value.nvme_device_path,
    root_volume_size: value.root_volume_size,
    // Packer creates a from-scratch volume as gp2 unless told otherwise.
    root_volume_type: value.root_volume_type ?? (fromScratch ? 'gp2' : undefined),
    root_volume_tags: merged.root_volume_tags,
    root_volume_encrypt_boot: value.root_volume_encrypt_boot,
    root_volume_kms_key_id: value.root_volume_kms_key_id,
    max_retries: value.max_retries ?? DEFAULT_MAX_RETRIES,
    aws_polling: value.aws_polling,
  };
}

/** `base` is the builder's own path: `builders[0]`, or "" for a lone builder object. */
export function normalizeBuilder(
  raw: unknown,
  base: string,
  context: RequestTemplateContext,
  issues: Issues,
): AmazonChrootConfig | undefined {
  if (!isPlainObject(raw)) {
    issues.add(base, 'a builder must be a JSON object');
    return undefined;
  }
  const pathOf = (option: string): string => joinPath(base, option);
  const buildName = typeof raw.name === 'string' && raw.name !== '' ? raw.name : BUILDER_TYPE;
  const { rendered, unrendered } = renderBuilderOptions(raw, pathOf, { ...context, buildName }, issues);
  const parsed = parseOptions(rendered, builderShape, pathOf, issues, unrendered);
  checkBuilderRules({ ...parsed, pathOf }, issues);
  const { value } = parsed;
  return withDefaults(value, {
    tags: mergeTags(value.tags, value.tag, { map: 'tags', list: 'tag' }, pathOf, issues),
    snapshot_tags: mergeTags(value.snapshot_tags, value.snapshot_tag, { map: 'snapshot_tags', list: 'snapshot_tag' }, pathOf, issues),
    root_volume_tags: mergeTags(value.root_volume_tags, value.root_volume_tag, { map: 'root_volume_tags', list: 'root_volume_tag' }, pathOf, issues),
    ami_block_device_mappings: checkBlockDeviceMappings(
      // One malformed entry fails the list; the other entries still deserve their checks.
      value.ami_block_device_mappings ??
        (parsed.bad.has('ami_block_device_mappings') ? salvageBlockDeviceMappings(rendered.ami_block_device_mappings) : []),
      pathOf('ami_block_device_mappings'),
      issues,
    ),
  });
}
