/**
 * Clean-up of a build that did not succeed: triggered by the EventBridge "Step Functions
 * Execution Status Change" event for FAILED, TIMED_OUT and ABORTED. It is the build's only
 * undo: the workflow fails at once on any error, like a stopped or timed-out execution, and
 * leaves every resource to this function. The local factory invokes it with the same event,
 * since the local AWS has no EventBridge.
 *
 * A build's resources are found, not remembered: by the `ami-factory:build-id` tag, and by
 * the ids the execution history shows CreateVolume (or AttachVolume, for a pooled volume), CreateSnapshot and RegisterImage
 * returning (a call can succeed and its tags not land). So the function is idempotent: a
 * second run finds nothing left and does nothing. In order:
 * 1. tell each host that held the build to release its device lease and abort the build if
 *    it still runs there, so it unmounts and a polite detach can succeed: the hosts named by
 *    claim answers in the history and by the `ami-factory:instance-id` tag of the volumes
 *    (a host picks a device for its next build from EC2's attachments, so a device still
 *    attached is not leased again);
 * 2. detach the build's volumes, politely first, then by force; delete them;
 * 3. deregister the build's images, unless the build SUCCEEDED (then its images stay, with
 *    the snapshots behind them);
 * 4. delete the build's remaining snapshots, and its copies in other regions and accounts
 *    (the release's, made before the build ended: lib/copy-leftovers.ts);
 * 5. release the build's claim on ami_name, if it still holds it, so the name may be built
 *    again (a build that succeeded keeps it through its image);
 * 6. delete the build's secret, the values of its sensitive variables;
 * 7. publish Build Failed (source `ami-factory`, contract/events.ts) on the factory's bus,
 *    with the execution's error and cause, and whether everything was removed.
 * Failures do not stop the other steps; they are reported at the end by throwing, so that
 * the asynchronous invocation is retried. A retry publishes Build Failed again: the event is
 * delivered at least once, and its `cleanedUp` says whether that run left anything.
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
import { DescribeExecutionCommand, type DescribeExecutionOutput, type HistoryEvent } from '@aws-sdk/client-sfn';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetQueueUrlCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import {
  BUILD_FAILED,
  BuildFailedDetailSchema,
  FACTORY_EVENT_SOURCE,
  type BuildFailedDetail,
  type ExecutionStatusChange,
  type ExecutionStatusChangeEvent,
} from '../contract/events.ts';
import { BUILD_ID_TAG, INSTANCE_ID_TAG, ROOT_SNAPSHOT_TAG } from '../contract/execution.ts';
import { ClaimAnswerSchema, type ClaimAnswer, type ReleaseTask } from '../contract/worker-tasks.ts';
import { ec2, eventBridge, isAwsError, s3, secretsManager, sfn, sqs } from './lib/aws.ts';
import { isBuildId } from './lib/build-id.ts';
import { deleteBuildSecret } from './lib/build-secret.ts';
import { executionArn, executionHistory } from './lib/builds.ts';
import { artifactsBucket, detachConfig, hostQueuePrefix, stateMachine } from './lib/config.ts';
import { copyTargetsOf, removeCopies } from './lib/copy-leftovers.ts';
import { logger, type Logger } from './lib/log.ts';
import { releaseName } from './lib/name-claims.ts';

export interface CleanUpReport {
  buildId: string;
  /** Why nothing was done, when nothing was. */
  skipped?: string;
  releasedHosts: string[];
  deletedVolumes: string[];
  deregisteredImages: string[];
  deletedSnapshots: string[];
  /** The build's copies in other regions and accounts, removed: `account/region/id`. */
  removedCopies: string[];
  /** The ami_name whose claim this build held and released. */
  releasedName: string | null;
  /** The build's secret, deleted. */
  deletedSecret: string | null;
  /** The Build Failed event's detail, once published. */
  publishedFailure: BuildFailedDetail | null;
}

/** What a build left, found by its tag and its execution history. */
interface Leftovers {
  /** Instance id to host queue URL, for every host that held the build. */
  hosts: Map<string, string>;
  volumes: Volume[];
  images: Image[];
  snapshots: Snapshot[];
}

/** The ids the execution's own calls returned, and the hosts that answered its claims. */
interface HistoryRecord {
  claims: ClaimAnswer[];
  volumeIds: string[];
  imageIds: string[];
  snapshotIds: string[];
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

const NO_QUEUE = ['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue'];

export async function handler(event: ExecutionStatusChangeEvent, context?: Context): Promise<CleanUpReport> {
  const { detail } = event;
  const buildId = detail.name;
  const log = logger.child({ requestId: context?.awsRequestId, buildId, status: detail.status });
  const { arn, status, execution, skipped } = await whetherToClean(detail);
  if (skipped !== undefined) {
    log.info({ stateMachineArn: detail.stateMachineArn }, `nothing cleaned: ${skipped}`);
    return { ...emptyReport(buildId), skipped };
  }
  const failures = new Failures();
  const leftovers = await findLeftovers(buildId, arn, log);
  const succeeded = status === 'SUCCEEDED';
  const report = await removeLeftovers(buildId, leftovers, succeeded, failures, log);
  const input = inputOf(execution);
  if (!succeeded) [report.removedCopies = []] = await failures.settle([removeCopiesOf(buildId, execution)]);
  const [releasedName = null] = succeeded ? [] : await failures.settle([releaseBuildName(buildId, input)]);
  const [deletedSecret = null] = await failures.settle([deleteSecretOf(input)]);
  report.releasedName = releasedName;
  report.deletedSecret = deletedSecret;
  // Last, so the event says whether anything was left behind.
  const failure = failureDetail(buildId, status, execution, input, failures.count === 0);
  if (failure !== undefined) {
    const [published = null] = await failures.settle([publishBuildFailed(failure)]);
    report.publishedFailure = published;
  } else if (!succeeded) {
    // Only an execution started without the submit function's input, or one long gone.
    log.warn('Build Failed not published: no execution input naming the image');
  }
  log.info({ ...report, failures: failures.count }, 'clean-up done');
  failures.throwIfAny(buildId, log);
  return report;
}

function emptyReport(buildId: string): CleanUpReport {
  return {
    buildId,
    releasedHosts: [],
    deletedVolumes: [],
    deregisteredImages: [],
    deletedSnapshots: [],
    removedCopies: [],
    releasedName: null,
    deletedSecret: null,
    publishedFailure: null,
  };
}

const UNSUCCESSFUL = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** Where Build Failed goes: the deployment's EVENT_BUS_NAME, the account's default bus without one. */
function eventBusName(): string {
  return process.env.EVENT_BUS_NAME?.trim() || 'default';
}

/** Build Failed's detail for a build that ended unsuccessfully and whose input is known; otherwise undefined. */
function failureDetail(
  buildId: string,
  status: string,
  execution: DescribeExecutionOutput | undefined,
  input: CleanUpInput,
  cleanedUp: boolean,
): BuildFailedDetail | undefined {
  const ended = UNSUCCESSFUL.find((unsuccessful) => unsuccessful === status);
  if (ended === undefined || input.amiName === undefined) return undefined;
  // Parsed, so a detail that drifted from the contract fails here rather than at a subscriber.
  return BuildFailedDetailSchema.parse({
    buildId,
    team: input.team ?? null,
    amiName: input.amiName,
    status: ended,
    error: execution?.error ?? null,
    cause: execution?.cause ?? null,
    cleanedUp,
  });
}

async function publishBuildFailed(detail: BuildFailedDetail): Promise<BuildFailedDetail> {
  const answer = await eventBridge().send(
    new PutEventsCommand({
      Entries: [{ EventBusName: eventBusName(), Source: FACTORY_EVENT_SOURCE, DetailType: BUILD_FAILED, Detail: JSON.stringify(detail) }],
    }),
  );
  // PutEvents answers 200 with the entry refused (throttled, for one): a retry publishes it.
  const refused = answer.Entries?.find((entry) => entry.ErrorCode !== undefined);
  if ((answer.FailedEntryCount ?? 0) > 0 || refused !== undefined) {
    throw new Error(`Build Failed for ${detail.buildId} was not published: ${refused?.ErrorCode ?? 'refused'} ${refused?.ErrorMessage ?? ''}`.trim());
  }
  return detail;
}

/** What clean-up reads of the execution's input: its name, target, owner and secret. */
interface CleanUpInput {
  amiName?: string;
  team?: string;
  target?: { region: string; accountId: string };
  owned: boolean;
  secretId?: string;
}

function inputOf(execution: DescribeExecutionOutput | undefined): CleanUpInput {
  const input = parsed(execution?.input) ?? {};
  const registerImage = input.registerImage as { Name?: unknown } | undefined;
  const target = input.target as { region?: unknown; accountId?: unknown } | undefined;
  const owner = input.owner as { team?: unknown } | null | undefined;
  return {
    team: typeof owner?.team === 'string' ? owner.team : undefined,
    amiName: typeof registerImage?.Name === 'string' ? registerImage.Name : undefined,
    target: typeof target?.region === 'string' && typeof target.accountId === 'string' ? { region: target.region, accountId: target.accountId } : undefined,
    // Builds the API started (with an owner) claimed their name; others (tests driving the
    // workflow directly) did not.
    owned: typeof input.owner === 'object' && input.owner !== null,
    secretId: typeof (input.secret as { id?: unknown } | null | undefined)?.id === 'string' ? (input.secret as { id: string }).id : undefined,
  };
}

/** The ami_name released, or null when the build held no claim (any more). */
async function releaseBuildName(buildId: string, input: CleanUpInput): Promise<string | null> {
  if (!input.owned || input.amiName === undefined || input.target === undefined) return null;
  const target = { bucket: artifactsBucket(), ...input.target, amiName: input.amiName };
  return (await releaseName(s3(), target, buildId)) ? input.amiName : null;
}

/** The copies the release made before the build ended (release.ts), in every region and account its input named. */
async function removeCopiesOf(buildId: string, execution: DescribeExecutionOutput | undefined): Promise<string[]> {
  const targets = copyTargetsOf(parsed(execution?.input) ?? {});
  if (targets.length === 0) return [];
  const machine = stateMachine();
  return removeCopies({ factoryAccountId: machine.accountId, partition: machine.partition, sessionName: `ami-factory-${buildId}` }, buildId, targets);
}

async function deleteSecretOf(input: CleanUpInput): Promise<string | null> {
  if (input.secretId === undefined) return null;
  return (await deleteBuildSecret(secretsManager(), input.secretId)) ? input.secretId : null;
}

/** Only this factory's builds, and only once they no longer run: a redriven execution needs its resources. */
async function whetherToClean(
  detail: ExecutionStatusChange,
): Promise<{ arn: string; status: string; execution?: DescribeExecutionOutput; skipped?: string }> {
  const machine = stateMachine();
  const arn = detail.executionArn || executionArn(machine, detail.name);
  if (detail.stateMachineArn !== machine.arn || !isBuildId(detail.name)) return { arn, status: detail.status, skipped: 'not a build of this factory' };
  const execution = await currentExecution(arn);
  const status = execution?.status ?? detail.status;
  if (status === 'RUNNING' || status === 'PENDING_REDRIVE') return { arn, status, execution, skipped: `the build is ${status}` };
  return { arn, status, execution };
}

/** The execution as it is now (its status, and its input); undefined when it is no longer known. */
async function currentExecution(arn: string): Promise<DescribeExecutionOutput | undefined> {
  try {
    return await sfn().send(new DescribeExecutionCommand({ executionArn: arn }));
  } catch (error) {
    if (isAwsError(error, 'ExecutionDoesNotExist')) return undefined;
    throw error;
  }
}

async function findLeftovers(buildId: string, arn: string, log: Logger): Promise<Leftovers> {
  const record = recordOf(
    // With data: the claim answers name the hosts, the call results name the resources.
    await executionHistory(sfn(), arn, true).catch((error: unknown) => {
      if (isAwsError(error, 'ExecutionDoesNotExist')) return [];
      throw error;
    }),
  );
  const [tagged, recorded] = await Promise.all([
    Promise.all([findVolumes(byBuild(buildId)), findImages(byBuild(buildId)), findSnapshots(byBuild(buildId))]),
    Promise.all([volumesById(record.volumeIds), imagesById(record.imageIds), snapshotsById(record.snapshotIds)]),
  ]);
  const volumes = unique([...tagged[0], ...recorded[0]], (volume) => volume.VolumeId);
  return {
    hosts: await hostsOf(record.claims, volumes, log),
    volumes,
    images: unique([...tagged[1], ...recorded[1]], (image) => image.ImageId),
    snapshots: unique([...tagged[2], ...recorded[2]], (snapshot) => snapshot.SnapshotId),
  };
}

async function removeLeftovers(buildId: string, leftovers: Leftovers, succeeded: boolean, failures: Failures, log: Logger): Promise<CleanUpReport> {
  const report = emptyReport(buildId);
  // First, so the host stops the build and unmounts, and the polite detach can succeed.
  const released = await failures.settle([...leftovers.hosts].map(([instanceId, url]) => release(buildId, instanceId, url, log)));
  report.releasedHosts = released.filter((instanceId) => instanceId !== undefined);
  const live = leftovers.volumes.filter((volume) => volume.State !== 'deleted' && volume.State !== 'deleting');
  report.deletedVolumes = await failures.settle(live.map((volume) => removeVolume(volume, log)));
  // A succeeded build's images are its product: keep them and the snapshots they stand on.
  const kept = succeeded ? snapshotsBehind(leftovers.images) : new Set<string>();
  if (!succeeded) report.deregisteredImages = await failures.settle(leftovers.images.map(deregister));
  const doomed = leftovers.snapshots.filter((snapshot) => snapshot.SnapshotId !== undefined && !kept.has(snapshot.SnapshotId));
  report.deletedSnapshots = await failures.settle(doomed.map(deleteSnapshot));
  return report;
}

/** Collects what failed, so one failure does not stop the other steps. */
class Failures {
  readonly #reasons: unknown[] = [];

  get count(): number {
    return this.#reasons.length;
  }

  async settle<T>(work: Promise<T>[]): Promise<T[]> {
    const done: T[] = [];
    for (const result of await Promise.allSettled(work)) {
      if (result.status === 'fulfilled') done.push(result.value);
      else this.#reasons.push(result.reason);
    }
    return done;
  }

  throwIfAny(buildId: string, log: Logger): void {
    if (this.#reasons.length === 0) return;
    for (const reason of this.#reasons) log.error({ err: reason }, 'clean-up step failed');
    throw new AggregateError(this.#reasons, `clean-up of ${buildId} left ${this.#reasons.length} resource(s) behind; it will be retried`);
  }
}

const byBuild = (buildId: string): Filter[] => [{ Name: `tag:${BUILD_ID_TAG}`, Values: [buildId] }];

function unique<T>(items: T[], key: (item: T) => string | undefined): T[] {
  const seen = new Map<string, T>();
  for (const item of items) {
    const id = key(item);
    if (id !== undefined && !seen.has(id)) seen.set(id, item);
  }
  return [...seen.values()];
}

async function ignoringGone<T>(action: () => Promise<T>, gone: T): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (!isAwsError(error, ...GONE)) throw error;
    return gone;
  }
}

async function findVolumes(Filters: Filter[]): Promise<Volume[]> {
  const volumes: Volume[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(new DescribeVolumesCommand({ Filters, NextToken }));
    volumes.push(...(page.Volumes ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return volumes;
}

async function findImages(Filters: Filter[]): Promise<Image[]> {
  return (await ec2().send(new DescribeImagesCommand({ Owners: ['self'], Filters }))).Images ?? [];
}

async function findSnapshots(Filters: Filter[]): Promise<Snapshot[]> {
  const snapshots: Snapshot[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters, NextToken }));
    snapshots.push(...(page.Snapshots ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return snapshots;
}

/** One at a time: a single id that is gone fails a call that names several. */
async function volumesById(ids: string[]): Promise<Volume[]> {
  const found = await Promise.all(ids.map((id) => ignoringGone(async () => (await ec2().send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes ?? [], [])));
  return found.flat();
}

async function imagesById(ids: string[]): Promise<Image[]> {
  const found = await Promise.all(ids.map((id) => ignoringGone(async () => (await ec2().send(new DescribeImagesCommand({ ImageIds: [id] }))).Images ?? [], [])));
  return found.flat();
}

async function snapshotsById(ids: string[]): Promise<Snapshot[]> {
  const found = await Promise.all(
    ids.map((id) => ignoringGone(async () => (await ec2().send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots ?? [], [])),
  );
  return found.flat();
}

/** What the execution's history says: claim answers, and the ids its EC2 calls returned. */
function recordOf(events: readonly HistoryEvent[]): HistoryRecord {
  const record: HistoryRecord = { claims: [], volumeIds: [], imageIds: [], snapshotIds: [] };
  for (const event of events) {
    const details = event.taskSucceededEventDetails;
    const output = parsed(details?.output);
    if (output === undefined) continue;
    const claim = ClaimAnswerSchema.safeParse(output);
    if (claim.success) record.claims.push(claim.data);
    if (details?.resourceType?.endsWith(':ec2') !== true) continue;
    // A pooled volume is the build's once its AttachVolume succeeded (the claim).
    if ((details.resource === 'createVolume' || details.resource === 'attachVolume') && typeof output.VolumeId === 'string') record.volumeIds.push(output.VolumeId);
    if (details.resource === 'createSnapshot' && typeof output.SnapshotId === 'string') record.snapshotIds.push(output.SnapshotId);
    if (details.resource === 'registerImage' && typeof output.ImageId === 'string') record.imageIds.push(output.ImageId);
  }
  return record;
}

function parsed(output: string | undefined): Record<string, unknown> | undefined {
  if (output === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(output);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

async function hostsOf(claims: readonly ClaimAnswer[], volumes: readonly Volume[], log: Logger): Promise<Map<string, string>> {
  const hosts = new Map<string, string>();
  for (const claim of claims) hosts.set(claim.instanceId, claim.hostQueueUrl);
  for (const volume of volumes) {
    const instanceId = volume.Tags?.find((tag) => tag.Key === INSTANCE_ID_TAG)?.Value;
    if (instanceId === undefined || hosts.has(instanceId)) continue;
    const queueUrl = await hostQueueUrl(instanceId, log);
    if (queueUrl !== undefined) hosts.set(instanceId, queueUrl);
  }
  return hosts;
}

async function hostQueueUrl(instanceId: string, log: Logger): Promise<string | undefined> {
  const QueueName = `${hostQueuePrefix()}-host-${instanceId}`;
  try {
    return (await sqs().send(new GetQueueUrlCommand({ QueueName }))).QueueUrl;
  } catch (error) {
    // The host is gone, and its leases with it.
    if (!isAwsError(error, ...NO_QUEUE)) throw error;
    log.warn({ instanceId, QueueName }, 'host queue does not exist; nothing to release');
    return undefined;
  }
}

/** The instance id when the release was sent; undefined when the host is gone. */
async function release(buildId: string, instanceId: string, queueUrl: string, log: Logger): Promise<string | undefined> {
  const task: ReleaseTask = { task: 'release', buildId };
  try {
    await sqs().send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(task) }));
    return instanceId;
  } catch (error) {
    if (!isAwsError(error, ...NO_QUEUE)) throw error;
    log.warn({ instanceId, queueUrl }, 'host queue does not exist; nothing to release');
    return undefined;
  }
}

async function removeVolume(volume: Volume, log: Logger): Promise<string> {
  const volumeId = volume.VolumeId as string;
  if (isAttached(volume) && !(await detachAndWait(volume, false))) {
    // The host did not let go (hung, or gone): the volume is the build's scratch copy, never
    // snapshotted from here, so forcing risks nothing worth keeping.
    log.warn({ volumeId }, 'volume still attached; forcing the detach');
    if (!(await detachAndWait(volume, true))) throw new Error(`volume ${volumeId} is still attached after a forced detach`);
  }
  await ignoringGone(() => ec2().send(new DeleteVolumeCommand({ VolumeId: volumeId })), undefined);
  return volumeId;
}

function isAttached(volume: Volume): boolean {
  return (volume.Attachments ?? []).some((attachment) => ATTACHED.has(attachment.State ?? ''));
}

/** True once the volume is free, within the configured wait. */
async function detachAndWait(volume: Volume, force: boolean): Promise<boolean> {
  await detach(volume, force);
  const { waitSeconds, pollSeconds } = detachConfig();
  return waitDetached(volume.VolumeId as string, waitSeconds, pollSeconds);
}

async function detach(volume: Volume, force: boolean): Promise<void> {
  for (const attachment of volume.Attachments ?? []) {
    if (!ATTACHED.has(attachment.State ?? '') && !force) continue;
    try {
      // With InstanceId and Device: the unambiguous form, and the only one the local AWS accepts.
      await ec2().send(
        new DetachVolumeCommand({ VolumeId: volume.VolumeId, InstanceId: attachment.InstanceId, Device: attachment.Device, Force: force || undefined }),
      );
    } catch (error) {
      // Already detaching or detached: the wait decides.
      if (!isAwsError(error, ...GONE, 'IncorrectState')) throw error;
    }
  }
}

async function waitDetached(volumeId: string, seconds: number, pollSeconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const volume = await ignoringGone(async () => (await ec2().send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0], undefined);
    if (volume === undefined || volume.State === 'available' || volume.State === 'deleted' || volume.State === 'deleting') return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.max(pollSeconds, 0.1) * 1000);
  }
}

/**
 * The snapshots a kept image stands on: its mappings', and the one the build recorded on it
 * (the local AWS registers images with a snapshot of its own).
 */
function snapshotsBehind(images: readonly Image[]): Set<string> {
  const kept = new Set<string>();
  for (const image of images) {
    for (const mapping of image.BlockDeviceMappings ?? []) if (mapping.Ebs?.SnapshotId) kept.add(mapping.Ebs.SnapshotId);
    const recorded = image.Tags?.find((tag) => tag.Key === ROOT_SNAPSHOT_TAG)?.Value;
    if (recorded !== undefined) kept.add(recorded);
  }
  return kept;
}

async function deregister(image: Image): Promise<string> {
  await ignoringGone(() => ec2().send(new DeregisterImageCommand({ ImageId: image.ImageId })), undefined);
  return image.ImageId as string;
}

async function deleteSnapshot(snapshot: Snapshot): Promise<string> {
  await ignoringGone(() => ec2().send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId })), undefined);
  return snapshot.SnapshotId as string;
}
