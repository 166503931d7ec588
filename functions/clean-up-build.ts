/**
 * Clean-up of a build that ended without the workflow's own clean-up: triggered by the
 * EventBridge "Step Functions Execution Status Change" event for ABORTED, TIMED_OUT and
 * FAILED (a stopped or timed-out execution runs no Catch; a FAILED one normally cleaned up
 * already, and this sweeps whatever that missed). The local factory invokes it directly
 * with the same event, since moto has no EventBridge.
 *
 * Everything is found by the `ami-factory:build-id` tag, not remembered, so the function is
 * idempotent: a second run finds nothing left and does nothing. In order:
 * 1. tell each host that held the build to release its device lease (and abort the build
 *    if it still runs there): the hosts named by claim answers in the execution history and
 *    by the `ami-factory:instance-id` tag of the build's volumes;
 * 2. detach the build's volumes, politely first so the host can unmount, then by force;
 *    delete them;
 * 3. deregister the build's images, unless the build SUCCEEDED (then its images stay, with
 *    the snapshots behind them);
 * 4. delete the build's remaining snapshots.
 * Failures do not stop the other steps; they are reported at the end by throwing, so that
 * the asynchronous invocation is retried.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type Filter,
  type Image,
  type Snapshot,
  type Volume,
} from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { ec2, isAwsError, sfn, sqs } from './lib/aws.ts';
import { isBuildId } from './lib/build-id.ts';
import { executionArn, executionHistory } from './lib/builds.ts';
import { detachConfig, hostQueuePrefix, stateMachine } from './lib/config.ts';
import { BUILD_ID_TAG, INSTANCE_ID_TAG, type ClaimAnswer, type ReleaseTask } from './lib/contract.ts';
import { logger, type Logger } from './lib/log.ts';

export interface ExecutionStatusChange {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: string;
}

export type ExecutionStatusChangeEvent = EventBridgeEvent<'Step Functions Execution Status Change', ExecutionStatusChange>;

export interface CleanUpReport {
  buildId: string;
  /** Why nothing was done, when nothing was. */
  skipped?: string;
  releasedHosts: string[];
  deletedVolumes: string[];
  deregisteredImages: string[];
  deletedSnapshots: string[];
}

const ATTACHED = new Set(['attaching', 'attached', 'busy']);

/** Resource gone already: what a repeated clean-up meets. */
const GONE = [
  'InvalidVolume.NotFound',
  'InvalidSnapshot.NotFound',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
  'InvalidAttachment.NotFound',
];

const byBuild = (buildId: string): Filter[] => [{ Name: `tag:${BUILD_ID_TAG}`, Values: [buildId] }];

async function ignoringGone(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!isAwsError(error, ...GONE)) throw error;
  }
}

async function findVolumes(buildId: string): Promise<Volume[]> {
  const volumes: Volume[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(new DescribeVolumesCommand({ Filters: byBuild(buildId), NextToken }));
    volumes.push(...(page.Volumes ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return volumes;
}

async function findImages(buildId: string): Promise<Image[]> {
  return (await ec2().send(new DescribeImagesCommand({ Owners: ['self'], Filters: byBuild(buildId) }))).Images ?? [];
}

async function findSnapshots(buildId: string): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: byBuild(buildId), NextToken }));
    snapshots.push(...(page.Snapshots ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return snapshots;
}

function claimAnswers(events: readonly HistoryEvent[]): ClaimAnswer[] {
  const answers: ClaimAnswer[] = [];
  for (const event of events) {
    const output = event.taskSucceededEventDetails?.output;
    if (output === undefined) continue;
    try {
      const parsed = JSON.parse(output) as Partial<ClaimAnswer> | null;
      if (typeof parsed?.instanceId === 'string' && typeof parsed.hostQueueUrl === 'string') answers.push(parsed as ClaimAnswer);
    } catch {
      // Not a claim answer.
    }
  }
  return answers;
}

/** Instance id to host queue URL, for every host that held this build. */
async function hostsOf(history: readonly HistoryEvent[], volumes: readonly Volume[], log: Logger): Promise<Map<string, string>> {
  const hosts = new Map<string, string>();
  for (const answer of claimAnswers(history)) hosts.set(answer.instanceId, answer.hostQueueUrl);
  for (const volume of volumes) {
    const instanceId = volume.Tags?.find((tag) => tag.Key === INSTANCE_ID_TAG)?.Value;
    if (instanceId === undefined || hosts.has(instanceId)) continue;
    const QueueName = `${hostQueuePrefix()}-host-${instanceId}`;
    try {
      const { QueueUrl } = await sqs().send(new GetQueueUrlCommand({ QueueName }));
      if (QueueUrl !== undefined) hosts.set(instanceId, QueueUrl);
    } catch (error) {
      // The host is gone, and its leases with it.
      if (!isAwsError(error, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue')) throw error;
      log.warn({ instanceId, QueueName }, 'host queue does not exist; nothing to release');
    }
  }
  return hosts;
}

async function release(buildId: string, instanceId: string, queueUrl: string, log: Logger): Promise<boolean> {
  const task: ReleaseTask = { task: 'release', buildId };
  try {
    await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(task) }));
    return true;
  } catch (error) {
    if (!isAwsError(error, 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue')) throw error;
    log.warn({ instanceId, queueUrl }, 'host queue does not exist; nothing to release');
    return false;
  }
}

async function waitDetached(volumeId: string, seconds: number, pollSeconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    let volume: Volume | undefined;
    try {
      volume = (await ec2().send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0];
    } catch (error) {
      if (isAwsError(error, 'InvalidVolume.NotFound')) return true;
      throw error;
    }
    if (volume === undefined || volume.State === 'available' || volume.State === 'deleted' || volume.State === 'deleting') return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.max(pollSeconds, 0.1) * 1000);
  }
}

async function detach(volume: Volume, force: boolean): Promise<void> {
  for (const attachment of volume.Attachments ?? []) {
    if (!ATTACHED.has(attachment.State ?? '') && !force) continue;
    try {
      // With InstanceId and Device: the unambiguous form, and the only one moto accepts.
      await ec2().send(
        new DetachVolumeCommand({ VolumeId: volume.VolumeId, InstanceId: attachment.InstanceId, Device: attachment.Device, Force: force || undefined }),
      );
    } catch (error) {
      // Already detaching or detached: the wait below decides.
      if (!isAwsError(error, ...GONE, 'IncorrectState')) throw error;
    }
  }
}

async function removeVolume(volume: Volume, log: Logger): Promise<string> {
  const volumeId = volume.VolumeId as string;
  const { waitSeconds, pollSeconds } = detachConfig();
  if ((volume.Attachments ?? []).some((attachment) => ATTACHED.has(attachment.State ?? ''))) {
    await detach(volume, false);
    if (!(await waitDetached(volumeId, waitSeconds, pollSeconds))) {
      // The host did not let go (hung, or gone): the volume is the build's scratch copy, so
      // forcing risks nothing worth keeping.
      log.warn({ volumeId }, 'volume still attached; forcing the detach');
      await detach(volume, true);
      if (!(await waitDetached(volumeId, waitSeconds, pollSeconds))) throw new Error(`volume ${volumeId} is still attached after a forced detach`);
    }
  }
  await ignoringGone(() => ec2().send(new DeleteVolumeCommand({ VolumeId: volumeId })));
  return volumeId;
}

/** The execution's status now; the event's when the execution is no longer known. */
async function currentStatus(arn: string, fallback: string): Promise<string> {
  try {
    return (await sfn().send(new DescribeExecutionCommand({ executionArn: arn }))).status ?? fallback;
  } catch (error) {
    if (isAwsError(error, 'ExecutionDoesNotExist')) return fallback;
    throw error;
  }
}

export async function handler(event: ExecutionStatusChangeEvent, context?: Context): Promise<CleanUpReport> {
  const machine = stateMachine();
  const { detail } = event;
  const buildId = detail.name;
  const log = logger.child({ requestId: context?.awsRequestId, buildId, status: detail.status });
  const report: CleanUpReport = { buildId, releasedHosts: [], deletedVolumes: [], deregisteredImages: [], deletedSnapshots: [] };
  if (detail.stateMachineArn !== machine.arn || !isBuildId(buildId)) {
    log.warn({ stateMachineArn: detail.stateMachineArn }, 'not a build of this factory; ignored');
    return { ...report, skipped: 'not a build of this factory' };
  }
  const arn = detail.executionArn || executionArn(machine, buildId);
  const status = await currentStatus(arn, detail.status);
  // A redriven execution runs again and needs its resources.
  if (status === 'RUNNING' || status === 'PENDING_REDRIVE') {
    log.info({ current: status }, 'the build runs again; nothing cleaned');
    return { ...report, skipped: `the build is ${status}` };
  }

  const failures: unknown[] = [];
  const settle = async <T>(work: Promise<T>[]): Promise<T[]> => {
    const done: T[] = [];
    for (const result of await Promise.allSettled(work)) {
      if (result.status === 'fulfilled') done.push(result.value);
      else failures.push(result.reason);
    }
    return done;
  };

  const [volumes, images, snapshots, history] = await Promise.all([
    findVolumes(buildId),
    findImages(buildId),
    findSnapshots(buildId),
    // With data: the claim answers name the hosts.
    executionHistory(sfn(), arn, true).catch((error: unknown) => {
      if (isAwsError(error, 'ExecutionDoesNotExist')) return [];
      throw error;
    }),
  ]);

  // First, so the host unmounts and lets the polite detach succeed.
  const hosts = await hostsOf(history, volumes, log);
  const released = await settle([...hosts].map(async ([instanceId, url]) => ((await release(buildId, instanceId, url, log)) ? instanceId : '')));
  report.releasedHosts = released.filter((id) => id !== '');

  report.deletedVolumes = await settle(volumes.filter((v) => v.State !== 'deleted' && v.State !== 'deleting').map((v) => removeVolume(v, log)));

  // A succeeded build's images are its product: keep them and the snapshots they stand on.
  const keep = new Set<string>();
  if (status === 'SUCCEEDED') {
    for (const image of images) for (const mapping of image.BlockDeviceMappings ?? []) if (mapping.Ebs?.SnapshotId) keep.add(mapping.Ebs.SnapshotId);
  } else {
    report.deregisteredImages = await settle(
      images.map(async (image) => {
        await ignoringGone(() => ec2().send(new DeregisterImageCommand({ ImageId: image.ImageId })));
        return image.ImageId as string;
      }),
    );
  }
  report.deletedSnapshots = await settle(
    snapshots
      .filter((snapshot) => snapshot.SnapshotId !== undefined && !keep.has(snapshot.SnapshotId))
      .map(async (snapshot) => {
        await ignoringGone(() => ec2().send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId })));
        return snapshot.SnapshotId as string;
      }),
  );

  log.info({ ...report, failures: failures.length }, 'clean-up done');
  if (failures.length > 0) {
    for (const failure of failures) log.error({ err: failure }, 'clean-up step failed');
    throw new AggregateError(failures, `clean-up of ${buildId} left ${failures.length} resource(s) behind; it will be retried`);
  }
  return report;
}
