/**
 * The workflow under the model of EC2's latencies and throttling (local/aws-model): volumes
 * that stay `creating`, attachments `attaching`, snapshots `pending` with progress, images
 * `pending`, and request buckets small enough that a handful of builds submitted together are
 * throttled. The CI-sized form of `npm run bench:build`'s 200 builds at once: every build
 * succeeds, no wait ends before its resource is ready by the model's clock, and the
 * workflow makes at most 30 state transitions more than EC2 calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAwsModelProfile, type AwsModelProfile } from '../../local/aws-model/index.ts';
import { buildTimeline, modelledSnapshotSeconds, stateSpans } from '../../bench/build-timeline.ts';
import { executionHistory, waitForExecution } from '../support/executions.ts';
import { buildImageInput } from './support/build-input.ts';
import { startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

const typical = loadAwsModelProfile('typical');
/** Typical latencies at 1/50 (a 4.8 s snapshot of an 8 GiB volume); buckets of 4 refilled at 2 per second. */
const TIGHT: AwsModelProfile = {
  ...typical,
  timeScale: 0.02,
  buckets: Object.fromEntries(Object.keys(typical.buckets).map((family) => [family, { size: 4, refillPerSecond: 2 }])) as AwsModelProfile['buckets'],
};
const BUILDS = 8;
const VOLUME_GIB = 8;

let local: LocalBuildImage;

beforeAll(async () => {
  local = await startLocalBuildImage({ awsModel: TIGHT, hosts: 2, devicesPerHost: 4 });
});

afterAll(async () => {
  await local.stop();
});

describe(`${BUILDS} builds submitted at once against small EC2 request buckets`, () => {
  it('all succeed though EC2 throttled some calls, each wait ending only once its resource was ready, with at most 30 transitions more than EC2 calls', async () => {
    const inputs = Array.from({ length: BUILDS }, () =>
      buildImageInput({
        sourceSnapshotId: local.sourceSnapshotId,
        createVolume: { Size: VOLUME_GIB },
        polling: { volume: 5, attachment: 5, snapshot: 15, image: 15, maxAttempts: 500 },
        timeouts: { claimSeconds: 300, provisionSeconds: 300, heartbeatSeconds: 60 },
      }),
    );

    const executionArns = await Promise.all(inputs.map((input) => local.aws.startExecution(input)));
    const results = await Promise.all(executionArns.map((arn) => waitForExecution(local.aws.clients.sfn, arn, { timeoutMs: 240_000 })));

    expect(results.map((result) => `${result.status} ${result.error ?? ''}`.trim())).toEqual(Array(BUILDS).fill('SUCCEEDED'));
    const stats = local.aws.engine.awsModelStats?.();
    const throttled = Object.values(stats?.throttled ?? {}).reduce((sum, n) => sum + n, 0);
    expect(throttled, 'the buckets were small enough to throttle: the retries, not luck, got every build through').toBeGreaterThan(0);

    const snapshotMs = modelledSnapshotSeconds(TIGHT, VOLUME_GIB) * 1000;
    for (const arn of executionArns) {
      const events = await executionHistory(local.aws.clients.sfn, arn);
      const spans = stateSpans(events);
      const span = (name: string) => spans.find((each) => each.name === name);
      const snapshotStarted = span('Create snapshot')?.enteredMs ?? Number.NaN;
      const snapshotWaitEnded = span('Wait for the snapshot')?.exitedMs ?? Number.NaN;
      expect(snapshotWaitEnded - snapshotStarted, `${arn}: the snapshot wait ended after the modelled snapshot`).toBeGreaterThanOrEqual(snapshotMs);
      const timeline = buildTimeline(events, TIGHT, VOLUME_GIB);
      expect(timeline.transitions, `${arn}: transitions against ${timeline.ec2Calls} EC2 calls`).toBeLessThanOrEqual(timeline.ec2Calls + 30);
    }
  });
});
