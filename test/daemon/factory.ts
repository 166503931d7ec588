/**
 * A small factory for worker tests, all on a real moto server: a claims queue, an artifacts
 * bucket, a busybox base image in the local EBS store, EC2 instances standing in for chroot
 * hosts, and a tiny state machine that drives a build as the real workflow does:
 *
 *   Claim (claims queue, task token) -> CreateVolume in the claimed zone -> AttachVolume
 *   -> Provision (host queue, task token, heartbeats) -> DetachVolume -> CreateSnapshot
 *   -> Release (host queue); a failed Provision detaches, releases and fails with its error.
 *
 * Executions run for real in moto, so the worker gets real task tokens.
 */
import { EC2Client, RunInstancesCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, SQSClient, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { LocalEbsStore } from '../../local/ebs-store.ts';
import { localAwsClientConfig, startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { bundleTemplateFile } from '../../model/bundle.ts';
import type { HostConfig } from '../../worker/chroot/host-config.ts';
import { isAtOrUnder, mountsAtOrUnder } from '../../worker/chroot/mount-table.ts';
import { listLoopDevices } from '../../worker/devices/loop-device.ts';
import { parseWorkerConfig, type WorkerConfig, type WorkerConfigInput } from '../../worker/daemon/config.ts';
import type { AwsClients, WorkerEvents } from '../../worker/daemon/context.ts';
import { Worker } from '../../worker/daemon/worker.ts';
import { makeBusyboxImage } from '../support/base-images.ts';
import { baseBuilder } from '../support/templates.ts';

export const REGION = 'us-east-1';
const ROLE_ARN = 'arn:aws:iam::123456789012:role/ami-factory-test';
const PROVISION_HEARTBEAT_SECONDS = 10;

export interface TestFactory {
  moto: MotoServer;
  dir: string;
  clients: AwsClients;
  store: LocalEbsStore;
  claimsQueueUrl: string;
  bucket: string;
  prefix: string;
  baseSnapshotId: string;
  stateMachineArn: string;
  stop(): Promise<void>;
}

export async function startTestFactory(label: string): Promise<TestFactory> {
  const moto = await startMotoServer();
  const dir = await mkdtemp(join(tmpdir(), `ami-factory-daemon-${label}-`));
  const config = localAwsClientConfig(moto.endpoint, REGION);
  const clients: AwsClients = {
    sqs: new SQSClient(config),
    sfn: new SFNClient(config),
    s3: new S3Client({ ...config, forcePathStyle: true }),
    ec2: new EC2Client(config),
  };
  const prefix = `test-${label}`;
  const bucket = `${prefix}-artifacts`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const claims = await clients.sqs.send(new CreateQueueCommand({ QueueName: `${prefix}-claims` }));
  const claimsQueueUrl = claims.QueueUrl ?? '';

  const store = new LocalEbsStore(join(dir, 'ebs'), clients.ec2);
  await mkdir(join(dir, 'base'));
  const base = await store.importImage(await makeBusyboxImage(join(dir, 'base')), `${prefix}-base`, {
    availabilityZone: `${REGION}a`,
  });

  const machine = await clients.sfn.send(
    new CreateStateMachineCommand({
      name: `${prefix}-build`,
      roleArn: ROLE_ARN,
      definition: JSON.stringify(buildDefinition(claimsQueueUrl)),
    }),
  );
  return {
    moto,
    dir,
    clients,
    store,
    claimsQueueUrl,
    bucket,
    prefix,
    baseSnapshotId: base.snapshotId,
    stateMachineArn: machine.stateMachineArn ?? '',
    async stop() {
      clients.sqs.destroy();
      clients.sfn.destroy();
      clients.s3.destroy();
      clients.ec2.destroy();
      await moto.stop();
      await removeUnlessInUse(dir);
    },
  };
}

function buildDefinition(claimsQueueUrl: string): unknown {
  const sdk = (action: string): string => `arn:aws:states:::aws-sdk:ec2:${action}`;
  const detach = (next: string): unknown => ({
    Type: 'Task',
    Resource: sdk('detachVolume'),
    Parameters: { 'VolumeId.$': '$.volume.volumeId', 'InstanceId.$': '$.claim.instanceId', 'Device.$': '$.claim.deviceName' },
    ResultPath: null,
    Next: next,
  });
  const release = (next: string): unknown => ({
    Type: 'Task',
    Resource: 'arn:aws:states:::sqs:sendMessage',
    Parameters: { 'QueueUrl.$': '$.claim.hostQueueUrl', MessageBody: { task: 'release', 'buildId.$': '$.buildId' } },
    ResultPath: null,
    Next: next,
  });
  return {
    StartAt: 'Claim',
    States: {
      Claim: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          QueueUrl: claimsQueueUrl,
          MessageBody: { task: 'claim', 'taskToken.$': '$$.Task.Token', 'buildId.$': '$.buildId' },
        },
        TimeoutSeconds: 120,
        ResultPath: '$.claim',
        Next: 'CreateVolume',
      },
      CreateVolume: {
        Type: 'Task',
        Resource: sdk('createVolume'),
        Parameters: { 'AvailabilityZone.$': '$.claim.availabilityZone', 'SnapshotId.$': '$.snapshotId', VolumeType: 'gp3' },
        // Lean results: moto cannot describe an execution whose data holds timestamps.
        ResultSelector: { 'volumeId.$': '$.VolumeId' },
        ResultPath: '$.volume',
        Next: 'AttachVolume',
      },
      AttachVolume: {
        Type: 'Task',
        Resource: sdk('attachVolume'),
        Parameters: { 'VolumeId.$': '$.volume.volumeId', 'InstanceId.$': '$.claim.instanceId', 'Device.$': '$.claim.deviceName' },
        ResultPath: null,
        Next: 'Provision',
      },
      Provision: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          'QueueUrl.$': '$.claim.hostQueueUrl',
          MessageBody: {
            task: 'provision',
            'taskToken.$': '$$.Task.Token',
            'buildId.$': '$.buildId',
            'volumeId.$': '$.volume.volumeId',
            'deviceName.$': '$.claim.deviceName',
            'bundleKey.$': '$.bundleKey',
            'logKey.$': '$.logKey',
          },
        },
        HeartbeatSeconds: PROVISION_HEARTBEAT_SECONDS,
        TimeoutSeconds: 300,
        ResultPath: '$.provision',
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'DetachAfterFailure' }],
        Next: 'Detach',
      },
      Detach: detach('Snapshot'),
      Snapshot: {
        Type: 'Task',
        Resource: sdk('createSnapshot'),
        Parameters: { 'VolumeId.$': '$.volume.volumeId' },
        ResultSelector: { 'snapshotId.$': '$.SnapshotId' },
        ResultPath: '$.snapshot',
        Next: 'Release',
      },
      Release: release('Done'),
      Done: { Type: 'Succeed' },
      DetachAfterFailure: detach('ReleaseAfterFailure'),
      ReleaseAfterFailure: release('Failed'),
      Failed: { Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' },
    },
  };
}

/**
 * The factory's directory goes once nothing uses it. A build that failed to clean up keeps
 * it (for a look at what was left): removing files under a live chroot's /dev or /proc
 * mounts would reach the host's own.
 */
async function removeUnlessInUse(dir: string): Promise<void> {
  const mounted = await mountsAtOrUnder(dir);
  const attached = (await listLoopDevices()).filter((loop) => isAtOrUnder(loop.backingFile, dir));
  if (mounted.length === 0 && attached.length === 0) await rm(dir, { recursive: true, force: true });
}

/** An EC2 instance in moto for a chroot host: AttachVolume needs one. */
export async function launchHostInstance(factory: TestFactory, availabilityZone: string): Promise<string> {
  const run = await factory.clients.ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', Placement: { AvailabilityZone: availabilityZone } }),
  );
  const instanceId = run.Instances?.[0]?.InstanceId;
  if (instanceId === undefined) throw new Error('RunInstances returned no instance');
  return instanceId;
}

export interface TestWorker {
  worker: Worker;
  config: WorkerConfig;
  host: HostConfig;
  instanceId: string;
  availabilityZone: string;
  /** Every event, in order, with the time it happened. */
  events: { name: keyof WorkerEvents; at: number; buildId?: string; deviceName?: string }[];
  /** Bodies of messages this worker received from its queues. */
  received: string[];
}

export async function makeTestWorker(
  factory: TestFactory,
  label: string,
  availabilityZone: string,
  overrides: Partial<WorkerConfigInput> = {},
): Promise<TestWorker> {
  const instanceId = await launchHostInstance(factory, availabilityZone);
  const root = join(factory.dir, `host-${label}`);
  const config = parseWorkerConfig({
    region: REGION,
    endpoint: factory.moto.endpoint,
    claimsQueueUrl: factory.claimsQueueUrl,
    hostQueuePrefix: factory.prefix,
    artifactsBucket: factory.bucket,
    maxConcurrentBuilds: 2,
    heartbeatSeconds: 1,
    pollWaitSeconds: 1,
    stateDir: join(root, 'state'),
    mountRoot: join(root, 'mnt'),
    identity: { instanceId, availabilityZone },
    volumes: { backend: 'local', storeDir: factory.store.dir },
    logLevel: 'silent',
    ...overrides,
  });
  return attachWorker(factory, config);
}

/** A worker on the config (a new one after a restart), with its events and messages recorded. */
export function attachWorker(factory: TestFactory, config: WorkerConfig): TestWorker {
  const received: string[] = [];
  const clients = { ...factory.clients, sqs: recordingSqsClient(factory, (body) => received.push(body)) };
  const worker = new Worker({ config, clients, logger: pino({ level: process.env.WORKER_TEST_LOG ?? 'silent' }) });
  const identity = config.identity === 'imds' ? { instanceId: '', availabilityZone: '' } : config.identity;
  const recorded: TestWorker = {
    worker,
    config,
    host: { stateDir: config.stateDir, mountRoot: config.mountRoot },
    instanceId: identity.instanceId,
    availabilityZone: identity.availabilityZone,
    events: [],
    received,
  };
  const names: (keyof WorkerEvents)[] = ['claimed', 'released', 'build_started', 'build_finished', 'task_repeated', 'task_error'];
  for (const name of names) {
    worker.on(name, (event: { buildId?: string; deviceName?: string }) => {
      recorded.events.push({ name, at: performance.now(), buildId: event.buildId, deviceName: event.deviceName });
    });
  }
  return recorded;
}

function recordingSqsClient(factory: TestFactory, onBody: (body: string) => void): SQSClient {
  const client = new SQSClient(localAwsClientConfig(factory.moto.endpoint, REGION));
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const output = result.output as Partial<ReceiveMessageCommandOutput>;
      for (const message of output.Messages ?? []) if (message.Body !== undefined) onBody(message.Body);
      return result;
    },
    { step: 'initialize', name: 'recordReceivedBodies' },
  );
  return client;
}

export interface StartedBuild {
  buildId: string;
  executionArn: string;
  logKey: string;
}

/** Bundles a template with these provisioners into S3 and starts an execution for it. */
export async function startBuild(factory: TestFactory, buildId: string, provisioners: unknown[]): Promise<StartedBuild> {
  const templateDir = join(factory.dir, 'templates', buildId);
  await mkdir(templateDir, { recursive: true });
  const templatePath = join(templateDir, 'template.json');
  await writeFile(templatePath, JSON.stringify({ builders: [baseBuilder], provisioners }, null, 2));
  const bundle = await bundleTemplateFile(templatePath);
  const bundleKey = `bundles/${buildId}.json`;
  const logKey = `logs/${buildId}.log`;
  await factory.clients.s3.send(new PutObjectCommand({ Bucket: factory.bucket, Key: bundleKey, Body: JSON.stringify(bundle) }));
  const execution = await factory.clients.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: factory.stateMachineArn,
      name: buildId,
      input: JSON.stringify({ buildId, bundleKey, logKey, snapshotId: factory.baseSnapshotId }),
    }),
  );
  return { buildId, executionArn: execution.executionArn ?? '', logKey };
}

export interface FinishedExecution {
  status: string;
  output: {
    claim?: { instanceId: string; availabilityZone: string; deviceName: string; hostQueueUrl: string };
    volume?: { volumeId: string };
    snapshot?: { snapshotId: string };
    provision?: { logKey: string; timings: Record<string, number> };
  };
  error: string | undefined;
}

export async function waitForExecution(factory: TestFactory, executionArn: string, timeoutMs = 90_000): Promise<FinishedExecution> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const described = await factory.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== 'RUNNING') {
      return {
        status: described.status ?? '?',
        output: described.output === undefined ? {} : (JSON.parse(described.output) as FinishedExecution['output']),
        error: described.error,
      };
    }
    if (Date.now() > deadline) throw new Error(`execution ${executionArn} still runs after ${timeoutMs} ms`);
    await sleep(200);
  }
}

export async function volumeZone(factory: TestFactory, volumeId: string): Promise<string | undefined> {
  const found = await factory.clients.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  return found.Volumes?.[0]?.AvailabilityZone;
}

export async function readLog(factory: TestFactory, logKey: string): Promise<string> {
  const object = await factory.clients.s3.send(new GetObjectCommand({ Bucket: factory.bucket, Key: logKey }));
  return (await object.Body?.transformToString('utf8')) ?? '';
}

/** Every volume file the local EBS store holds: what loop devices could still be attached to. */
export async function volumeFiles(factory: TestFactory): Promise<string[]> {
  const dir = join(factory.store.dir, 'volumes');
  return (await readdir(dir)).filter((name) => name.endsWith('.img')).map((name) => join(dir, name));
}

/** Resolves when `predicate` holds, polling; for waiting on worker events. */
export async function until(predicate: () => boolean, timeoutMs = 60_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
