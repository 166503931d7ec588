/**
 * The account's limit on pending snapshots, under the model of EC2 (local/aws-model): with the
 * account at its limit, a build's CreateSnapshot is refused (PendingSnapshotLimitExceeded), and
 * after its retries the build waits for room (the resource-waits function's snapshot-capacity
 * wait) instead of failing, and goes on once a snapshot stops being pending. A refusal while the
 * account had plenty of room fails the build with AmiFactory.SnapshotRefused.
 *
 * The account is filled with snapshots that stay pending for hours (of a huge volume), so which
 * path a build takes does not depend on timing.
 */
import { CreateSnapshotCommand, CreateVolumeCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadAwsModelProfile, type AwsModelProfile } from '../../local/aws-model/index.ts';
import { callsTo, executionHistory, statesEntered, waitForExecution } from '../support/executions.ts';
import { LOCAL_REGION } from '../support/local-aws.ts';
import { buildImageInput } from './support/build-input.ts';
import { cleanUpAfter, startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

const typical = loadAwsModelProfile('typical');
/** Typical latencies at 1/50: an 8 GiB build volume's snapshot takes 4.8 s; two pending snapshots at most. */
const PROFILE: AwsModelProfile = { ...typical, timeScale: 0.02, limits: { pendingSnapshots: 2 } };

let local: LocalBuildImage;
let blockers: string[] = [];

beforeAll(async () => {
  local = await startLocalBuildImage({ awsModel: PROFILE });
  // The source image's snapshot is pending for a few seconds too: the account starts empty.
  for (;;) {
    const { Snapshots = [] } = await local.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [local.sourceSnapshotId] }));
    if (Snapshots[0]?.State === 'completed') break;
    await sleep(250);
  }
});

afterEach(async () => {
  for (const SnapshotId of blockers) await local.ec2.send(new DeleteSnapshotCommand({ SnapshotId }));
  blockers = [];
  delete process.env.PENDING_SNAPSHOT_LIMIT;
});

afterAll(async () => {
  await local.stop();
});

/** Fills the account's pending snapshots: snapshots of a 16 TiB volume take hours under the model. */
async function fillPendingSnapshots(count: number): Promise<void> {
  const { VolumeId } = await local.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${LOCAL_REGION}a`, Size: 16_384 }));
  // The volume is `creating` for a moment under the model; a snapshot of it waits for that.
  await sleep(200);
  for (let index = 0; index < count; index += 1) {
    const { SnapshotId } = await local.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    blockers.push(SnapshotId ?? '');
  }
}

function input() {
  return buildImageInput({
    sourceSnapshotId: local.sourceSnapshotId,
    createVolume: { Size: 8 },
    polling: { volume: 5, attachment: 5, snapshot: 15, image: 15, maxAttempts: 500 },
  });
}

describe('a build whose account is at its limit of pending snapshots', () => {
  it('waits for room instead of failing, and goes on once a snapshot is no longer pending', async () => {
    process.env.PENDING_SNAPSHOT_LIMIT = '2';
    await fillPendingSnapshots(2);
    const build = input();
    const executionArn = await local.aws.startExecution(build);

    // Refused through its two retries (seconds), then waiting.
    const deadline = Date.now() + 120_000;
    while (!statesEntered(await executionHistory(local.aws.clients.sfn, executionArn)).includes('Wait for snapshot capacity')) {
      if (Date.now() > deadline) throw new Error('the build never waited for snapshot capacity');
      await sleep(500);
    }
    // Still waiting while the account stays full.
    await sleep(3000);
    expect((await waitForExecution(local.aws.clients.sfn, executionArn, { wanted: () => true })).status).toBe('RUNNING');

    const freed = Date.now();
    await local.ec2.send(new DeleteSnapshotCommand({ SnapshotId: blockers.shift() }));
    const result = await waitForExecution(local.aws.clients.sfn, executionArn, { timeoutMs: 120_000 });
    expect(result.status, `${result.error ?? ''}: ${result.cause ?? ''}`).toBe('SUCCEEDED');

    const events = await executionHistory(local.aws.clients.sfn, executionArn);
    const entered = statesEntered(events);
    expect(entered.filter((name) => name === 'Wait for snapshot capacity')).toHaveLength(1);
    expect(entered.filter((name) => name === 'Create snapshot')).toHaveLength(2);
    // The same snapshot request, once it was let through; the room came from the deleted snapshot.
    const calls = callsTo(events, 'ec2:createSnapshot');
    expect(new Set(calls.map((call) => JSON.stringify(call))).size).toBe(1);
    const waitEnded = events.find((event) => event.stateExitedEventDetails?.name === 'Wait for snapshot capacity')?.timestamp?.getTime() ?? 0;
    expect(waitEnded).toBeGreaterThanOrEqual(freed);
  });

  it('fails with AmiFactory.SnapshotRefused when CreateSnapshot is refused while the account has plenty of room', async () => {
    // The function holds the account to 100; only the model refuses at 2: a refusal that is
    // not about the account's room, as far as the function can tell.
    process.env.PENDING_SNAPSHOT_LIMIT = '100';
    await fillPendingSnapshots(2);
    const build = input();
    const executionArn = await local.aws.startExecution(build);
    const result = await waitForExecution(local.aws.clients.sfn, executionArn, { timeoutMs: 180_000 });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('AmiFactory.SnapshotRefused');
    const entered = statesEntered(await executionHistory(local.aws.clients.sfn, executionArn));
    expect(entered.filter((name) => name === 'Wait for snapshot capacity')).toHaveLength(1);
    const report = await cleanUpAfter({ ...result, buildId: build.buildId, executionArn, stateMachineArn: local.aws.resources.stateMachineArn, events: [] });
    expect(report.deletedVolumes).toHaveLength(1);
  });
});
