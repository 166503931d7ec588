/**
 * Volume pools: volumes made ahead of time from a family's source snapshot, one pool per
 * volume specification and zone, so a build whose volume would be the same takes one instead
 * of waiting for CreateVolume (contract shared by the planner, the workflow and the tender,
 * functions/tend-volume-pools.ts).
 *
 * A pool is not a store of its own: it is the volumes in a zone that carry the pool tag with
 * the specification's key. A build takes one by attaching it, which EC2 lets only one instance
 * do, then overwrites the tag with TAKEN before anything is written to it, so a volume is
 * pristine (a fresh restore of the snapshot) for as long as it carries a key. A pooled volume
 * is used by one build and deleted with it, like any build volume: nothing of one build's
 * provisioning can reach another through a pool.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';

/** On every pooled volume: the pool's key while pristine, TAKEN once a build attached it. */
export const VOLUME_POOL_TAG = 'ami-factory:volume-pool';
/** The family whose pool made the volume: what the tender counts, refills and cleans by. */
export const VOLUME_POOL_FAMILY_TAG = 'ami-factory:volume-pool-family';
/** The pool tag's value once a build took the volume: no pool's key, never counted or taken again. */
export const TAKEN = 'taken';

/** Keys are this: never TAKEN, and short enough for a tag value and a filter. */
export const VOLUME_POOL_KEY = /^vp-[0-9a-f]{24}$/;

/** A family's pool, in factory.yml (`volume_pool:`). */
export const VolumePoolConfigSchema = z.strictObject({
  /** Pristine volumes kept in each zone of the pool. */
  size: z.number().int().min(1).max(20),
  /** Zones to keep them in; absent: the zones of the chroot hosts' subnets. */
  zones: z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'not an availability zone name')).min(1).optional(),
  /**
   * Fast Snapshot Restore on the source snapshot in the pool's zones: a pooled volume then reads
   * at full speed from its first block. Billed per snapshot and zone by the hour while on.
   */
  fast_snapshot_restore: z.boolean().default(false),
});

export type VolumePoolConfig = z.output<typeof VolumePoolConfigSchema>;

/** What makes two build volumes interchangeable: CreateVolume's parameters but zone and tags. */
export interface VolumeSpec {
  SnapshotId: string;
  Size: number;
  VolumeType?: string | undefined;
  Iops?: number | undefined;
  Throughput?: number | undefined;
  Encrypted?: boolean | undefined;
  KmsKeyId?: string | undefined;
}

/** The same specification, the same key: fields in a fixed order, absent ones as null. */
export function volumePoolKey(spec: VolumeSpec): string {
  const canonical = JSON.stringify([
    spec.SnapshotId,
    spec.Size,
    spec.VolumeType ?? null,
    spec.Iops ?? null,
    spec.Throughput ?? null,
    spec.Encrypted ?? null,
    spec.KmsKeyId ?? null,
  ]);
  return `vp-${createHash('sha256').update(canonical).digest('hex').slice(0, 24)}`;
}

/**
 * The pool a volume CreateVolume would make belongs to, with its specification; null for a
 * volume made from nothing (or of no stated size, which a planned volume always has).
 */
export function poolTarget(createVolume: Partial<VolumeSpec>): { key: string; spec: VolumeSpec } | null {
  const { SnapshotId, Size, VolumeType, Iops, Throughput, Encrypted, KmsKeyId } = createVolume;
  if (SnapshotId === undefined || Size === undefined) return null;
  const spec: VolumeSpec = { SnapshotId, Size, VolumeType, Iops, Throughput, Encrypted, KmsKeyId };
  return { key: volumePoolKey(spec), spec };
}

/** In the execution input when the factory keeps pools and the build's volume is restored from a snapshot. */
export const VolumePoolRefSchema = z.object({
  /** The pool whose volumes this build may take (in its host's zone). */
  key: z.string().regex(VOLUME_POOL_KEY),
  /** CreateTags' Tags for a taken volume: the tags the build's CreateVolume would have given, and the pool tag set to TAKEN. */
  takeTags: z.array(z.object({ Key: z.string(), Value: z.string() })).min(1),
});

export type VolumePoolRef = z.infer<typeof VolumePoolRefSchema>;

/**
 * The pool a build's CreateVolume request could be served from, and how a volume taken from it
 * is tagged: the tags CreateVolume would have given, and the pool tag set to TAKEN. Null for a
 * volume made from nothing, which has no pool.
 */
export function volumePoolRefFor(
  createVolume: Partial<VolumeSpec> & { TagSpecifications?: { Tags?: { Key?: string | undefined; Value?: string | undefined }[] | undefined }[] | undefined },
): VolumePoolRef | null {
  const target = poolTarget(createVolume);
  if (target === null) return null;
  const tags = (createVolume.TagSpecifications ?? []).flatMap((specification) => specification.Tags ?? []);
  return { key: target.key, takeTags: [...tags.map(({ Key, Value }) => ({ Key: Key ?? '', Value: Value ?? '' })), { Key: VOLUME_POOL_TAG, Value: TAKEN }] };
}

/** What the workflow sends to the pools queue when it took a volume: that pool wants a refill. */
export const PoolDrawnMessageSchema = z.strictObject({ poolKey: z.string().regex(VOLUME_POOL_KEY), availabilityZone: z.string().min(1) });

export type PoolDrawnMessage = z.infer<typeof PoolDrawnMessageSchema>;
