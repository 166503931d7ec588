/**
 * The build-image workflow running in a local engine (moto, or LocalStack: engine.ts): a
 * source snapshot, a chroot host instance with its queue, the claims queue, the state machine
 * and a fake worker; running a build, reading what it did from the execution history, and
 * cleaning up after it as the EventBridge rule would.
 */
import {
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  RegisterImageCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { handler as cleanUpBuild, type CleanUpReport } from '../../../functions/clean-up-build.ts';
import { useAwsClientConfig } from '../../../functions/lib/aws.ts';
import { logger } from '../../../functions/lib/log.ts';
import { statusChangeEvent } from '../../../local/execution-events.ts';
import { loadBuildImageDefinition } from '../../../statemachine/definition.ts';
import { ACCOUNT_ID, BUILD_ID_TAG, REGION, type BuildImageInput } from './build-input.ts';
import { startEngine, type Engine } from './engine.ts';
import { FakeWorker } from './fake-worker.ts';

/** Moto accepts any role; the ARN only has to look like one. */
const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/ami-factory-build-image`;
/** Not the region's first zone, so a volume in it can only come from the claim's answer. */
export const HOST_ZONE = `${REGION}b`;
export const HOST_DEVICE = '/dev/sdf';

/** Host queues are `<prefix>-host-<instanceId>`, as the worker names them. */
const HOST_QUEUE_PREFIX = 'ami-factory';

export interface LocalBuildImage {
  engine: Engine;
  ec2: EC2Client;
  sfn: SFNClient;
  sqs: SQSClient;
  claimsQueueUrl: string;
  stateMachineArn: string;
  sourceSnapshotId: string;
  worker: FakeWorker;
  stop(): Promise<void>;
}

export async function startLocalBuildImage(): Promise<LocalBuildImage> {
  const engine = await startEngine(REGION);
  const config = engine.clientConfig;
  useCleanUpFunction(config);
  const ec2 = new EC2Client(config);
  const sfn = new SFNClient(config);
  const sqs = new SQSClient(config);
  try {
    const sourceSnapshotId = await makeSourceSnapshot(ec2);
    const instanceId = await launchHost(ec2);
    const claimsQueueUrl = await createQueue(sqs, 'ami-factory-claims');
    const hostQueueUrl = await createQueue(sqs, `${HOST_QUEUE_PREFIX}-host-${instanceId}`);
    const worker = new FakeWorker({
      clients: { ec2, sfn, sqs },
      claimsQueueUrl,
      host: { instanceId, availabilityZone: HOST_ZONE, hostQueueUrl, deviceName: HOST_DEVICE },
      answerDelayMs: engine.name === 'localstack' ? 250 : 0,
    });
    const stateMachineArn = await createStateMachine(sfn, 'build-image', loadBuildImageDefinition({ ClaimsQueueUrl: claimsQueueUrl }));
    worker.start();
    return {
      engine,
      ec2,
      sfn,
      sqs,
      claimsQueueUrl,
      stateMachineArn,
      sourceSnapshotId,
      worker,
      async stop() {
        await worker.stop();
        useAwsClientConfig(undefined);
        await engine.stop();
      },
    };
  } catch (error) {
    await engine.stop();
    throw error;
  }
}

/** The clean-up function's environment, as the deployment gives it, pointed at the engine. */
function useCleanUpFunction(config: Engine['clientConfig']): void {
  useAwsClientConfig(config);
  logger.level = 'silent';
  process.env.HOST_QUEUE_PREFIX = HOST_QUEUE_PREFIX;
  // The engines detach at once: a second is plenty before a forced detach.
  process.env.DETACH_WAIT_SECONDS = '1';
  process.env.DETACH_POLL_SECONDS = '0';
}

/** Runs the clean-up function on the execution's end, as the EventBridge rule does for FAILED, TIMED_OUT and ABORTED. */
export async function cleanUpAfter(result: BuildResult): Promise<CleanUpReport> {
  process.env.STATE_MACHINE_ARN = result.stateMachineArn;
  const { executionArn, stateMachineArn, buildId: name, status } = result;
  return cleanUpBuild(statusChangeEvent({ executionArn, stateMachineArn, name, status }));
}

/** The source AMI's root snapshot: what the submit function would find in its block device mappings. */
async function makeSourceSnapshot(ec2: EC2Client): Promise<string> {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8 }));
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

async function createQueue(sqs: SQSClient, name: string): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  if (QueueUrl === undefined) throw new Error(`CreateQueue ${name} returned no URL`);
  return QueueUrl;
}

export async function createStateMachine(sfn: SFNClient, name: string, definition: string): Promise<string> {
  const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({ name, definition, roleArn: ROLE_ARN }));
  if (stateMachineArn === undefined) throw new Error('CreateStateMachine returned no ARN');
  return stateMachineArn;
}

export interface BuildResult {
  buildId: string;
  executionArn: string;
  stateMachineArn: string;
  status: string;
  output: unknown;
  error: string | undefined;
  cause: string | undefined;
  events: HistoryEvent[];
}

/** Starts an execution named after the build id, as the submit function does, and waits for its end. */
export async function runBuild(
  local: LocalBuildImage,
  input: BuildImageInput,
  options: { stateMachineArn?: string; timeoutMs?: number } = {},
): Promise<BuildResult> {
  const { sfn } = local;
  const stateMachineArn = options.stateMachineArn ?? local.stateMachineArn;
  const { executionArn = '' } = await sfn.send(
    new StartExecutionCommand({
      stateMachineArn,
      name: input.buildId,
      input: JSON.stringify(input),
    }),
  );
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (execution.status !== 'RUNNING') {
      return {
        buildId: input.buildId,
        executionArn,
        stateMachineArn,
        status: execution.status ?? 'UNKNOWN',
        output: execution.output === undefined ? undefined : JSON.parse(execution.output),
        error: execution.error,
        cause: execution.cause,
        events: await historyOf(sfn, executionArn),
      };
    }
    if (Date.now() > deadline) throw new Error(`execution ${input.buildId} still runs after ${options.timeoutMs ?? 20_000} ms`);
    await sleep(100);
  }
}

async function historyOf(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return events;
}

/**
 * The parameters of each call the workflow scheduled to a service action, in order: what the
 * workflow sent, including what moto then ignores. `action` is e.g. `ec2:createVolume`.
 */
export function callsTo(events: HistoryEvent[], action: string): Record<string, unknown>[] {
  const [service, api] = action.split(':');
  return events
    .filter((event) => event.type === 'TaskScheduled')
    .map((event) => event.taskScheduledEventDetails)
    .filter((details) => details !== undefined)
    .filter((details) => details.resourceType?.split(':').at(-1) === service && details.resource?.split('.')[0] === api)
    .map((details) => JSON.parse(details.parameters ?? '{}') as Record<string, unknown>);
}

/** The one call to `action`; fails the test when there is not exactly one. */
export function onlyCallTo(events: HistoryEvent[], action: string): Record<string, unknown> {
  const calls = callsTo(events, action);
  if (calls.length !== 1) throw new Error(`expected one ${action} call, found ${calls.length}`);
  return calls[0] as Record<string, unknown>;
}

/** State names entered, in order: the path an execution took. */
export function statesEntered(events: HistoryEvent[]): string[] {
  return events.flatMap((event) => (event.stateEnteredEventDetails?.name === undefined ? [] : [event.stateEnteredEventDetails.name]));
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
