/**
 * Builds under the model of EC2's latencies and throttling (local/aws-model): N builds
 * submitted at once to the real build-image workflow on the local AWS, answered by stand-in
 * chroot hosts that lease devices and wait for their attachments as the worker does, but
 * provision nothing (provisioners are the template's time, not the factory's). Prints, per
 * build (or as percentiles when there are many): the EC2 floor under the model, the time
 * taken, its ratio to the floor, and the difference split into poll granularity, claim,
 * worker and workflow; then the state transitions against the workflow's EC2 calls, and
 * the EC2 calls the model throttled (none of which may fail a build). The same builds run
 * twice in one process: without volume pools (the baseline), then with a pool in the hosts'
 * zone (`--pool-size`, one volume per build by default; 0 runs the baseline alone), and the
 * two are compared: how long from a host's claim until it provisions, against the baseline
 * and the create+attach floor.
 *
 *   npm run bench:build                                  # CI size: 10 builds, typical, time x0.05
 *   npm run bench:build -- --profile slow --builds 10
 *   npm run bench:build -- --builds 200 --hosts 20 --time-scale 1 --pool-size 0   # 200 at once, throttled
 *   npm run bench:build -- --profile my-model.json       # a profile file (local/aws-model/profile.ts)
 *
 * `--time-scale` shrinks every modelled latency, so the CI-sized run takes a minute; the
 * factory's own overhead is not scaled, so it reads the same at any scale.
 */
import { CreateVolumeCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, volumePoolKey, volumePoolRefFor } from '../contract/volume-pool.ts';
import { loadAwsModelProfile } from '../local/aws-model/index.ts';
import { buildImageInput } from '../test/statemachine/support/build-input.ts';
import { HOST_ZONE, startLocalBuildImage } from '../test/statemachine/support/local-aws.ts';
import { executionHistory, waitForExecution } from '../test/support/executions.ts';
import { buildTimeline, type BuildTimeline } from './build-timeline.ts';

const { values } = parseArgs({
  options: {
    profile: { type: 'string', default: 'typical' },
    builds: { type: 'string', default: '10' },
    hosts: { type: 'string' },
    'devices-per-host': { type: 'string', default: '10' },
    'time-scale': { type: 'string', default: '0.05' },
    'bucket-scale': { type: 'string', default: '1' },
    'pool-size': { type: 'string' },
  },
});

const builds = Number(values.builds);
const devicesPerHost = Number(values['devices-per-host']);
const hosts = values.hosts === undefined ? Math.max(1, Math.ceil(builds / devicesPerHost)) : Number(values.hosts);
const base = loadAwsModelProfile(values.profile);
const bucketScale = Number(values['bucket-scale']);
// A tighter bucket (CI's smaller run still meets throttling): sizes and refills scaled alike.
const profile = {
  ...base,
  timeScale: base.timeScale * Number(values['time-scale']),
  buckets: Object.fromEntries(
    Object.entries(base.buckets).map(([family, bucket]) => [family, { size: Math.max(1, Math.round(bucket.size * bucketScale)), refillPerSecond: bucket.refillPerSecond * bucketScale }]),
  ) as typeof base.buckets,
};
const VOLUME_GIB = 8;

const poolSize = values['pool-size'] === undefined ? builds : Number(values['pool-size']);
const s = (n: number): string => n.toFixed(1).padStart(7);
const mean = (timelines: readonly BuildTimeline[], pick: (t: BuildTimeline) => number): number => timelines.reduce((sum, t) => sum + pick(t), 0) / timelines.length;

const local = await startLocalBuildImage({ awsModel: profile, hosts, devicesPerHost });
const poolKey = volumePoolKey({ SnapshotId: local.sourceSnapshotId, Size: VOLUME_GIB, VolumeType: 'gp3', Encrypted: false });

/** Pristine pool volumes in the hosts' zone, as the tender makes them, once EC2 (the model) says they are available. */
async function fillPool(count: number): Promise<void> {
  const ids = await Promise.all(
    Array.from({ length: count }, async () => {
      const { VolumeId } = await local.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: HOST_ZONE,
          SnapshotId: local.sourceSnapshotId,
          Size: VOLUME_GIB,
          VolumeType: 'gp3',
          TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: VOLUME_POOL_TAG, Value: poolKey }, { Key: VOLUME_POOL_FAMILY_TAG, Value: 'bench/pooled' }] }],
        }),
      );
      return VolumeId ?? '';
    }),
  );
  for (;;) {
    const { Volumes = [] } = await local.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: ids }, { Name: 'status', Values: ['available'] }] }));
    if (Volumes.length === ids.length) return;
    await sleep(200);
  }
}

interface Phase {
  timelines: BuildTimeline[];
  failed: number;
}

async function runPhase(title: string, pooled: boolean): Promise<Phase> {
  const before = local.aws.engine.awsModelStats?.();
  const inputs = Array.from({ length: builds }, () => {
    const input = buildImageInput({
      sourceSnapshotId: local.sourceSnapshotId,
      createVolume: { Size: VOLUME_GIB },
      // Checks as Packer's defaults pace them at most; the resource-waits function checks sooner when a resource is nearly ready.
      polling: { volume: 5, attachment: 5, snapshot: 15, image: 15, maxAttempts: 1000 },
      // The deployment's defaults (functions/lib/config.ts): a build waits up to 30 minutes for a host.
      timeouts: { claimSeconds: 1800, provisionSeconds: 3600, heartbeatSeconds: 120 },
    });
    return pooled ? { ...input, volumePool: volumePoolRefFor(input.createVolume) } : input;
  });
  const started = performance.now();
  const executionArns = await Promise.all(inputs.map((input) => local.aws.startExecution(input)));
  const results = await Promise.all(executionArns.map((arn) => waitForExecution(local.aws.clients.sfn, arn, { timeoutMs: 3_600_000 })));
  const wallSeconds = (performance.now() - started) / 1000;
  const timelines: BuildTimeline[] = [];
  for (const arn of executionArns) timelines.push(buildTimeline(await executionHistory(local.aws.clients.sfn, arn), profile, VOLUME_GIB));

  const failed = results.filter((result) => result.status !== 'SUCCEEDED');
  const stats = local.aws.engine.awsModelStats?.();
  const total = (counts: Record<string, number> | undefined): number => Object.values(counts ?? {}).reduce((sum, n) => sum + n, 0);
  const throttled = total(stats?.throttled) - total(before?.throttled);
  const calls = total(stats?.calls) - total(before?.calls);

  console.log(`\n${title}: ${builds} builds at once on ${hosts} hosts, profile ${values.profile}, time x${profile.timeScale}, buckets x${bucketScale}`);
  console.log(`${'build'.padEnd(6)}${'floor'.padStart(7)}${'taken'.padStart(7)}${'ratio'.padStart(7)}${'extra'.padStart(7)} = ${'polls'.padStart(7)}${'claim'.padStart(7)}${'room'.padStart(7)}${'worker'.padStart(7)}${'steps'.padStart(7)}  ${'volume'.padStart(7)}  transitions/EC2 calls`);
  const row = (label: string, t: Omit<BuildTimeline, 'pooled'>): void => {
    console.log(
      `${label.padEnd(6)}${s(t.floor)}${s(t.taken)}${(t.taken / t.floor).toFixed(2).padStart(7)}${s(t.overhead)} = ${s(t.pollGranularity)}${s(t.claim)}${s(t.snapshotRoom)}${s(t.worker)}${s(t.workflow)}  ${s(t.volumeReady)}  ${t.transitions}/${t.ec2Calls}`,
    );
  };
  if (builds <= 12) {
    timelines.forEach((t, i) => {
      row(`#${i + 1}`, t);
    });
  } else {
    const sorted = [...timelines].sort((a, b) => a.overhead - b.overhead);
    for (const [label, q] of [['p50', 0.5], ['p90', 0.9], ['max', 1]] as const) {
      row(label, sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] as BuildTimeline);
    }
  }
  row('mean', {
    floor: mean(timelines, (t) => t.floor),
    taken: mean(timelines, (t) => t.taken),
    overhead: mean(timelines, (t) => t.overhead),
    pollGranularity: mean(timelines, (t) => t.pollGranularity),
    claim: mean(timelines, (t) => t.claim),
    snapshotRoom: mean(timelines, (t) => t.snapshotRoom),
    worker: mean(timelines, (t) => t.worker),
    workflow: mean(timelines, (t) => t.workflow),
    volumeReady: mean(timelines, (t) => t.volumeReady),
    transitions: Math.round(mean(timelines, (t) => t.transitions)),
    ec2Calls: Math.round(mean(timelines, (t) => t.ec2Calls)),
  });
  console.log(`all ${builds} in ${wallSeconds.toFixed(1)} s; ${builds - failed.length} succeeded, ${failed.length} failed${pooled ? `; ${timelines.filter((t) => t.pooled).length} took a pooled volume` : ''}`);
  console.log(`EC2 calls through the model: ${calls}, throttled (RequestLimitExceeded): ${throttled}`);
  for (const result of failed.slice(0, 5)) console.log(`  failed: ${result.error ?? ''}: ${result.cause ?? ''}`);
  const refused = timelines.filter((t) => t.snapshotRoom > 0).length;
  if (refused > 0) console.log(`${refused} builds met the account's limit of ${profile.limits.pendingSnapshots} pending snapshots and waited for room`);
  return { timelines, failed: failed.length };
}

/** The same builds with a pool of `poolSize` in the hosts' zone, compared with the baseline; the pooled phase's failures. */
async function compareWithPools(baseline: Phase): Promise<number> {
  await fillPool(poolSize);
  const withPools = await runPhase(`with a volume pool of ${poolSize} in the hosts' zone`, true);
  const createAttachFloor = (base.latencySeconds.createVolume + base.latencySeconds.attachVolume) * profile.timeScale;
  const ready = (phase: Phase): number => mean(phase.timelines, (t) => t.volumeReady);
  const taken = (phase: Phase): number => mean(phase.timelines, (t) => t.taken);
  console.log(`\nvolume ready (host claimed -> provisioning starts), mean: ${ready(baseline).toFixed(2)} s without pools, ${ready(withPools).toFixed(2)} s with: x${(ready(withPools) / ready(baseline)).toFixed(2)}`);
  console.log(`  against the create+attach floor of ${createAttachFloor.toFixed(2)} s: x${(ready(withPools) / createAttachFloor).toFixed(2)} with pools, x${(ready(baseline) / createAttachFloor).toFixed(2)} without`);
  console.log(`build taken, mean: ${taken(baseline).toFixed(1)} s without pools, ${taken(withPools).toFixed(1)} s with: x${(taken(withPools) / taken(baseline)).toFixed(2)}`);
  return withPools.failed;
}

try {
  const baseline = await runPhase('without volume pools (baseline)', false);
  // --pool-size 0: the baseline alone (the 200-build throttling run).
  const pooledFailures = poolSize > 0 ? await compareWithPools(baseline) : 0;
  process.exitCode = baseline.failed + pooledFailures > 0 ? 1 : 0;
} finally {
  await local.stop();
}
