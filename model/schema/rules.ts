/**
 * Rules between builder options: Packer's (chroot Builder.Prepare, AMIConfig.Prepare) and a
 * few EC2 constraints Packer leaves to fail at the end of a build. They run on whatever
 * options parsed; a rule whose inputs are invalid stays silent, since the shape error
 * already explains that input.
 */
import type { Issues } from '../errors.ts';
import { joinPath } from '../../contract/field-errors.ts';
import type { ParsedOptions } from './fields.ts';
import type { BuilderShape } from './builder.ts';
import { volumeSizeProblem } from './volume-sizes.ts';

export interface BuilderView extends ParsedOptions<BuilderShape> {
  pathOf: (option: string) => string;
}

type Rule = (view: BuilderView, issues: Issues) => void;

const valid = (view: BuilderView, ...options: string[]): boolean => options.every((option) => !view.bad.has(option));

const FROM_SCRATCH_REQUIRED = [
  'root_volume_size', 'pre_mount_commands', 'ami_virtualization_type', 'root_device_name', 'ami_block_device_mappings',
] as const;

function setAndNotEmpty(view: BuilderView, option: keyof BuilderShape): boolean {
  if (!view.given.has(option)) return false;
  const value = view.value[option];
  return !Array.isArray(value) || value.length > 0;
}

const amiNameRequired: Rule = (view, issues) => {
  if (!view.given.has('ami_name')) issues.add(view.pathOf('ami_name'), 'ami_name must be specified');
};

const source: Rule = (view, issues) => {
  if (!valid(view, 'from_scratch')) return;
  const at = view.pathOf;
  if (view.value.from_scratch === true) {
    for (const option of ['source_ami', 'source_ami_filter']) {
      if (view.given.has(option)) issues.add(at(option), `${option} must not be set with from_scratch: a from-scratch build has no source image`);
    }
    for (const option of FROM_SCRATCH_REQUIRED) {
      if (!setAndNotEmpty(view, option)) issues.add(at(option), `${option} is required with from_scratch`);
    }
    const type = view.value.root_volume_type;
    if (type === 'io1' || type === 'io2') {
      issues.add(at('root_volume_type'), `a from-scratch volume cannot be ${type}: it needs provisioned iops, which the root volume options cannot give`);
    }
    return;
  }
  const hasAmi = view.given.has('source_ami');
  const hasFilter = view.given.has('source_ami_filter');
  if (!hasAmi && !hasFilter) {
    issues.add(at('source_ami'), 'source_ami or source_ami_filter is required (unless from_scratch is true)');
  }
  if (hasAmi && hasFilter) {
    issues.add(at('source_ami_filter'), 'set either source_ami or source_ami_filter, not both');
  }
  const hasMappings = setAndNotEmpty(view, 'ami_block_device_mappings');
  const hasRoot = view.given.has('root_device_name');
  if (hasMappings && hasRoot && !view.given.has('root_volume_size')) {
    issues.add(at('root_volume_size'), 'root_volume_size is required when ami_block_device_mappings is set');
  } else if (hasMappings && !hasRoot) {
    issues.add(at('root_device_name'), 'root_device_name is required when ami_block_device_mappings is set');
  } else if (hasRoot && !hasMappings) {
    issues.add(at('ami_block_device_mappings'), 'ami_block_device_mappings is required when root_device_name is set');
  }
};

const rootDeviceMapped: Rule = (view, issues) => {
  const root = view.value.root_device_name;
  const mappings = view.value.ami_block_device_mappings;
  if (root === undefined || mappings === undefined || mappings.length === 0) return;
  if (!mappings.some((mapping) => mapping.device_name === root)) {
    issues.add(view.pathOf('root_device_name'), `no entry of ami_block_device_mappings has device_name "${root}": the root volume needs one`);
  }
};

const sourceFilterOwners: Rule = (view, issues) => {
  const filter = view.value.source_ami_filter;
  if (filter && (filter.owners ?? []).length === 0) {
    issues.add(
      joinPath(view.pathOf('source_ami_filter'), 'owners'),
      'owners is required: without it an image published by any account could match',
    );
  }
};

const enhancedNetworkingNeedsHvm: Rule = (view, issues) => {
  if (view.value.ami_virtualization_type !== 'paravirtual') return;
  for (const option of ['ena_support', 'sriov_support'] as const) {
    if (view.value[option] === true) {
      issues.add(view.pathOf(option), `${option} (enhanced networking) needs an HVM image; ami_virtualization_type is "paravirtual"`);
    }
  }
};

const encryptionKeys: Rule = (view, issues) => {
  const { value, pathOf } = view;
  const regionKeys = value.region_kms_key_ids ?? {};
  if (valid(view, 'encrypt_boot') && value.encrypt_boot !== true) {
    if (value.kms_key_id !== undefined) issues.add(pathOf('kms_key_id'), 'kms_key_id needs encrypt_boot: true');
    if (Object.values(regionKeys).some((key) => key !== '')) {
      issues.add(pathOf('region_kms_key_ids'), 'region_kms_key_ids needs encrypt_boot: true');
    }
  }
  if (valid(view, 'root_volume_encrypt_boot') && value.root_volume_kms_key_id !== undefined && value.root_volume_encrypt_boot !== true) {
    issues.add(pathOf('root_volume_kms_key_id'), 'root_volume_kms_key_id needs root_volume_encrypt_boot: true');
  }
};

const regionKeysMatchRegions: Rule = (view, issues) => {
  const regionKeys = view.value.region_kms_key_ids;
  if (regionKeys === undefined || Object.keys(regionKeys).length === 0 || !valid(view, 'ami_regions')) return;
  const regions = view.value.ami_regions ?? [];
  for (const region of Object.keys(regionKeys)) {
    if (!regions.includes(region)) {
      issues.add(joinPath(view.pathOf('region_kms_key_ids'), region), `region ${region} is in region_kms_key_ids but not in ami_regions`);
    }
  }
  regions.forEach((region, index) => {
    if (!Object.hasOwn(regionKeys, region)) {
      issues.add(
        joinPath(view.pathOf('ami_regions'), index),
        `region ${region} has no entry in region_kms_key_ids, which must name every region of ami_regions ("" for that region's default key)`,
      );
    }
  });
};

// EC2 cannot share what its default (AWS managed) key encrypted with other accounts.
const sharingNeedsCustomerKeys: Rule = (view, issues) => {
  const { value, pathOf } = view;
  const regionKeys = value.region_kms_key_ids ?? {};
  const audiences = [
    { options: ['ami_users', 'ami_org_arns', 'ami_ou_arns'] as const, what: 'AMI' },
    { options: ['snapshot_users'] as const, what: 'snapshot' },
  ];
  for (const { options, what } of audiences) {
    const sharedWith = options.find((option) => (value[option] ?? []).length > 0);
    if (sharedWith === undefined) continue;
    if (value.encrypt_boot === true && value.kms_key_id === undefined && Object.keys(regionKeys).length === 0) {
      issues.add(pathOf(sharedWith), `cannot share an ${what} encrypted with the default KMS key: set kms_key_id (or region_kms_key_ids) to a customer managed key`);
    }
    for (const [region, key] of Object.entries(regionKeys)) {
      if (key === '') {
        issues.add(joinPath(pathOf('region_kms_key_ids'), region), `cannot share an ${what} encrypted with the default KMS key of ${region}: give a customer managed key`);
      }
    }
  }
};

const encryptedIsNotPublic: Rule = (view, issues) => {
  const { value, pathOf } = view;
  if (value.encrypt_boot !== true && value.root_volume_encrypt_boot !== true) return;
  for (const option of ['ami_groups', 'snapshot_groups'] as const) {
    if ((value[option] ?? []).includes('all')) {
      issues.add(pathOf(option), `an encrypted image cannot be made public (${option} ["all"])`);
    }
  }
};

const forceDeleteSnapshotNeedsDeregister: Rule = (view, issues) => {
  if (view.value.force_delete_snapshot === true && valid(view, 'force_deregister') && view.value.force_deregister !== true) {
    issues.add(
      view.pathOf('force_delete_snapshot'),
      'force_delete_snapshot deletes the snapshots of the AMI that force_deregister removes: set force_deregister: true too',
    );
  }
};

const bootModeFeatures: Rule = (view, issues) => {
  const { value, pathOf } = view;
  if (!valid(view, 'boot_mode', 'ami_architecture')) return;
  if (value.tpm_support !== undefined && value.boot_mode !== 'uefi') {
    issues.add(pathOf('tpm_support'), 'tpm_support needs boot_mode "uefi" (NitroTPM requires UEFI boot)');
  }
  if (value.uefi_data !== undefined) {
    // As in Packer: arm64 images boot UEFI when boot_mode is not set.
    const uefi = value.boot_mode === 'uefi' || value.boot_mode === 'uefi-preferred' || (value.boot_mode === undefined && value.ami_architecture === 'arm64');
    if (!uefi) issues.add(pathOf('uefi_data'), 'uefi_data needs boot_mode "uefi" or "uefi-preferred"');
  }
};

const skipBuildRegionNeedsCopies: Rule = (view, issues) => {
  if (view.value.skip_save_build_region !== true || !valid(view, 'ami_regions', 'region')) return;
  const copies = (view.value.ami_regions ?? []).filter((region) => region !== view.value.region);
  if (copies.length === 0) {
    issues.add(
      view.pathOf('skip_save_build_region'),
      'skip_save_build_region keeps the AMI only in the other ami_regions, and none is given: the build would keep no image',
    );
  }
};

/** The root volume's size against EBS's limits for its type (gp2 when the type is unset, as EC2). */
const rootVolumeSize: Rule = (view, issues) => {
  if (!valid(view, 'root_volume_size', 'root_volume_type')) return;
  const size = view.value.root_volume_size;
  if (size === undefined) return;
  const problem = volumeSizeProblem(size, view.value.root_volume_type);
  if (problem !== undefined) issues.add(view.pathOf('root_volume_size'), `root_volume_size ${problem}`);
};

const RULES: readonly Rule[] = [
  amiNameRequired, source, rootDeviceMapped, sourceFilterOwners, enhancedNetworkingNeedsHvm, encryptionKeys,
  regionKeysMatchRegions, sharingNeedsCustomerKeys, encryptedIsNotPublic, forceDeleteSnapshotNeedsDeregister,
  bootModeFeatures, skipBuildRegionNeedsCopies, rootVolumeSize,
];

export function checkBuilderRules(view: BuilderView, issues: Issues): void {
  for (const rule of RULES) rule(view, issues);
}
