/**
 * What each family's volume pool should hold (factory.yml `volume_pool`), and what to do about
 * what it holds. The specification is the one the family's next build would create: the
 * family's template bundled, checked and planned exactly as its scheduled run would, so a
 * newer source image behind its source_ami_filter is a new key, and the old key's volumes are
 * replaced. Deciding is pure (`tendingActions`): the tender (tend-volume-pools.ts) reads EC2,
 * decides, and applies.
 */
import type { Volume } from '@aws-sdk/client-ec2';
import type { Family } from '../../contract/factory-config.ts';
import { TAKEN, VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, type VolumePoolConfig, type VolumeSpec } from '../../contract/volume-pool.ts';

/** One family's pool as it should be. */
export interface PoolPlan {
  family: string;
  config: VolumePoolConfig;
  zones: readonly string[];
  /** null: the family's specification could not be worked out this time (its volumes are left alone). */
  target: { key: string; spec: VolumeSpec } | null;
}

/** A volume to make. */
export interface PoolVolumeToCreate {
  family: string;
  zone: string;
  key: string;
  spec: VolumeSpec;
}

export interface TendingActions {
  create: PoolVolumeToCreate[];
  /** Pristine volumes no pool wants any more (a replaced source, a removed family or pool, a failed volume): deleted. */
  remove: { volumeId: string; reason: string }[];
  /**
   * Pristine volumes attached for longer than a build needs to take one: a build attached it
   * and vanished before marking it taken. Marked stale and detached; deleted once detached.
   */
  release: { volumeId: string; instanceId: string; device: string }[];
}

/** How long a pristine volume may stay attached: a build marks one taken seconds after attaching it. */
export const ORPHANED_ATTACHMENT_MS = 60 * 60 * 1000;

/** The family tag's value: the factory (its stack prefix) and the family, so two factories in an account keep to their own. */
export const poolFamilyTag = (owner: string, family: string): string => `${owner}/${family}`;

const tagOf = (volume: Volume, key: string): string | undefined => volume.Tags?.find((tag) => tag.Key === key)?.Value;

/**
 * `volumes` are every volume carrying this factory's family tag (any state). Families without
 * a plan target are not counted, refilled or cleaned; volumes of a family no plan names (the
 * pool or the family was removed) are removed.
 */
export function tendingActions(owner: string, plans: readonly PoolPlan[], volumes: readonly Volume[], now: Date): TendingActions {
  const actions: TendingActions = { create: [], remove: [], release: [] };
  const planOf = new Map(plans.map((plan) => [poolFamilyTag(owner, plan.family), plan]));
  const prefix = `${owner}/`;
  const ready = new Map<string, number>();

  for (const volume of volumes) {
    const familyTag = tagOf(volume, VOLUME_POOL_FAMILY_TAG);
    const key = tagOf(volume, VOLUME_POOL_TAG);
    const volumeId = volume.VolumeId;
    // Another factory's volume, a build's (taken) volume, or one going away: not the tender's.
    if (familyTag?.startsWith(prefix) !== true || key === TAKEN || volumeId === undefined) continue;
    if (volume.State === 'deleting' || volume.State === 'deleted') continue;
    const plan = planOf.get(familyTag);
    if (plan !== undefined && plan.target === null) continue;

    const attachment = volume.Attachments?.[0];
    if (volume.State === 'in-use') {
      const since = attachment?.AttachTime?.getTime() ?? now.getTime();
      if (attachment?.InstanceId !== undefined && attachment.Device !== undefined && now.getTime() - since >= ORPHANED_ATTACHMENT_MS) {
        actions.release.push({ volumeId, instanceId: attachment.InstanceId, device: attachment.Device });
      }
      continue;
    }
    const wanted = plan?.target?.key;
    let reason: string | undefined;
    if (plan === undefined) reason = `family ${familyTag.slice(prefix.length)} keeps no volume pool any more`;
    else if (volume.State === 'error') reason = 'EC2 could not create it';
    else if (key !== wanted) reason = `made for ${key ?? 'no pool'}; the family's volumes are now ${wanted ?? ''}`;
    else if (volume.AvailabilityZone === undefined || !plan.zones.includes(volume.AvailabilityZone)) reason = `zone ${volume.AvailabilityZone ?? '(none)'} is not one of the pool's`;
    if (reason !== undefined) {
      // Only once detached (or failed): an attached pristine volume is a build's for the moment.
      if (volume.State === 'available' || volume.State === 'error') actions.remove.push({ volumeId, reason });
      continue;
    }
    const slot = `${familyTag}\u0000${volume.AvailabilityZone ?? ''}`;
    ready.set(slot, (ready.get(slot) ?? 0) + 1);
  }

  for (const plan of plans) {
    if (plan.target === null) continue;
    for (const zone of plan.zones) {
      const have = ready.get(`${poolFamilyTag(owner, plan.family)}\u0000${zone}`) ?? 0;
      for (let count = have; count < plan.config.size; count += 1) actions.create.push({ family: plan.family, zone, key: plan.target.key, spec: plan.target.spec });
    }
  }
  return actions;
}

/** The families of the configuration that keep a pool. */
export function pooledFamilies(families: Readonly<Record<string, Family>>): [string, Family & { volume_pool: VolumePoolConfig }][] {
  return Object.entries(families).filter((entry): entry is [string, Family & { volume_pool: VolumePoolConfig }] => entry[1].volume_pool !== undefined);
}
