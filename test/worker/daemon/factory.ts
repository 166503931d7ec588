/**
 * The worker tests' factory: the shared local AWS (the real build-image workflow, claims
 * queue and artifacts bucket), a busybox base image imported into the local EBS store as the
 * source AMI, and EC2 instances standing in for chroot hosts, each with a real worker.
 * Builds are planned by the submit function's planner and started as it starts them, so the
 * worker receives the claim and provision tasks of the deployed workflow.
 */
import { DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SQSClient, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { bundleKey, logKey, type BuildGrants, type StoredBuild } from '../../../contract/bundle.ts';
import type { ExecutionInput } from '../../../contract/execution.ts';
import { newBuildId } from '../../../functions/lib/build-id.ts';
import { planBuild } from '../../../functions/lib/planner.ts';
import { LocalEbsStore } from '../../../local/ebs-store.ts';
import { createLocalWorker } from '../../../local/local-worker.ts';
import { bundleTemplateFile, loadBundle } from '../../../model/bundle.ts';
import type { HostConfig } from '../../../worker/chroot/host-config.ts';
import { isAtOrUnder, mountsAtOrUnder } from '../../../worker/chroot/mount-table.ts';
import { listLoopDevices } from '../../../worker/devices/loop-device.ts';
import { parseWorkerConfig, type WorkerConfig, type WorkerConfigInput } from '../../../worker/daemon/config.ts';
import type { AwsClients, WorkerEvents } from '../../../worker/daemon/context.ts';
import type { Worker } from '../../../worker/daemon/worker.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { actionAnswer, executionHistory, waitForExecution as waitForEnd, workerAnswer } from '../../support/executions.ts';
import { startLocalAws, type LocalAws } from '../../support/local-aws.ts';
import { baseBuilder } from '../../support/templates.ts';

export const REGION = 'us-east-1';

/** The local AWS answers at once: no poll of the workflow ever needs to wait. */
const POLLING = { volume: 0, attachment: 0, snapshot: 0, image: 0, maxAttempts: 5 };
/** Short enough that a silent worker fails a build within a test's time. */
const TIMEOUTS = { claimSeconds: 120, provisionSeconds: 300, heartbeatSeconds: 10 };

export interface TestFactory {
  aws: LocalAws;
  /** Where the local AWS answers: what the workers' config names. */
  endpoint: string;
  dir: string;
  clients: AwsClients;
  store: LocalEbsStore;
  claimsQueueUrl: string;
  bucket: string;
  prefix: string;
  /** The busybox source AMI, and its root snapshot. */
  baseImageId: string;
  baseSnapshotId: string;
  stateMachineArn: string;
  stop(): Promise<void>;
}

export async function startTestFactory(label: string): Promise<TestFactory> {
  // The workflow leaves undoing a failed build to the clean-up function, run as EventBridge would.
  const aws = await startLocalAws({ stage: label, cleanUpFailedBuilds: true });
  const dir = await mkdtemp(join(tmpdir(), `ami-factory-daemon-${label}-`));
  const { clients, resources } = aws;
  const store = new LocalEbsStore(join(dir, 'ebs'), clients.ec2);
  await mkdir(join(dir, 'base'));
  const base = await store.importImage(await makeBusyboxImage(join(dir, 'base')), `${resources.hostQueuePrefix}-base`, {
    availabilityZone: `${REGION}a`,
  });
  return {
    aws,
    endpoint: aws.endpoint,
    dir,
    clients,
    store,
    claimsQueueUrl: resources.claimsQueueUrl,
    bucket: resources.artifactsBucket,
    prefix: resources.hostQueuePrefix,
    baseImageId: base.imageId,
    baseSnapshotId: base.snapshotId,
    stateMachineArn: resources.stateMachineArn,
    async stop() {
      await aws.stop();
      await removeUnlessInUse(dir);
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
    endpoint: factory.endpoint,
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
  const worker = createLocalWorker(config, { clients, logger: pino({ level: process.env.WORKER_TEST_LOG ?? 'silent' }) });
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
  const client = new SQSClient(factory.aws.clientConfig);
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
  input: ExecutionInput;
}

/**
 * Bundles a template with these provisioners into S3 and starts the workflow for it, as the
 * submit function does: the planner turns the request and the busybox source AMI into the
 * execution input, and the execution is named after the build. The build id is a real one,
 * so the clean-up function takes the build as the factory's; `label` names its template and AMI.
 */
export async function startBuild(
  factory: TestFactory,
  label: string,
  provisioners: unknown[],
  options: { builder?: Record<string, unknown>; grants?: BuildGrants } = {},
): Promise<StartedBuild> {
  const buildId = newBuildId();
  const templateDir = join(factory.dir, 'templates', label);
  await mkdir(templateDir, { recursive: true });
  const templatePath = join(templateDir, 'template.json');
  // An AMI name of its own: the workflow registers an image for every build.
  const builder = { ...baseBuilder, ...options.builder, source_ami: factory.baseImageId, ami_name: `${factory.prefix}-${label}` };
  await writeFile(templatePath, JSON.stringify({ builders: [builder], provisioners }, null, 2));
  const bundle = await bundleTemplateFile(templatePath);
  const stored: StoredBuild = { bundle, grants: options.grants ?? { hostCommands: false } };
  await factory.clients.s3.send(new PutObjectCommand({ Bucket: factory.bucket, Key: bundleKey(buildId), Body: JSON.stringify(stored) }));
  const request = await loadBundle(bundle, join(templateDir, 'loaded'));
  const source = (await factory.clients.ec2.send(new DescribeImagesCommand({ ImageIds: [factory.baseImageId] }))).Images?.[0] ?? null;
  const input = planBuild(request, source, {
    buildId,
    target: { region: factory.aws.region, accountId: factory.aws.accountId },
    polling: POLLING,
    timeouts: TIMEOUTS,
  });
  const executionArn = await factory.aws.startExecution(input);
  return { buildId, executionArn, logKey: logKey(buildId), input };
}

export interface FinishedExecution {
  status: string;
  /** What the worker answered and the workflow made, read from the execution's history. */
  output: {
    claim?: { instanceId: string; availabilityZone: string; deviceName: string; hostQueueUrl: string };
    /** The zone is CreateVolume's answer: the workflow deletes the volume once it is snapshotted. */
    volume?: { volumeId: string; availabilityZone: string };
    snapshot?: { snapshotId: string };
    provision?: { logKey: string; timings: Record<string, number> };
    /** The workflow's own output: the images it registered. */
    amis?: { region: string; accountId: string; imageId: string; snapshotIds: string[] }[];
  };
  error: string | undefined;
}

export async function waitForExecution(factory: TestFactory, executionArn: string, timeoutMs = 90_000): Promise<FinishedExecution> {
  const { sfn } = factory.clients;
  const ended = await waitForEnd(sfn, executionArn, { timeoutMs });
  const events = await executionHistory(sfn, executionArn);
  const created = actionAnswer(events, 'ec2:createVolume');
  const volumeId = created?.VolumeId;
  const snapshotId = actionAnswer(events, 'ec2:createSnapshot')?.SnapshotId;
  const output: FinishedExecution['output'] = {
    claim: workerAnswer(events, 'claim') as FinishedExecution['output']['claim'],
    volume: typeof volumeId === 'string' ? { volumeId, availabilityZone: String(created?.AvailabilityZone) } : undefined,
    snapshot: typeof snapshotId === 'string' ? { snapshotId } : undefined,
    provision: workerAnswer(events, 'provision') as FinishedExecution['output']['provision'],
    amis: (ended.output as { amis?: FinishedExecution['output']['amis'] } | undefined)?.amis,
  };
  return { status: ended.status, output, error: ended.error };
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
