/**
 * The build-image workflow suite's bench, on the shared local AWS (its claims queue, real
 * state machine and clients, on whichever engine runs it): what the suite adds on top is a
 * source snapshot, a chroot host instance with its queue and a fake worker answering for it;
 * running a build to its end, and cleaning up after it as the EventBridge rule would.
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import { BUILD_ID_TAG, type ExecutionInput } from '../../../contract/execution.ts';
import { handler as cleanUpBuild, type CleanUpReport } from '../../../functions/clean-up-build.ts';
import { useAwsClientConfig } from '../../../functions/lib/aws.ts';
import { statusChangeEvent } from '../../../local/execution-events.ts';
import { executionHistory, waitForExecution, type ExecutionResult } from '../../support/executions.ts';
import { createQueue, LOCAL_REGION, startLocalAws, useCleanUpFunction, type LocalAws } from '../../support/local-aws.ts';
import { FakeWorker } from './fake-worker.ts';
import type { AwsModelProfile } from '../../../local/aws-model/index.ts';

/** Not the region's first zone, so a volume in it can only come from the claim's answer. */
export const HOST_ZONE = `${LOCAL_REGION}b`;
export const HOST_DEVICE = '/dev/sdf';

export interface LocalBuildImage {
  aws: LocalAws;
  /** The local AWS's EC2 client, for what a test checks or prepares itself. */
  ec2: EC2Client;
  sourceSnapshotId: string;
  /** The first host's worker. */
  worker: FakeWorker;
  /** Every host's worker. */
  workers: FakeWorker[];
  stop(): Promise<void>;
}

export interface LocalBuildImageOptions {
  /** Runs moto behind the model of EC2's latencies and throttling (local/aws-model). */
  awsModel?: AwsModelProfile;
  /** How many chroot hosts answer claims; 1 by default. */
  hosts?: number;
  /** Device names each host leases, one per build, as the real worker does; none by default (every build gets HOST_DEVICE). */
  devicesPerHost?: number;
}

export async function startLocalBuildImage(options: LocalBuildImageOptions = {}): Promise<LocalBuildImage> {
  const aws = await startLocalAws(options.awsModel === undefined ? {} : { awsModel: options.awsModel });
  const { clients, resources } = aws;
  useCleanUpFunction(aws);
  try {
    const sourceSnapshotId = await makeSourceSnapshot(clients.ec2);
    const workers: FakeWorker[] = [];
    const devices = options.devicesPerHost === undefined ? undefined : Array.from({ length: options.devicesPerHost }, (_, i) => `/dev/sd${String.fromCharCode(102 + i)}`);
    for (let host = 0; host < (options.hosts ?? 1); host += 1) {
      const instanceId = await launchHost(clients.ec2);
      // Named as the worker names its own queue, so the clean-up function finds it.
      const hostQueueUrl = await createQueue(clients.sqs, `${resources.hostQueuePrefix}-host-${instanceId}`, {});
      workers.push(
        new FakeWorker({
          clients,
          claimsQueueUrl: resources.claimsQueueUrl,
          host: { instanceId, availabilityZone: HOST_ZONE, hostQueueUrl, deviceName: HOST_DEVICE },
          answerDelayMs: aws.engine.name === 'localstack' ? 250 : 0,
          ...(devices === undefined ? {} : { devices }),
        }),
      );
    }
    for (const worker of workers) worker.start();
    const [worker] = workers as [FakeWorker];
    return {
      aws,
      ec2: clients.ec2,
      sourceSnapshotId,
      worker,
      workers,
      async stop() {
        await Promise.all(workers.map((each) => each.stop()));
        useAwsClientConfig(undefined);
        await aws.stop();
      },
    };
  } catch (error) {
    useAwsClientConfig(undefined);
    await aws.stop();
    throw error;
  }
}

/** Runs the clean-up function on the execution's end, as the EventBridge rule does for FAILED, TIMED_OUT and ABORTED. */
export async function cleanUpAfter(result: BuildResult): Promise<CleanUpReport> {
  process.env.STATE_MACHINE_ARN = result.stateMachineArn;
  const { executionArn, stateMachineArn, buildId: name, status } = result;
  return cleanUpBuild(statusChangeEvent({ executionArn, stateMachineArn, name, status }));
}

/** The source AMI's root snapshot: what the submit function would find in its block device mappings. */
async function makeSourceSnapshot(ec2: EC2Client): Promise<string> {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${LOCAL_REGION}a`, Size: 8 }));
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId, Description: 'source root' }));
  await ec2.send(new DeleteVolumeCommand({ VolumeId }));
  if (SnapshotId === undefined) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

/** The chroot host: AttachVolume needs a real instance. */
async function launchHost(ec2: EC2Client): Promise<string> {
  const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: 'chroot-host', RootDeviceName: '/dev/xvda' }));
  const { Instances } = await ec2.send(
    new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1, InstanceType: 'm7g.large', Placement: { AvailabilityZone: HOST_ZONE } }),
  );
  const instanceId = Instances?.[0]?.InstanceId;
  if (instanceId === undefined) throw new Error('RunInstances returned no instance');
  return instanceId;
}

export interface BuildResult extends ExecutionResult {
  buildId: string;
  executionArn: string;
  stateMachineArn: string;
  events: HistoryEvent[];
}

/** Starts an execution named after the build id, as the submit function does, and waits for its end. */
export async function runBuild(
  local: LocalBuildImage,
  input: ExecutionInput,
  options: { stateMachineArn?: string; timeoutMs?: number } = {},
): Promise<BuildResult> {
  const { aws } = local;
  const stateMachineArn = options.stateMachineArn ?? aws.resources.stateMachineArn;
  const executionArn = await aws.startExecution(input, stateMachineArn);
  const result = await waitForExecution(aws.clients.sfn, executionArn, { timeoutMs: options.timeoutMs ?? 120_000 });
  return { ...result, buildId: input.buildId, executionArn, stateMachineArn, events: await executionHistory(aws.clients.sfn, executionArn) };
}

export interface Leftovers {
  volumes: string[];
  snapshots: string[];
  images: string[];
}

/** Whatever carries the build id tag: what a failed build must not leave behind. */
export async function resourcesOf(ec2: EC2Client, buildId: string): Promise<Leftovers> {
  const Filters = [{ Name: `tag:${BUILD_ID_TAG}`, Values: [buildId] }];
  const [volumes, snapshots, images] = await Promise.all([
    ec2.send(new DescribeVolumesCommand({ Filters })),
    ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters })),
    ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters })),
  ]);
  return {
    volumes: (volumes.Volumes ?? []).map((volume) => volume.VolumeId ?? ''),
    snapshots: (snapshots.Snapshots ?? []).map((snapshot) => snapshot.SnapshotId ?? ''),
    images: (images.Images ?? []).map((image) => image.ImageId ?? ''),
  };
}
