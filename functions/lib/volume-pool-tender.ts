/**
 * Tending the volume pools: work out each pooled family's volume specification, read every
 * volume this factory's pools made, and make, replace and remove volumes until each pool holds
 * its size of pristine volumes in each of its zones (volume-pool-plan.ts decides). Fast Snapshot
 * Restore, where a family asks for it, is switched on for its current source snapshot in its
 * zones and off again for the snapshots the tender switched it on for that no pool uses any
 * more (kept in the artifacts bucket: FSR is billed by the hour, and nothing on the snapshot,
 * which may be another account's, can say who switched it on).
 */
import {
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  DisableFastSnapshotRestoresCommand,
  EnableFastSnapshotRestoresCommand,
  type Volume,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { poolTarget, VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG } from '../../contract/volume-pool.ts';
import { ec2, isAwsError, s3 } from './aws.ts';
import { artifactsBucket, pollingConfig, stateMachine, timeoutsConfig } from './config.ts';
import { familyBundle, type LoadedFactoryConfig } from './factory-config.ts';
import { ProblemError } from './http.ts';
import type { Logger } from './log.ts';
import { planBuild } from './planner.ts';
import { resolveSourceImage } from './source-image.ts';
import { validateBundle } from './bundle-validation.ts';
import { poolFamilyTag, pooledFamilies, tendingActions, type PoolPlan, type PoolVolumeToCreate } from './volume-pool-plan.ts';

/** What one tending did, for the log and the caller. */
export interface TendingReport {
  families: { family: string; key: string | null; zones: string[]; problem?: string }[];
  created: string[];
  removed: string[];
  released: string[];
  fastSnapshotRestore: { enabled: string[]; disabled: string[] };
  /** Actions that failed (the next tending tries again); the rest went ahead. */
  failures: string[];
}

/** Where the snapshots the tender switched Fast Snapshot Restore on for are kept. */
const FSR_RECORD_KEY = 'volume-pools/fast-snapshot-restores.json';

export interface TendOptions {
  config: LoadedFactoryConfig;
  /** This factory's name (its stack prefix): its pools' volumes carry it. */
  owner: string;
  /** The chroot hosts' zones, for pools that name none. */
  fleetZones: () => Promise<string[]>;
  log: Logger;
  now?: Date;
}

/** The zones of the chroot hosts' subnets (WORKER_SUBNET_IDS), or VOLUME_POOL_ZONES when set. */
export async function fleetZonesFromEnvironment(): Promise<string[]> {
  const list = (name: string): string[] => (process.env[name] ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
  const zones = list('VOLUME_POOL_ZONES');
  if (zones.length > 0) return zones;
  const subnets = list('WORKER_SUBNET_IDS');
  if (subnets.length === 0) return [];
  const described = await ec2().send(new DescribeSubnetsCommand({ SubnetIds: subnets }));
  return [...new Set((described.Subnets ?? []).flatMap((subnet) => (subnet.AvailabilityZone === undefined ? [] : [subnet.AvailabilityZone])))].sort();
}

/** The family's next build's volume, planned as its scheduled run would plan it. */
async function planFamily(config: LoadedFactoryConfig, family: string, now: Date): Promise<PoolPlan['target']> {
  const bundle = await familyBundle(config, family, now);
  const request = await validateBundle(bundle);
  const builderPath = request.builder_path ?? (Array.isArray(bundle.template.builders) ? 'builders[0]' : '');
  const source = await resolveSourceImage(ec2(), request.builder, builderPath);
  const machine = stateMachine();
  const planned = planBuild(request, source, {
    buildId: `${family}-volume-pool`,
    target: { region: machine.region, accountId: machine.accountId },
    polling: pollingConfig(),
    timeouts: timeoutsConfig(),
    builderPath,
    family,
    now,
  });
  return poolTarget(planned.createVolume);
}

function problemOf(error: unknown): string {
  if (error instanceof ProblemError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

async function poolVolumes(owner: string): Promise<Volume[]> {
  const volumes: Volume[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag-key', Values: [VOLUME_POOL_FAMILY_TAG] }], NextToken }));
    volumes.push(...(page.Volumes ?? []).filter((volume) => volume.Tags?.some((tag) => tag.Key === VOLUME_POOL_FAMILY_TAG && tag.Value?.startsWith(`${owner}/`) === true)));
    NextToken = page.NextToken;
  } while (NextToken);
  return volumes;
}

async function createPoolVolume(owner: string, { family, zone, key, spec }: PoolVolumeToCreate): Promise<string> {
  const created = await ec2().send(
    new CreateVolumeCommand({
      AvailabilityZone: zone,
      SnapshotId: spec.SnapshotId,
      Size: spec.Size,
      VolumeType: spec.VolumeType as VolumeType | undefined,
      Iops: spec.Iops,
      Throughput: spec.Throughput,
      Encrypted: spec.Encrypted,
      KmsKeyId: spec.KmsKeyId,
      TagSpecifications: [
        {
          ResourceType: 'volume',
          Tags: [
            { Key: VOLUME_POOL_TAG, Value: key },
            { Key: VOLUME_POOL_FAMILY_TAG, Value: poolFamilyTag(owner, family) },
            { Key: 'Name', Value: `ami-factory volume pool: ${family}` },
          ],
        },
      ],
    }),
  );
  return created.VolumeId ?? '';
}

const GONE = ['InvalidVolume.NotFound'];

/** Snapshot id -> zones the tender switched Fast Snapshot Restore on in. */
type FsrRecord = Record<string, string[]>;

async function readFsrRecord(): Promise<FsrRecord> {
  try {
    const object = await s3().send(new GetObjectCommand({ Bucket: artifactsBucket(), Key: FSR_RECORD_KEY }));
    const parsed: unknown = JSON.parse((await object.Body?.transformToString()) ?? '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as FsrRecord) : {};
  } catch (error) {
    if (isAwsError(error, 'NoSuchKey', 'NotFound')) return {};
    throw error;
  }
}

/** Switches FSR on where the current plans want it and off where only the tender's record does. */
export async function tendFastSnapshotRestore(plans: readonly PoolPlan[], report: TendingReport): Promise<void> {
  const wanted: FsrRecord = {};
  for (const plan of plans) {
    if (!plan.config.fast_snapshot_restore || plan.target === null) continue;
    const zones = new Set([...(wanted[plan.target.spec.SnapshotId] ?? []), ...plan.zones]);
    wanted[plan.target.spec.SnapshotId] = [...zones].sort();
  }
  // A family whose plan failed this time keeps what it had: its snapshot is not known.
  const unknown = plans.some((plan) => plan.config.fast_snapshot_restore && plan.target === null);
  const record = await readFsrRecord();
  const next: FsrRecord = unknown ? { ...record } : {};
  for (const [snapshotId, zones] of Object.entries(wanted)) {
    const missing = zones.filter((zone) => !(record[snapshotId] ?? []).includes(zone));
    if (missing.length > 0) {
      await ec2().send(new EnableFastSnapshotRestoresCommand({ SourceSnapshotIds: [snapshotId], AvailabilityZones: missing }));
      report.fastSnapshotRestore.enabled.push(...missing.map((zone) => `${snapshotId}@${zone}`));
    }
    next[snapshotId] = zones;
  }
  if (!unknown) {
    for (const [snapshotId, zones] of Object.entries(record)) {
      const off = zones.filter((zone) => !(wanted[snapshotId] ?? []).includes(zone));
      if (off.length === 0) continue;
      await ec2().send(new DisableFastSnapshotRestoresCommand({ SourceSnapshotIds: [snapshotId], AvailabilityZones: off }));
      report.fastSnapshotRestore.disabled.push(...off.map((zone) => `${snapshotId}@${zone}`));
    }
  }
  if (JSON.stringify(next) !== JSON.stringify(record)) {
    await s3().send(new PutObjectCommand({ Bucket: artifactsBucket(), Key: FSR_RECORD_KEY, Body: JSON.stringify(next), ContentType: 'application/json' }));
  }
}

/** One tending of every pool. Safe to run at any time and again: it converges. */
export async function tendVolumePools({ config, owner, fleetZones, log, now = new Date() }: TendOptions): Promise<TendingReport> {
  const report: TendingReport = { families: [], created: [], removed: [], released: [], fastSnapshotRestore: { enabled: [], disabled: [] }, failures: [] };
  const families = pooledFamilies(config.families);
  const needFleet = families.some(([, family]) => family.volume_pool.zones === undefined);
  const fleet = needFleet ? await fleetZones() : [];
  const plans: PoolPlan[] = [];
  for (const [family, { volume_pool: pool }] of families) {
    const zones = pool.zones ?? fleet;
    let target: PoolPlan['target'] = null;
    let problem: string | undefined;
    try {
      target = await planFamily(config, family, now);
      if (target === null) problem = 'its builds start from scratch (no source snapshot): there is nothing to make ahead';
      else if (zones.length === 0) problem = 'no zones: set volume_pool.zones, or deploy chroot hosts (workerSubnetIds)';
    } catch (error) {
      problem = problemOf(error);
      if (!(error instanceof ProblemError)) log.error({ err: error, family }, 'could not plan the family\'s pool volumes');
    }
    if (problem !== undefined) log.warn({ family, problem }, 'volume pool not tended');
    plans.push({ family, config: pool, zones, target: problem === undefined ? target : null });
    report.families.push({ family, key: target?.key ?? null, zones: [...zones], ...(problem === undefined ? {} : { problem }) });
  }

  const actions = tendingActions(owner, plans, await poolVolumes(owner), now);
  const attempt = async (what: string, action: () => Promise<void>): Promise<void> => {
    try {
      await action();
    } catch (error) {
      if (isAwsError(error, ...GONE)) return;
      report.failures.push(`${what}: ${problemOf(error)}`);
      log.warn({ err: error }, `volume pool: could not ${what}`);
    }
  };
  await Promise.all([
    ...actions.create.map((create) =>
      attempt(`create a volume for ${create.family} in ${create.zone}`, async () => {
        report.created.push(await createPoolVolume(owner, create));
      }),
    ),
    ...actions.remove.map(({ volumeId, reason }) =>
      attempt(`delete ${volumeId}`, async () => {
        await ec2().send(new DeleteVolumeCommand({ VolumeId: volumeId }));
        report.removed.push(volumeId);
        log.info({ volumeId, reason }, 'pool volume removed');
      }),
    ),
    ...actions.release.map(({ volumeId, instanceId, device }) =>
      attempt(`release ${volumeId}`, async () => {
        // Never offered again (it was attached to a host), then deleted once detached.
        await ec2().send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: VOLUME_POOL_TAG, Value: 'stale' }] }));
        await ec2().send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device, Force: true }));
        report.released.push(volumeId);
        log.warn({ volumeId, instanceId }, 'pristine pool volume attached for an hour without a build: detached, to be deleted');
      }),
    ),
    attempt('tend Fast Snapshot Restore', () => tendFastSnapshotRestore(plans, report)),
  ]);
  log.info({ families: report.families, created: report.created.length, removed: report.removed.length, released: report.released.length, failures: report.failures.length }, 'volume pools tended');
  return report;
}

