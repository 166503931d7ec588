/**
 * Builds that take a pooled volume (contract/volume-pool.ts), in the local AWS: the workflow
 * looks in its pool in the claiming host's zone, attaches a pristine volume there instead of
 * creating one, marks it taken with the build's tags before provisioning, and asks the tender
 * for a refill; an empty pool, another zone's or another key's volumes mean a volume of its
 * own. Of builds racing for one volume exactly one gets it (EC2 attaches a volume once; the
 * local AWS is made to refuse the second attach as EC2 does); a build that fails after taking
 * one leaves nothing behind.
 */
import { CreateVolumeCommand, DescribeVolumesCommand, type Tag } from '@aws-sdk/client-ec2';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionInput } from '../../contract/execution.ts';
import { VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, volumePoolKey, volumePoolRefFor } from '../../contract/volume-pool.ts';
import { actionAnswer, callsTo, onlyCallTo, statesEntered } from '../support/executions.ts';
import { LOCAL_REGION } from '../support/local-aws.ts';
import { buildImageInput } from './support/build-input.ts';
import { cleanUpAfter, HOST_ZONE, resourcesOf, runBuild, startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

let local: LocalBuildImage;
let poolKey: string;

beforeAll(async () => {
  local = await startLocalBuildImage({ devicesPerHost: 4 });
  poolKey = volumePoolKey({ SnapshotId: local.sourceSnapshotId, Size: 12, VolumeType: 'gp3', Encrypted: false });
});

afterAll(async () => {
  await local.stop();
});

/** The input the planner writes for a factory that keeps pools. */
function pooledInput(key = poolKey): ExecutionInput {
  const input = buildImageInput({ sourceSnapshotId: local.sourceSnapshotId });
  const ref = volumePoolRefFor(input.createVolume);
  if (ref === null) throw new Error('the test input has a source snapshot');
  return { ...input, volumePool: { ...ref, key } };
}

/** A pristine pool volume, as the tender makes them. */
async function poolVolume(zone = HOST_ZONE, key = poolKey): Promise<string> {
  const { VolumeId } = await local.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: zone,
      SnapshotId: local.sourceSnapshotId,
      Size: 12,
      VolumeType: 'gp3',
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: VOLUME_POOL_TAG, Value: key }, { Key: VOLUME_POOL_FAMILY_TAG, Value: 'test/pooled' }] }],
    }),
  );
  return VolumeId ?? '';
}

async function volumeState(volumeId: string): Promise<{ state: string | undefined; tags: Tag[] }> {
  const volume = (await local.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }))).Volumes?.[0];
  return { state: volume?.State ?? 'deleted', tags: volume?.Tags ?? [] };
}

/** The refill requests the workflow sent, taken off the queue. */
async function refillRequests(): Promise<unknown[]> {
  const { Messages = [] } = await local.aws.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: local.aws.resources.volumePoolsQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  return Messages.map((message) => JSON.parse(message.Body ?? '{}') as unknown);
}

const anotherKey = (): string => volumePoolKey({ SnapshotId: local.sourceSnapshotId, Size: 99 });

describe('a build of a factory that keeps pools', () => {
  it('takes a pristine volume of its pool in its host\'s zone instead of creating one', async () => {
    const pooled = await poolVolume();
    const otherZone = await poolVolume(`${LOCAL_REGION}a`);
    const otherKey = await poolVolume(HOST_ZONE, anotherKey());
    const input = pooledInput();
    const { host } = local.worker;

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(callsTo(result.events, 'ec2:createVolume')).toEqual([]);
    expect(onlyCallTo(result.events, 'ec2:describeVolumes')).toEqual({
      Filters: [
        { Name: `tag:${VOLUME_POOL_TAG}`, Values: [poolKey] },
        { Name: 'availability-zone', Values: [HOST_ZONE] },
        { Name: 'status', Values: ['available'] },
      ],
      MaxResults: 5,
    });
    const attach = onlyCallTo(result.events, 'ec2:attachVolume');
    expect(attach).toEqual({ VolumeId: pooled, InstanceId: host.instanceId, Device: expect.stringMatching(/^\/dev\/sd[f-i]$/) as string });
    // Marked taken, with the build's tags, before the host saw it.
    const entered = statesEntered(result.events);
    expect(entered.indexOf('Take the pooled volume')).toBeLessThan(entered.indexOf('Provision on the host'));
    expect(callsTo(result.events, 'ec2:createTags').slice(0, 2)).toEqual([
      { Resources: [pooled], Tags: input.volumePool?.takeTags },
      { Resources: [pooled], Tags: [{ Key: 'ami-factory:instance-id', Value: host.instanceId }] },
    ]);
    expect(local.worker.tasksFor(input.buildId, 'provision')[0]).toMatchObject({ volumeId: pooled });
    // Used once, then deleted like any build volume; the decoys are still the pool's.
    expect(onlyCallTo(result.events, 'ec2:deleteVolume')).toEqual({ VolumeId: pooled });
    expect((await volumeState(pooled)).state).toBe('deleted');
    for (const decoy of [otherZone, otherKey]) expect((await volumeState(decoy)).state).toBe('available');
    expect(await refillRequests()).toEqual([{ poolKey, availabilityZone: HOST_ZONE }]);
  });

  it('creates its own volume when its pool has none in its host\'s zone', async () => {
    const input = pooledInput(volumePoolKey({ SnapshotId: local.sourceSnapshotId, Size: 77 }));
    const result = await runBuild(local, input);
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(statesEntered(result.events)).toContain('Look for a pooled volume');
    expect(statesEntered(result.events)).not.toContain('Attach the pooled volume');
    const created = actionAnswer(result.events, 'ec2:createVolume');
    expect(onlyCallTo(result.events, 'ec2:attachVolume')).toMatchObject({ VolumeId: created?.VolumeId });
  });

  it('gives a pooled volume to one of the builds racing for it; the others create their own', async () => {
    const pooled = await poolVolume();
    const inputs = [pooledInput(), pooledInput(), pooledInput()];
    const results = await Promise.all(inputs.map((input) => runBuild(local, input)));
    for (const result of results) expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');

    const takers = results.filter((result) => callsTo(result.events, 'ec2:createVolume').length === 0);
    expect(takers).toHaveLength(1);
    expect(onlyCallTo(takers[0]?.events ?? [], 'ec2:attachVolume')).toMatchObject({ VolumeId: pooled });
    // Whoever saw the volume and lost the attach went on to a volume of its own.
    for (const result of results.filter((each) => each !== takers[0])) {
      const own = actionAnswer(result.events, 'ec2:createVolume')?.VolumeId;
      expect(own).not.toBe(pooled);
      expect(callsTo(result.events, 'ec2:attachVolume').at(-1)).toMatchObject({ VolumeId: own });
    }
    const lostTheAttach = results.filter((result) => statesEntered(result.events).includes('Attach the pooled volume') && result !== takers[0]).length;
    process.stdout.write(`racing for one pooled volume: ${lostTheAttach} of ${results.length - 1} others lost the attach, the rest found the pool empty\n`);
    await refillRequests();
  });

  it('leaves nothing behind when it fails after taking a pooled volume', async () => {
    const pooled = await poolVolume();
    const input = pooledInput();
    local.worker.script(input.buildId, { provision: { fail: { error: 'ProvisionerFailed', cause: 'script exited 1' } } });

    const result = await runBuild(local, input);
    expect(result.status).toBe('FAILED');
    expect(onlyCallTo(result.events, 'ec2:attachVolume')).toMatchObject({ VolumeId: pooled });

    const report = await cleanUpAfter(result);
    expect(report.deletedVolumes).toEqual([pooled]);
    expect((await volumeState(pooled)).state).toBe('deleted');
    expect(await resourcesOf(local.ec2, input.buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
    await refillRequests();
  });
});
