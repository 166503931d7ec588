/**
 * The volume pool tender against a real moto server: it fills each pooled family's zones to
 * the pool's size with volumes of the specification the family's next build would create,
 * leaves taken volumes to their builds, replaces the pool when a newer source image appears,
 * removes what no pool wants (a family or pool removed, a stray zone), releases a pristine
 * volume a vanished build left attached, and keeps its hands off a family it cannot plan and
 * off another factory's volumes. Builds of a factory that keeps pools are planned with the
 * same key. Fast Snapshot Restore, which moto does not implement, is checked against a mocked
 * EC2 client.
 */
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeVolumesCommand,
  DisableFastSnapshotRestoresCommand,
  EC2Client,
  EnableFastSnapshotRestoresCommand,
  RunInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionInput } from '../../contract/execution.ts';
import { TAKEN, VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, volumePoolKey } from '../../contract/volume-pool.ts';
import { loadFactoryConfig } from '../../functions/lib/factory-config.ts';
import { logger } from '../../functions/lib/log.ts';
import { tendFastSnapshotRestore, tendVolumePools, type TendingReport } from '../../functions/lib/volume-pool-tender.ts';
import { handler as runSchedule } from '../../functions/run-schedule.ts';
import { handler as tend } from '../../functions/tend-volume-pools.ts';
import { FINISHING_WORKFLOW } from './stand-in-workflows.ts';
import { executionInputOf, lambdaContext, startLocalAws, waitForStatus, executionArnOf, type LocalAws } from './support.ts';

const ZONES = ['us-east-1a', 'us-east-1c'];

const template = (name: string) => ({
  builders: [{ type: 'amazon-chroot', ami_name: `${name}-{{timestamp}}`, source_ami_filter: { filters: { name: `${name}-base-*` }, owners: ['self'], most_recent: true } }],
});

let aws: LocalAws;
let dir: string;
let owner: string;
let finishing: string;

async function writeConfig(yaml: string): Promise<void> {
  await writeFile(join(dir, 'factory.yml'), yaml);
}

const FACTORY = (extra = '') => `
families:
  pooled:
    template: pooled/template.json
    team: images
    volume_pool: { size: 2, zones: [${ZONES.join(', ')}] }
  fleet:
    template: fleet/template.json
    team: images
    volume_pool: { size: 1 }
  broken:
    template: broken/template.json
    team: images
    volume_pool: { size: 1, zones: [us-east-1a] }
${extra}`;

async function tendNow(now?: Date): Promise<TendingReport> {
  return tendVolumePools({ config: await loadFactoryConfig(), owner, fleetZones: () => Promise.resolve(['us-east-1b']), log: logger, ...(now === undefined ? {} : { now }) });
}

const tagOf = (volume: Volume, key: string): string | undefined => volume.Tags?.find((tag) => tag.Key === key)?.Value;

/** This factory's pool volumes that are not deleted, by family. */
async function poolVolumes(family: string): Promise<Volume[]> {
  const { Volumes = [] } = await aws.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: `tag:${VOLUME_POOL_FAMILY_TAG}`, Values: [`${owner}/${family}`] }] }));
  return Volumes;
}

async function rootSnapshotOf(imageId: string): Promise<string> {
  const image = (await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
  return image?.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === image.RootDeviceName)?.Ebs?.SnapshotId ?? '';
}

beforeAll(async () => {
  aws = await startLocalAws();
  finishing = await aws.createStateMachine('build-image-finishing-pools', FINISHING_WORKFLOW);
  owner = `test-${Date.now().toString(36)}`;
  dir = await mkdtemp(join(tmpdir(), 'volume-pools-'));
  for (const family of ['pooled', 'fleet']) {
    await mkdir(join(dir, family), { recursive: true });
    await writeFile(join(dir, family, 'template.json'), JSON.stringify(template(`${owner}-${family}`)));
  }
  await mkdir(join(dir, 'broken'), { recursive: true });
  await writeFile(join(dir, 'broken', 'template.json'), JSON.stringify({ builders: [{ type: 'amazon-chroot', ami_name: 'broken-image', source_ami: 'ami-12345678' }] }));
  await writeConfig(FACTORY());
  process.env.FACTORY_CONFIG = join(dir, 'factory.yml');
  process.env.VOLUME_POOL_OWNER = owner;
  await aws.registerImage(`${owner}-pooled-base-1`);
  await aws.registerImage(`${owner}-fleet-base-1`);
});

afterAll(async () => {
  delete process.env.FACTORY_CONFIG;
  delete process.env.VOLUME_POOL_OWNER;
  await rm(dir, { recursive: true, force: true });
  await aws.stop();
});

describe('tending the pools', () => {
  let firstKey = '';

  it('fills each zone of each pool with volumes of the family\'s next build, and then has nothing to do', async () => {
    const report = await tendNow();
    const pooled = report.families.find((family) => family.family === 'pooled');
    const [image] = (await aws.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [`${owner}-pooled-base-1`] }] }))).Images ?? [];
    const snapshotId = await rootSnapshotOf(image?.ImageId ?? '');
    // moto's images have a 15 GiB root; the planner keeps the source's size and type.
    firstKey = volumePoolKey({ SnapshotId: snapshotId, Size: 15, VolumeType: image?.BlockDeviceMappings?.[0]?.Ebs?.VolumeType, Encrypted: false });
    expect(pooled).toEqual({ family: 'pooled', key: firstKey, zones: ZONES });
    // A pool that names no zones takes the fleet's.
    expect(report.families.find((family) => family.family === 'fleet')?.zones).toEqual(['us-east-1b']);
    // A family that cannot be planned is reported and left alone.
    expect(report.families.find((family) => family.family === 'broken')).toMatchObject({ key: null, problem: expect.stringContaining('SourceImageNotFound') as string });
    expect(report.failures).toEqual([]);

    const volumes = await poolVolumes('pooled');
    expect(volumes).toHaveLength(4);
    expect(volumes.map((volume) => volume.AvailabilityZone).sort()).toEqual([ZONES[0], ZONES[0], ZONES[1], ZONES[1]]);
    for (const volume of volumes) {
      expect(tagOf(volume, VOLUME_POOL_TAG)).toBe(firstKey);
      expect(volume).toMatchObject({ SnapshotId: snapshotId, Size: 15, Encrypted: false, State: 'available' });
    }
    expect(await poolVolumes('fleet')).toHaveLength(1);

    const again = await tendNow();
    expect(again.created).toEqual([]);
    expect(again.removed).toEqual([]);
  });

  it('refills a pool a build took from, and leaves the taken volume to its build', async () => {
    const [taken] = await poolVolumes('pooled');
    const takenId = taken?.VolumeId ?? '';
    await aws.ec2.send(new CreateTagsCommand({ Resources: [takenId], Tags: [{ Key: VOLUME_POOL_TAG, Value: TAKEN }] }));
    // The word a build sends when it took one: the queue's invocation tends every pool.
    const answer = await tend({ Records: [{ body: JSON.stringify({ poolKey: firstKey, availabilityZone: taken?.AvailabilityZone }) }] }, lambdaContext('tend-volume-pools'));
    expect(answer).toEqual({ batchItemFailures: [] });
    const volumes = await poolVolumes('pooled');
    expect(volumes).toHaveLength(5);
    expect(volumes.filter((volume) => tagOf(volume, VOLUME_POOL_TAG) === firstKey && volume.AvailabilityZone === taken?.AvailabilityZone)).toHaveLength(2);
    expect(volumes.find((volume) => volume.VolumeId === takenId)?.State).toBe('available');
  });

  it('plans a build of a factory that keeps pools with the key its family\'s pool has', async () => {
    aws.useStateMachine(finishing);
    const decision = await runSchedule({ family: 'pooled' }, lambdaContext('run-schedule'));
    const buildId = decision.buildId ?? '';
    const input: ExecutionInput = await executionInputOf(aws.sfn, finishing, buildId);
    expect(input.volumePool?.key).toBe(firstKey);
    // Taking a volume gives it the build's volume tags, and marks it taken.
    expect(input.volumePool?.takeTags).toEqual([...(input.createVolume.TagSpecifications?.[0]?.Tags ?? []), { Key: VOLUME_POOL_TAG, Value: TAKEN }]);
    expect(await waitForStatus(aws.sfn, executionArnOf(finishing, buildId), (status) => status !== 'RUNNING')).toBe('SUCCEEDED');
  });

  it('replaces the pool\'s volumes when a newer source image appears, and never touches a taken one', async () => {
    const before = await poolVolumes('pooled');
    const taken = before.filter((volume) => tagOf(volume, VOLUME_POOL_TAG) === TAKEN).map((volume) => volume.VolumeId);
    // most_recent compares creation times, which moto keeps to the second.
    await sleep(1100);
    await aws.registerImage(`${owner}-pooled-base-2`);
    const report = await tendNow();
    const newKey = report.families.find((family) => family.family === 'pooled')?.key ?? '';
    expect(newKey).not.toBe(firstKey);
    expect(report.removed.sort()).toEqual(before.filter((volume) => tagOf(volume, VOLUME_POOL_TAG) === firstKey).map((volume) => volume.VolumeId).sort());
    expect(report.created).toHaveLength(4);
    const after = await poolVolumes('pooled');
    expect(after.filter((volume) => tagOf(volume, VOLUME_POOL_TAG) === newKey)).toHaveLength(4);
    expect(after.filter((volume) => tagOf(volume, VOLUME_POOL_TAG) === TAKEN).map((volume) => volume.VolumeId)).toEqual(taken);
  });

  it('releases a pristine volume left attached for an hour, and deletes it once detached', async () => {
    const [volume] = (await poolVolumes('fleet')).filter((each) => each.State === 'available');
    const { Instances } = await aws.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'us-east-1b' } }));
    const instanceId = Instances?.[0]?.InstanceId ?? '';
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: volume?.VolumeId, InstanceId: instanceId, Device: '/dev/sdf' }));

    // Attached a moment ago: a build may be about to mark it taken. It is no longer ready
    // for another build, though: the pool gets a new one.
    const soon = await tendNow();
    expect(soon.released).toEqual([]);
    expect(soon.created).toHaveLength(1);

    const later = await tendNow(new Date(Date.now() + 2 * 60 * 60 * 1000));
    expect(later.released).toEqual([volume?.VolumeId]);
    const next = await tendNow();
    expect(next.removed).toEqual([volume?.VolumeId]);
    expect(next.created).toEqual([]);
  });

  it('removes the volumes of a family that keeps no pool any more, and never another factory\'s', async () => {
    const strangers = await aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 1,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: VOLUME_POOL_TAG, Value: firstKey }, { Key: VOLUME_POOL_FAMILY_TAG, Value: `another-${owner}/fleet` }] }],
      }),
    );
    const fleet = (await poolVolumes('fleet')).map((volume) => volume.VolumeId).sort();
    await writeConfig(FACTORY().replace('    volume_pool: { size: 1 }\n', ''));
    const report = await tendNow();
    expect(report.removed.sort()).toEqual(fleet);
    const { Volumes = [] } = await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [strangers.VolumeId ?? ''] }));
    expect(Volumes[0]?.State).toBe('available');
    await writeConfig(FACTORY());
  });
});

describe('Fast Snapshot Restore (moto has none: a mocked EC2 client)', () => {
  const plan = (snapshotId: string | null, fsr = true) => ({
    family: 'fast',
    config: { size: 1, fast_snapshot_restore: fsr },
    zones: ['us-east-1a', 'us-east-1b'],
    target: snapshotId === null ? null : { key: volumePoolKey({ SnapshotId: snapshotId, Size: 8 }), spec: { SnapshotId: snapshotId, Size: 8 } },
  });
  const emptyReport = (): TendingReport => ({ families: [], created: [], removed: [], released: [], fastSnapshotRestore: { enabled: [], disabled: [] }, failures: [] });

  it('switches it on for the current snapshot once, off for the one it replaced, and keeps it on for a family it cannot plan', async () => {
    const ec2 = mockClient(EC2Client);
    try {
      const first = emptyReport();
      await tendFastSnapshotRestore([plan('snap-aaaa1111')], first);
      expect(first.fastSnapshotRestore.enabled).toEqual(['snap-aaaa1111@us-east-1a', 'snap-aaaa1111@us-east-1b']);
      expect(ec2.commandCalls(EnableFastSnapshotRestoresCommand).map((call) => call.args[0].input)).toEqual([
        { SourceSnapshotIds: ['snap-aaaa1111'], AvailabilityZones: ['us-east-1a', 'us-east-1b'] },
      ]);

      // Already on: nothing to switch.
      const second = emptyReport();
      await tendFastSnapshotRestore([plan('snap-aaaa1111')], second);
      expect(second.fastSnapshotRestore).toEqual({ enabled: [], disabled: [] });

      // Not planned this time: its snapshot is not known, so nothing is switched off.
      const unknown = emptyReport();
      await tendFastSnapshotRestore([plan(null)], unknown);
      expect(ec2.commandCalls(DisableFastSnapshotRestoresCommand)).toEqual([]);

      const replaced = emptyReport();
      await tendFastSnapshotRestore([plan('snap-bbbb2222')], replaced);
      expect(replaced.fastSnapshotRestore).toEqual({
        enabled: ['snap-bbbb2222@us-east-1a', 'snap-bbbb2222@us-east-1b'],
        disabled: ['snap-aaaa1111@us-east-1a', 'snap-aaaa1111@us-east-1b'],
      });

      // The family gives it up: switched off, and the record is empty again.
      const off = emptyReport();
      await tendFastSnapshotRestore([plan('snap-bbbb2222', false)], off);
      expect(off.fastSnapshotRestore.disabled).toEqual(['snap-bbbb2222@us-east-1a', 'snap-bbbb2222@us-east-1b']);
      const none = emptyReport();
      await tendFastSnapshotRestore([], none);
      expect(none.fastSnapshotRestore).toEqual({ enabled: [], disabled: [] });
    } finally {
      ec2.restore();
    }
  });
});
