/**
 * `ami_block_device_mappings` entries, with Packer's BlockDevice.Prepare rules and the
 * EBS limits behind them.
 */
import * as z from 'zod';
import type { BlockDeviceMapping } from '../types.ts';
import type { Issues } from '../errors.ts';
import { joinPath } from '../../contract/field-errors.ts';
import { kmsKey, snapshotId } from './aws.ts';
import { boolean, integer, matching, options, string } from './coerce.ts';
import { volumeSizeProblem } from './volume-sizes.ts';

export const VOLUME_TYPES = ['standard', 'io1', 'io2', 'gp2', 'gp3', 'sc1', 'st1'] as const;

export const volumeType = () =>
  z.enum(VOLUME_TYPES, { error: `must be one of ${VOLUME_TYPES.join(', ')}` });

export const blockDeviceMapping = () =>
  options({
    device_name: string().optional(),
    delete_on_termination: boolean().optional(),
    encrypted: boolean().optional(),
    iops: integer({ min: 1 }).optional(),
    kms_key_id: kmsKey().optional(),
    no_device: boolean().optional(),
    snapshot_id: snapshotId().optional(),
    throughput: integer({ min: 1 }).optional(),
    virtual_name: matching(/^ephemeral\d+$/, 'an instance store name such as "ephemeral0"').optional(),
    volume_type: volumeType().optional(),
    volume_size: integer({ min: 1 }).optional(),
  });

export type ParsedBlockDeviceMapping = z.output<ReturnType<typeof blockDeviceMapping>>;

// Packer's limits (builder/common/block_device.go).
const IOPS_RATIO: Readonly<Record<string, number>> = { io1: 50, io2: 500 };
const MIN_IOPS = 100;
const MAX_IOPS = 64_000;
const MIN_IOPS_GP3 = 3_000;
const MAX_IOPS_GP3 = 16_000;
const MIN_THROUGHPUT = 125;
const MAX_THROUGHPUT = 1_000;

function checkMapping(mapping: ParsedBlockDeviceMapping, path: string, issues: Issues): void {
  const at = (field: string): string => joinPath(path, field);
  const type = mapping.volume_type;
  if (!mapping.device_name) {
    issues.add(at('device_name'), 'device_name must be specified for every block device mapping');
  }
  const sizeProblem = mapping.volume_size === undefined ? undefined : volumeSizeProblem(mapping.volume_size, type);
  if (sizeProblem !== undefined) issues.add(at('volume_size'), `volume_size ${sizeProblem}`);
  if (mapping.kms_key_id !== undefined && mapping.encrypted === false) {
    issues.add(at('kms_key_id'), 'a kms_key_id needs "encrypted": true');
  }
  if (mapping.iops !== undefined) {
    if (type === 'io1' || type === 'io2') {
      if (mapping.iops < MIN_IOPS || mapping.iops > MAX_IOPS) {
        issues.add(at('iops'), `iops must be between ${MIN_IOPS} and ${MAX_IOPS} for ${type} volumes`);
      }
      const ratio = IOPS_RATIO[type] as number;
      if (mapping.volume_size !== undefined && mapping.iops / mapping.volume_size > ratio) {
        issues.add(at('iops'), `the maximum ratio of provisioned iops to volume size (GiB) is ${ratio}:1 for ${type} volumes`);
      }
    } else if (type === 'gp3') {
      if (mapping.iops < MIN_IOPS_GP3 || mapping.iops > MAX_IOPS_GP3) {
        issues.add(at('iops'), `iops must be between ${MIN_IOPS_GP3} and ${MAX_IOPS_GP3} for gp3 volumes`);
      }
    } else {
      issues.add(at('iops'), `iops is only valid for io1, io2 and gp3 volumes (volume_type is ${type ?? 'not set'})`);
    }
  } else if (type === 'io1' || type === 'io2') {
    issues.add(at('iops'), `iops is required for ${type} volumes`);
  }
  if (mapping.throughput !== undefined) {
    if (type !== 'gp3') {
      issues.add(at('throughput'), `throughput is only valid for gp3 volumes (volume_type is ${type ?? 'not set'})`);
    } else if (mapping.throughput < MIN_THROUGHPUT || mapping.throughput > MAX_THROUGHPUT) {
      issues.add(at('throughput'), `throughput must be between ${MIN_THROUGHPUT} and ${MAX_THROUGHPUT} MiB/s`);
    }
  }
}

/**
 * Checks each entry and that device names are unique; returns the entries as the contract's
 * type. Entries that failed their shape are `undefined`: the others are still checked.
 */
export function checkBlockDeviceMappings(
  mappings: readonly (ParsedBlockDeviceMapping | undefined)[],
  path: string,
  issues: Issues,
): BlockDeviceMapping[] {
  const seen = new Map<string, number>();
  return mappings.flatMap((mapping, index) => {
    if (mapping === undefined) return [];
    const entry = joinPath(path, index);
    checkMapping(mapping, entry, issues);
    const name = mapping.device_name ?? '';
    const first = seen.get(name);
    if (name !== '' && first !== undefined) {
      issues.add(joinPath(entry, 'device_name'), `device "${name}" is already mapped by entry [${first}]`);
    }
    seen.set(name, first ?? index);
    return [{ ...mapping, device_name: name }];
  });
}

/** The entries of a list that failed as a whole, each parsed on its own (shape errors are already reported). */
export function salvageBlockDeviceMappings(raw: unknown): (ParsedBlockDeviceMapping | undefined)[] {
  if (!Array.isArray(raw)) return [];
  const shape = blockDeviceMapping();
  return raw.map((entry: unknown) => {
    const result = shape.safeParse(entry);
    return result.success ? result.data : undefined;
  });
}
