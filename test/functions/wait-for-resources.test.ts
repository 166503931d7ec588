/**
 * The resource-waits function on the local AWS, with real executions: a one-state state
 * machine whose only state is the workflow's own wait (statemachine/asl.ts `awaitResource`)
 * sends its wait to a queue and is answered through its task token. On the factory's
 * resource-waits queue, the local trigger runs the function as the SQS event source mapping
 * would; on a queue of the test's own, the test receives the messages and calls the handler
 * itself, so every check is one it made. Behind the model of EC2's latencies
 * (local/aws-model), waits end only once EC2 shows the resource ready, in few describes.
 */
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVALID_RESOURCE_WAIT, type ResourceWaitKind } from '../../contract/resource-wait.ts';
import { loadAwsModelProfile, parseAwsModelProfile } from '../../local/aws-model/index.ts';
import { handler } from '../../functions/wait-for-resources.ts';
import { useAwsClientConfig } from '../../functions/lib/aws.ts';
import { logger } from '../../functions/lib/log.ts';
import { awaitResource } from '../../statemachine/asl.ts';
import { executionHistory, taskResults, waitForExecution, type ExecutionResult } from '../support/executions.ts';
import { createQueue, LOCAL_ACCOUNT_ID, LOCAL_REGION, startLocalAws, type LocalAws } from '../support/local-aws.ts';
import { recordOf } from '../../local/queue-trigger.ts';

const ZONE = `${LOCAL_REGION}a`;
const NEVER_LISTED_SNAPSHOT = 'snap-00000000000000000';

/**
 * The workflow's wait state alone: `awaitResource` as build-image.ts uses it, ending the
 * execution instead of going to the build's failure, so the execution's own error is the wait's.
 */
function waitDefinition(kind: ResourceWaitKind, queueUrl: string): string {
  const task = awaitResource({
    kind,
    resourceId: '$.resourceId',
    intervalPath: '$.polling.intervalSeconds',
    maxAttemptsPath: '$.polling.maxAttempts',
    next: 'unused',
  });
  delete task.Catch;
  delete task.Next;
  const definition = JSON.stringify({ StartAt: 'Wait', States: { Wait: { ...task, End: true } } });
  // Filled as the deployment's DefinitionSubstitutions fill the workflow's.
  expect(definition).toContain('${ResourceWaitsQueueUrl}');
  return definition.replaceAll('${ResourceWaitsQueueUrl}', queueUrl);
}

interface Waits {
  aws: LocalAws;
  /** Starts a wait on the machine for `kind`; its execution ARN. */
  start(kind: ResourceWaitKind, resourceId: string, polling: { intervalSeconds: number; maxAttempts: number }): Promise<{ executionArn: string; buildId: string }>;
  /** Waits for the execution's end; with what its wait task answered. */
  result(executionArn: string, timeoutMs?: number): Promise<ExecutionResult & { answer: Record<string, unknown> | undefined }>;
}

/** One state machine per kind, each sending its waits to `queueUrl`. */
async function waitsOn(aws: LocalAws, queueUrl: string, name: string): Promise<Waits> {
  const machines = new Map<ResourceWaitKind, string>();
  for (const kind of ['volume-available', 'volume-detached', 'snapshot-completed', 'image-available'] as const) {
    machines.set(kind, await aws.createStateMachine(`${name}-${kind}`, waitDefinition(kind, queueUrl)));
  }
  return {
    aws,
    async start(kind, resourceId, polling) {
      const buildId = `wait-${randomUUID().slice(0, 8)}`;
      const { executionArn } = await aws.clients.sfn.send(
        new StartExecutionCommand({ stateMachineArn: machines.get(kind), name: buildId, input: JSON.stringify({ buildId, resourceId, polling }) }),
      );
      if (executionArn === undefined) throw new Error('StartExecution returned no ARN');
      return { executionArn, buildId };
    },
    async result(executionArn, timeoutMs = 20_000) {
      const result = await waitForExecution(aws.clients.sfn, executionArn, { timeoutMs });
      const waits = taskResults(await executionHistory(aws.clients.sfn, executionArn)).filter((task) => task.action === 'sqs:sendMessage.waitForTaskToken');
      expect(waits).toHaveLength(1);
      return { ...result, answer: waits[0]?.output };
    },
  };
}

async function createVolume(ec2: EC2Client, size = 8): Promise<string> {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: size }));
  if (VolumeId === undefined) throw new Error('CreateVolume returned no id');
  return VolumeId;
}

async function createSnapshot(ec2: EC2Client, volumeId: string): Promise<string> {
  const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  if (SnapshotId === undefined) throw new Error('CreateSnapshot returned no id');
  return SnapshotId;
}

interface TaskAnswer {
  action: 'SendTaskSuccess' | 'SendTaskFailure';
  taskToken: string;
  output?: string;
  error?: string;
  cause?: string;
}

/**
 * A pass-through in front of the engine that keeps the task-token answers sent through it:
 * moto keeps a SendTaskFailure's error but drops its cause, and the cause is what a build's
 * failure tells its owner. Everything is forwarded unchanged.
 */
async function startAnswerRecorder(upstream: string): Promise<{ endpoint: string; answers: TaskAnswer[]; stop(): Promise<void> }> {
  const answers: TaskAnswer[] = [];
  const target = new URL(upstream);
  const server: Server = createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = /^AWSStepFunctions\.(SendTaskSuccess|SendTaskFailure)$/.exec(String(incoming.headers['x-amz-target'] ?? ''))?.[1];
      if (action !== undefined) answers.push({ action: action as TaskAnswer['action'], ...(JSON.parse(body.toString('utf8')) as Omit<TaskAnswer, 'action'>) });
      const forwarded = request(
        { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
          answer.pipe(outgoing);
        },
      );
      forwarded.on('error', (error) => outgoing.destroy(error));
      forwarded.end(body);
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answers,
    stop: () => new Promise<void>((closed) => {
      server.closeAllConnections();
      server.close(() => {
        closed();
      });
    }),
  };
}

/** Moto without the model, for the first two groups. */
let aws: LocalAws;

beforeAll(async () => {
  aws = await startLocalAws();
  logger.level = 'silent';
});

afterAll(async () => {
  await aws.stop();
});

describe('the resource-waits function, on the factory\'s queue and trigger', () => {
  let waits: Waits;

  beforeAll(async () => {
    waits = await waitsOn(aws, aws.resources.resourceWaitsQueueUrl, 'wait');
  });

  it('ends the waits for an available volume, a completed snapshot and an available image at their first check', async () => {
    const { ec2 } = aws.clients;
    const volumeId = await createVolume(ec2);
    const snapshotId = await createSnapshot(ec2, volumeId);
    const { ImageId: imageId } = await ec2.send(
      new RegisterImageCommand({ Name: `waited-${randomUUID().slice(0, 8)}`, RootDeviceName: '/dev/xvda', BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId } }] }),
    );
    const polling = { intervalSeconds: 0, maxAttempts: 3 };
    const started = await Promise.all([
      waits.start('volume-available', volumeId, polling),
      waits.start('snapshot-completed', snapshotId, polling),
      waits.start('image-available', imageId ?? '', polling),
    ]);
    const [volume, snapshot, image] = await Promise.all(started.map(({ executionArn }) => waits.result(executionArn)));
    expect(volume).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'available', checks: 1 } });
    expect(snapshot).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'completed', checks: 1 } });
    expect(image).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'available', checks: 1 } });
    // ResultPath null: the wait's answer does not replace the build's state.
    expect(volume?.output).toMatchObject({ buildId: started[0].buildId, resourceId: volumeId });
  });

  it('fails a wait for a snapshot that is never listed with SnapshotNotCompleted once its bound is reached', async () => {
    const { executionArn } = await waits.start('snapshot-completed', NEVER_LISTED_SNAPSHOT, { intervalSeconds: 0, maxAttempts: 2 });
    const result = await waits.result(executionArn);
    expect(result).toMatchObject({ status: 'FAILED', error: 'AmiFactory.SnapshotNotCompleted' });
    // Moto drops SendTaskFailure's cause; where an engine keeps it, it names what was seen.
    if (result.cause !== undefined && result.cause !== '') expect(result.cause).toContain(`snapshot ${NEVER_LISTED_SNAPSHOT} is still not listed after 2 checks`);
  });

  it('fails a wait for a volume to detach at its first check when the volume is gone', async () => {
    const { executionArn } = await waits.start('volume-detached', 'vol-00000000000000000', { intervalSeconds: 0, maxAttempts: 50 });
    expect(await waits.result(executionArn)).toMatchObject({ status: 'FAILED', error: 'AmiFactory.VolumeFailed' });
  });

  it('fails a wait whose resource id is not of its kind with InvalidResourceWait', async () => {
    const volumeId = await createVolume(aws.clients.ec2);
    // A snapshot wait for a volume: were it checked, it would wait for its bound, never ready.
    const { executionArn } = await waits.start('snapshot-completed', volumeId, { intervalSeconds: 0, maxAttempts: 10_000 });
    expect(await waits.result(executionArn)).toMatchObject({ status: 'FAILED', error: INVALID_RESOURCE_WAIT });
  });

  it('fails a wait whose bound is out of range with InvalidResourceWait', async () => {
    const volumeId = await createVolume(aws.clients.ec2);
    const { executionArn } = await waits.start('volume-available', volumeId, { intervalSeconds: 0, maxAttempts: 0 });
    expect(await waits.result(executionArn)).toMatchObject({ status: 'FAILED', error: INVALID_RESOURCE_WAIT });
  });
});

describe('the resource-waits function, called with the records of a queue of the test\'s own', () => {
  let waits: Waits;
  let queueUrl: string;
  let queueArn: string;
  let recorder: Awaited<ReturnType<typeof startAnswerRecorder>>;
  const answerTo = (taskToken: string | undefined): TaskAnswer | undefined => recorder.answers.find((answer) => answer.taskToken === taskToken);
  const tokenOf = (record: SQSRecord | undefined): string | undefined => (JSON.parse(record?.body ?? '{}') as { taskToken?: string }).taskToken;

  beforeAll(async () => {
    // The function's own clients go through the recorder; the test's go to the engine directly.
    recorder = await startAnswerRecorder(aws.endpoint);
    useAwsClientConfig({ ...aws.clientConfig, endpoint: recorder.endpoint });
    const name = 'ami-factory-direct-waits';
    queueUrl = await createQueue(aws.clients.sqs, name, { VisibilityTimeout: '30' });
    queueArn = `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
    waits = await waitsOn(aws, queueUrl, 'direct');
  });

  afterAll(async () => {
    useAwsClientConfig(aws.clientConfig);
    await recorder.stop();
  });

  /** Receives until the messages of these builds are all in; as records. */
  async function receive(buildIds: string[], waitSeconds = 5): Promise<SQSRecord[]> {
    const found = new Map<string, SQSRecord>();
    const deadline = Date.now() + waitSeconds * 1000;
    while (found.size < buildIds.length && Date.now() < deadline) {
      const { Messages } = await aws.clients.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'] }),
      );
      for (const message of Messages ?? []) {
        const { buildId } = JSON.parse(message.Body ?? '{}') as { buildId?: string };
        if (buildId !== undefined && buildIds.includes(buildId)) found.set(buildId, recordOf(message, queueArn));
      }
    }
    if (found.size < buildIds.length) throw new Error(`received ${found.size} of ${buildIds.length} waits in ${waitSeconds} s`);
    return buildIds.map((buildId) => found.get(buildId) as SQSRecord);
  }

  /** What Lambda does with a message the function did not report as failed. */
  async function deleteRecord(record: SQSRecord): Promise<void> {
    await aws.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: record.receiptHandle }));
  }

  it('answers the ready waits of a batch, fails the invalid one, drops what is not a wait, and keeps only the pending one', async () => {
    const { ec2 } = aws.clients;
    const volumeId = await createVolume(ec2);
    const snapshotId = await createSnapshot(ec2, volumeId);
    const polling = { intervalSeconds: 5, maxAttempts: 3 };
    const volume = await waits.start('volume-available', volumeId, polling);
    const snapshot = await waits.start('snapshot-completed', snapshotId, polling);
    const pending = await waits.start('image-available', 'ami-00000000000000000', polling);
    const invalid = await waits.start('image-available', snapshotId, polling);
    const records = await receive([volume.buildId, snapshot.buildId, pending.buildId, invalid.buildId]);
    const notJson: SQSRecord = { ...(records[0] as SQSRecord), messageId: 'not-json', body: 'not a wait' };
    const noToken: SQSRecord = { ...(records[0] as SQSRecord), messageId: 'no-token', body: JSON.stringify({ task: 'wait' }) };

    const { batchItemFailures } = await handler({ Records: [...records, notJson, noToken] });

    expect(batchItemFailures).toEqual([{ itemIdentifier: records[2]?.messageId }]);
    expect(await waits.result(volume.executionArn)).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'available', checks: 1 } });
    expect(await waits.result(snapshot.executionArn)).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'completed', checks: 1 } });
    expect(await waits.result(invalid.executionArn)).toMatchObject({ status: 'FAILED', error: INVALID_RESOURCE_WAIT });
    expect(answerTo(tokenOf(records[0]))).toMatchObject({ action: 'SendTaskSuccess' });
    const output = JSON.parse(answerTo(tokenOf(records[0]))?.output ?? '{}') as Record<string, unknown>;
    expect(output).toEqual({ state: 'available', checks: 1, waitedSeconds: output.waitedSeconds });
    expect(output.waitedSeconds).toBeTypeOf('number');
    expect(answerTo(tokenOf(records[3]))).toEqual({
      action: 'SendTaskFailure',
      taskToken: tokenOf(records[3]),
      error: INVALID_RESOURCE_WAIT,
      cause: expect.stringContaining('resourceId') as unknown,
    });
    expect(answerTo(tokenOf(records[3]))?.cause).toContain('not an id of what image-available waits for');
    expect(answerTo(tokenOf(records[2]))).toBeUndefined();
    const stillWaiting = await waitForExecution(aws.clients.sfn, pending.executionArn, { wanted: () => true });
    expect(stillWaiting.status).toBe('RUNNING');
    for (const record of [records[0], records[1], records[3]]) await deleteRecord(record as SQSRecord);
    // The pending one comes back for its next check (a second later: no progress to pace by).
    const [again] = await receive([pending.buildId]);
    expect(again?.attributes.ApproximateReceiveCount).toBe('2');
    await deleteRecord(again as SQSRecord);
  });

  it('hides a pending wait until its next check, then gives up at the bound with a cause that says what it saw', async () => {
    const { executionArn, buildId } = await waits.start('snapshot-completed', NEVER_LISTED_SNAPSHOT, { intervalSeconds: 5, maxAttempts: 1 });
    const [first] = await receive([buildId]);
    expect(first?.attributes.ApproximateReceiveCount).toBe('1');
    expect(await handler({ Records: [first as SQSRecord] })).toEqual({ batchItemFailures: [{ itemIdentifier: first?.messageId }] });
    const checked = Date.now();
    // No progress to pace by and no check before: the next one in a second, not after the
    // queue's 30 s visibility timeout, and not at once either.
    const { Messages: atOnce } = await aws.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
    expect(atOnce ?? []).toEqual([]);
    const [second] = await receive([buildId]);
    const hiddenMs = Date.now() - checked;
    expect(hiddenMs).toBeGreaterThanOrEqual(900);
    expect(hiddenMs).toBeLessThan(5_000);
    expect(second?.attributes.ApproximateReceiveCount).toBe('2');
    expect(second?.messageId).toBe(first?.messageId);

    // One check after the first: the bound of 1 is reached.
    expect(await handler({ Records: [second as SQSRecord] })).toEqual({ batchItemFailures: [] });
    await deleteRecord(second as SQSRecord);
    const result = await waits.result(executionArn);
    expect(result).toMatchObject({ status: 'FAILED', error: 'AmiFactory.SnapshotNotCompleted' });
    // Moto drops the cause on its way to the execution: the one sent says what was seen.
    const answer = answerTo(tokenOf(second));
    expect(answer).toMatchObject({ action: 'SendTaskFailure', error: 'AmiFactory.SnapshotNotCompleted' });
    expect(answer?.cause).toMatch(new RegExp(`^snapshot ${NEVER_LISTED_SNAPSHOT} is still not listed after 1 check over \\d+ s$`));
  });

  it('answers a wait only once: a second delivery of an answered wait is dropped', async () => {
    const volumeId = await createVolume(aws.clients.ec2);
    const { executionArn, buildId } = await waits.start('volume-available', volumeId, { intervalSeconds: 5, maxAttempts: 3 });
    const [record] = await receive([buildId]);
    expect(await handler({ Records: [record as SQSRecord] })).toEqual({ batchItemFailures: [] });
    expect(await waits.result(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    // At-least-once delivery: the same message again finds the task over, which is not an error.
    expect(await handler({ Records: [record as SQSRecord] })).toEqual({ batchItemFailures: [] });
    await deleteRecord(record as SQSRecord);
  });
});

// The typical profile ten times as fast. A new volume is `creating` for 2 s (20 s modelled,
// a slow day's, so the first check surely sees it creating); a 1 GiB volume's snapshot
// (an eighth changed) is pending for (60 + 180 / 8) * 0.1 = 8.25 s.
const typical = loadAwsModelProfile('typical');
const profile = parseAwsModelProfile({ ...typical, timeScale: 0.1, latencySeconds: { ...typical.latencySeconds, createVolume: 20 } });
const CREATING_MS = 2_000;
const DETACHING_MS = 500;
const SNAPSHOT_PENDING_MS = 8_250;

describe('the resource-waits function behind the model of EC2\'s latencies', () => {
  let modelled: LocalAws;
  let waits: Waits;
  const calls = (action: string): number => modelled.engine.awsModelStats?.().calls[action] ?? 0;

  beforeAll(async () => {
    // A stage of its own: the function remembers queue URLs by ARN, and this engine's port differs.
    modelled = await startLocalAws({ stage: 'modelled', awsModel: profile });
    waits = await waitsOn(modelled, modelled.resources.resourceWaitsQueueUrl, 'modelled');
  });

  afterAll(async () => {
    await modelled.stop();
  });

  it('ends a wait for a new volume only once it has left `creating`, soon after', async () => {
    const describesBefore = calls('DescribeVolumes');
    const created = Date.now();
    const volumeId = await createVolume(modelled.clients.ec2);
    const { executionArn } = await waits.start('volume-available', volumeId, { intervalSeconds: 15, maxAttempts: 60 });
    const result = await waits.result(executionArn);
    const elapsedMs = Date.now() - created;
    expect(result).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'available' } });
    expect(elapsedMs).toBeGreaterThanOrEqual(CREATING_MS);
    // Checked every second while it has no progress to pace by: a few checks.
    const checks = result.answer?.checks as number;
    expect(checks).toBeGreaterThanOrEqual(2);
    expect(checks).toBeLessThanOrEqual(4);
    // One filtered describe per check, nothing else.
    expect(calls('DescribeVolumes') - describesBefore).toBe(checks);
  });

  it('ends a wait for a volume to detach only once EC2 no longer shows the attachment', async () => {
    const { ec2 } = modelled.clients;
    const volumeId = await createVolume(ec2);
    const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: ZONE } }));
    const instanceId = Instances?.[0]?.InstanceId;
    const created = await waits.start('volume-available', volumeId, { intervalSeconds: 15, maxAttempts: 60 });
    expect(await waits.result(created.executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { Volumes } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      if (Volumes?.[0]?.Attachments?.[0]?.State === 'attached') break;
      if (Date.now() > deadline) throw new Error(`${volumeId} is still not attached`);
      await sleep(100);
    }

    const detached = Date.now();
    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }));
    const { executionArn } = await waits.start('volume-detached', volumeId, { intervalSeconds: 15, maxAttempts: 60 });
    const result = await waits.result(executionArn);
    const elapsedMs = Date.now() - detached;
    expect(result).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'available' } });
    expect(elapsedMs).toBeGreaterThanOrEqual(DETACHING_MS);
  });

  it('ends a wait for a snapshot soon after it completed, in few checks paced by its progress', async () => {
    const volumeId = await createVolume(modelled.clients.ec2, 1);
    const volumeWait = await waits.start('volume-available', volumeId, { intervalSeconds: 15, maxAttempts: 60 });
    expect(await waits.result(volumeWait.executionArn)).toMatchObject({ status: 'SUCCEEDED' });

    const describesBefore = calls('DescribeSnapshots');
    const started = Date.now();
    const snapshotId = await createSnapshot(modelled.clients.ec2, volumeId);
    const { executionArn } = await waits.start('snapshot-completed', snapshotId, { intervalSeconds: 15, maxAttempts: 60 });
    const result = await waits.result(executionArn, 30_000);
    const elapsedMs = Date.now() - started;
    expect(result).toMatchObject({ status: 'SUCCEEDED', answer: { state: 'completed' } });
    expect(elapsedMs).toBeGreaterThanOrEqual(SNAPSHOT_PENDING_MS);
    // A check a second would take 9; polling every interval (15 s) would answer 7 s late.
    const checks = result.answer?.checks as number;
    expect(checks).toBeGreaterThanOrEqual(2);
    expect(checks).toBeLessThanOrEqual(7);
    expect(calls('DescribeSnapshots') - describesBefore).toBe(checks);
    expect(modelled.engine.awsModelStats?.().throttled).toEqual({});
  });
});
