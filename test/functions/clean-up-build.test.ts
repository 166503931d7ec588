/**
 * clean-up-build against a real moto server: a build stopped after its host claimed it and
 * its volume, snapshot and image exist; a build that succeeded; events it must ignore.
 */
import {
  AttachVolumeCommand,
  EC2Client,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { SendTaskSuccessCommand, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { HttpResponse, type HttpRequest } from '@smithy/protocol-http';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildFailedDetailSchema, type ExecutionStatusChangeEvent } from '../../contract/events.ts';
import { handler as cleanUp } from '../../functions/clean-up-build.ts';
import { useAwsClientConfig, type AwsClientConfig } from '../../functions/lib/aws.ts';
import { newBuildId } from '../../functions/lib/build-id.ts';
import { ec2For } from '../../functions/lib/target-clients.ts';
import { localAwsClientConfig } from '../../local/moto-server.ts';
import { claimingWorkflow, FINISHING_WORKFLOW } from './stand-in-workflows.ts';
import { ACCOUNT_ID, lambdaContext, REGION, startLocalAws, waitForStatus, type LocalAws } from './support.ts';

let aws: LocalAws;
let claimsQueue: string;
let claiming: string;
let finishing: string;
/** Fails at once, as a build whose release failed. */
let failing: string;
let instanceId: string;
let zone: string;
let hostQueue: string;

const buildTag = (buildId: string): Tag => ({ Key: 'ami-factory:build-id', Value: buildId });
const arnOf = (machine: string, buildId: string): string => `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`;

function statusChange(machine: string, buildId: string, status: string): ExecutionStatusChangeEvent {
  return {
    id: 'event-1',
    version: '0',
    account: ACCOUNT_ID,
    time: new Date().toISOString(),
    region: REGION,
    resources: [arnOf(machine, buildId)],
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    detail: { executionArn: arnOf(machine, buildId), stateMachineArn: machine, name: buildId, status },
  };
}

async function tagged(buildId: string) {
  const filter = [{ Name: 'tag:ami-factory:build-id', Values: [buildId] }];
  const [volumes, snapshots, images] = await Promise.all([
    aws.ec2.send(new DescribeVolumesCommand({ Filters: filter })),
    aws.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filter })),
    aws.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: filter })),
  ]);
  return {
    volumes: (volumes.Volumes ?? []).map((v) => v.VolumeId),
    snapshots: (snapshots.Snapshots ?? []).map((s) => s.SnapshotId),
    images: (images.Images ?? []).map((i) => i.ImageId),
  };
}

async function releaseMessages(): Promise<unknown[]> {
  const received = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: hostQueue, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  return (received.Messages ?? []).map((message) => JSON.parse(message.Body ?? '{}') as unknown);
}

/** A volume of the build, as the workflow makes it once `host` claimed the build. */
async function buildVolume(buildId: string, host?: string): Promise<string> {
  const tags = [buildTag(buildId), ...(host ? [{ Key: 'ami-factory:instance-id', Value: host }] : [])];
  const volume = await aws.ec2.send(
    new CreateVolumeCommand({ AvailabilityZone: zone, Size: 8, TagSpecifications: [{ ResourceType: 'volume', Tags: tags }] }),
  );
  return volume.VolumeId as string;
}

/**
 * The local AWS with a host that does not let go: a polite DetachVolume is answered as if
 * accepted and never reaches EC2, so the volume stays attached; a forced one goes through.
 * Each detach is noted, polite or forced.
 */
function hostThatHoldsOn(detaches: string[]): AwsClientConfig {
  const config = localAwsClientConfig(aws.endpoint, REGION);
  const real = new EC2Client(config).config.requestHandler as { handle(request: HttpRequest, options?: unknown): Promise<{ response: HttpResponse }> };
  const requestHandler = {
    async handle(request: HttpRequest, options?: unknown): Promise<{ response: HttpResponse }> {
      const body = typeof request.body === 'string' ? request.body : '';
      if (!body.includes('Action=DetachVolume')) return real.handle(request, options);
      const forced = body.includes('Force=true');
      detaches.push(forced ? 'forced' : 'polite');
      if (forced) return real.handle(request, options);
      const answer = '<DetachVolumeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>held</requestId><status>detaching</status></DetachVolumeResponse>';
      return { response: new HttpResponse({ statusCode: 200, headers: { 'content-type': 'text/xml' }, body: Readable.from([answer]) }) };
    },
  };
  return { ...config, requestHandler } as AwsClientConfig;
}

beforeAll(async () => {
  aws = await startLocalAws();
  claimsQueue = aws.resources.claimsQueueUrl;
  claiming = await aws.createStateMachine('build-image-claiming', claimingWorkflow(claimsQueue));
  finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
  failing = await aws.createStateMachine('build-image-failing', { StartAt: 'Fail', States: { Fail: { Type: 'Fail', Error: 'AmiFactory.CopyFailed', Cause: 'stand-in' } } });
  const image = await aws.registerImage('chroot-host');
  const reservation = await aws.ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }));
  const instance = reservation.Instances?.[0];
  instanceId = instance?.InstanceId as string;
  zone = instance?.Placement?.AvailabilityZone as string;
  hostQueue = (await aws.sqs.send(new CreateQueueCommand({ QueueName: `${aws.resources.hostQueuePrefix}-host-${instanceId}` }))).QueueUrl as string;
});

afterAll(async () => {
  await aws.stop();
});

describe('clean-up-build', () => {
  it('releases the host, detaches and deletes the volume, deregisters the image, deletes the snapshot; again finds nothing', async () => {
    aws.useStateMachine(claiming);
    const buildId = newBuildId();
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: claiming, name: buildId, input: JSON.stringify({ buildId }) }));
    const claim = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: claimsQueue, WaitTimeSeconds: 10 }));
    const { taskToken } = JSON.parse(claim.Messages?.[0]?.Body ?? '{}') as { taskToken: string };
    await aws.sfn.send(
      new SendTaskSuccessCommand({
        taskToken,
        output: JSON.stringify({ instanceId, availabilityZone: zone, hostQueueUrl: hostQueue, deviceName: '/dev/sdf' }),
      }),
    );
    // What the workflow makes on that host before it is stopped mid-provisioning.
    const volumeId = await buildVolume(buildId, instanceId);
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
    const snapshot = await aws.ec2.send(
      new CreateSnapshotCommand({ VolumeId: volumeId, TagSpecifications: [{ ResourceType: 'snapshot', Tags: [buildTag(buildId)] }] }),
    );
    const imageId = await aws.registerImage(`stopped-${buildId}`);
    await aws.ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: [buildTag(buildId)] }));
    const otherBuild = await buildVolume(newBuildId());
    await aws.sfn.send(new StopExecutionCommand({ executionArn: arnOf(claiming, buildId) }));
    await waitForStatus(aws.sfn, arnOf(claiming, buildId), (status) => status === 'ABORTED');

    const report = await cleanUp(statusChange(claiming, buildId, 'ABORTED'), lambdaContext('clean-up-build'));
    expect(report).toEqual({
      buildId,
      releasedHosts: [instanceId],
      deletedVolumes: [volumeId],
      deregisteredImages: [imageId],
      deletedSnapshots: [snapshot.SnapshotId],
      removedCopies: [],
      releasedName: null,
      deletedSecret: null,
      // Its input names no image: not a build the submit function started.
      publishedFailure: null,
    });
    expect(await releaseMessages()).toEqual([{ task: 'release', buildId }]);
    expect(await tagged(buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
    const untouched = await aws.ec2.send(new DescribeVolumesCommand({ VolumeIds: [otherBuild] }));
    expect(untouched.Volumes?.[0]?.State).toBe('available');

    // Invoked again (EventBridge delivers at least once): nothing left to delete, no error.
    const again = await cleanUp(statusChange(claiming, buildId, 'ABORTED'));
    expect(again).toMatchObject({ deletedVolumes: [], deregisteredImages: [], deletedSnapshots: [] });
    await releaseMessages();
  });

  it('keeps a succeeded build\'s image and its snapshot, and sweeps the rest', async () => {
    aws.useStateMachine(finishing);
    const buildId = newBuildId();
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: finishing, name: buildId, input: JSON.stringify({ buildId, target: { region: REGION, accountId: ACCOUNT_ID } }) }));
    await waitForStatus(aws.sfn, arnOf(finishing, buildId), (status) => status === 'SUCCEEDED');
    const imageId = await aws.registerImage(`succeeded-${buildId}`);
    const image = (await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    const imageSnapshot = image?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
    await aws.ec2.send(new CreateTagsCommand({ Resources: [imageId, imageSnapshot], Tags: [buildTag(buildId)] }));
    // Leftovers: a volume the host never gave back (known by its tag only), a stray snapshot.
    const leftover = await buildVolume(buildId, instanceId);
    const stray = await aws.ec2.send(new CreateSnapshotCommand({ VolumeId: leftover, TagSpecifications: [{ ResourceType: 'snapshot', Tags: [buildTag(buildId)] }] }));

    const report = await cleanUp(statusChange(finishing, buildId, 'FAILED'));
    expect(report).toEqual({
      buildId,
      releasedHosts: [instanceId],
      deletedVolumes: [leftover],
      deregisteredImages: [],
      deletedSnapshots: [stray.SnapshotId],
      removedCopies: [],
      releasedName: null,
      deletedSecret: null,
      // The execution succeeded, whatever the event said: no Build Failed.
      publishedFailure: null,
    });
    expect(await releaseMessages()).toEqual([{ task: 'release', buildId }]);
    expect(await tagged(buildId)).toEqual({ volumes: [], snapshots: [imageSnapshot], images: [imageId] });
  });

  it('publishes Build Failed for a failed build of a team once it cleaned, and again when run again', async () => {
    // A stand-in that fails at once: moto does not always stop an execution whose claim waits
    // for a host, so a stopped build is not a steady way to get one that ended.
    aws.useStateMachine(failing);
    const buildId = newBuildId();
    const input = { buildId, registerImage: { Name: `web-${buildId}` }, owner: { team: 'web', principal: `arn:aws:iam::${ACCOUNT_ID}:user/bob` } };
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: failing, name: buildId, input: JSON.stringify(input) }));
    const status = await waitForStatus(aws.sfn, arnOf(failing, buildId), (ended) => ended !== 'RUNNING');
    expect(status).toBe('FAILED');

    const report = await cleanUp(statusChange(failing, buildId, 'FAILED'));

    const published = BuildFailedDetailSchema.strict().parse(report.publishedFailure);
    expect(published).toMatchObject({ buildId, team: 'web', amiName: `web-${buildId}`, status, error: 'AmiFactory.CopyFailed', cleanedUp: true });
    // At least once: a repeated run (EventBridge may deliver twice) says the same again.
    expect((await cleanUp(statusChange(failing, buildId, 'FAILED'))).publishedFailure).toEqual(published);
  });

  it('forces the detach of a volume whose host does not let go, then deletes it', async () => {
    aws.useStateMachine(claiming);
    const buildId = newBuildId();
    const volumeId = await buildVolume(buildId, instanceId);
    await aws.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdg' }));
    const detaches: string[] = [];

    useAwsClientConfig(hostThatHoldsOn(detaches));
    // No execution of that name: the event's status stands, the volume's tag names the host.
    const report = await cleanUp(statusChange(claiming, buildId, 'FAILED')).finally(() => {
      useAwsClientConfig(localAwsClientConfig(aws.endpoint, REGION));
    });

    expect(detaches).toEqual(['polite', 'forced']);
    expect(report).toMatchObject({ releasedHosts: [instanceId], deletedVolumes: [volumeId] });
    expect(await tagged(buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
    await releaseMessages();
  });

  it('removes the copies a stopped build\'s release made in other regions and accounts', async () => {
    // A build that failed during its release: the stand-in fails at once, the copies made beside it.
    aws.useStateMachine(failing);
    const buildId = newBuildId();
    const copy = (accountId: string, region: string) => ({
      kind: 'copy', accountId, region, copyImage: { Name: 'x', SourceRegion: REGION }, imageTags: [], snapshotTags: [],
      productCodes: null, deprecateAt: null, launchPermission: null, snapshotPermission: null, deregistrationProtection: null,
    });
    const input = {
      buildId,
      distribution: { images: [{ kind: 'build', accountId: ACCOUNT_ID, region: REGION }, copy(ACCOUNT_ID, 'us-west-2'), copy('222222222222', 'eu-west-1')] },
    };
    // What the release had made when the build failed: a copy in each place, as CopyImage tags it.
    const made: string[] = [];
    for (const [accountId, region] of [[ACCOUNT_ID, 'us-west-2'], ['222222222222', 'eu-west-1']] as const) {
      const client = await ec2For({ factoryAccountId: ACCOUNT_ID, partition: 'aws', sessionName: 'test' }, { accountId, region });
      const { ImageId } = await client.send(new RegisterImageCommand({ Name: `copy-${buildId}`, RootDeviceName: '/dev/sda1' }));
      await client.send(new CreateTagsCommand({ Resources: [ImageId ?? ''], Tags: [buildTag(buildId)] }));
      made.push(`${accountId}/${region}/${ImageId ?? ''}`);
      client.destroy();
    }
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: failing, name: buildId, input: JSON.stringify(input) }));
    await waitForStatus(aws.sfn, arnOf(failing, buildId), (status) => status === 'FAILED');

    const report = await cleanUp(statusChange(failing, buildId, 'FAILED'));

    expect(report.removedCopies).toEqual(expect.arrayContaining(made));
    for (const [accountId, region] of [[ACCOUNT_ID, 'us-west-2'], ['222222222222', 'eu-west-1']] as const) {
      const client = await ec2For({ factoryAccountId: ACCOUNT_ID, partition: 'aws', sessionName: 'test' }, { accountId, region });
      const { Images = [] } = await client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-factory:build-id', Values: [buildId] }] }));
      client.destroy();
      expect(Images, `${accountId}/${region}`).toEqual([]);
    }
    expect((await cleanUp(statusChange(failing, buildId, 'FAILED'))).removedCopies).toEqual([]);
  });

  it('leaves a running build and other state machines\' executions alone', async () => {
    aws.useStateMachine(claiming);
    const buildId = newBuildId();
    await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: claiming, name: buildId, input: JSON.stringify({ buildId }) }));
    const volumeId = await buildVolume(buildId);
    const running = await cleanUp(statusChange(claiming, buildId, 'FAILED'));
    expect(running.skipped).toBe('the build is RUNNING');
    const foreign = await cleanUp(statusChange(`arn:aws:states:${REGION}:${ACCOUNT_ID}:stateMachine:someone-else`, buildId, 'ABORTED'));
    expect(foreign.skipped).toBe('not a build of this factory');
    expect((await tagged(buildId)).volumes).toEqual([volumeId]);
    await aws.sfn.send(new StopExecutionCommand({ executionArn: arnOf(claiming, buildId) }));
    // The claim message of this build stays unanswered on the claims queue: drained by moto's exit.
  });
});
