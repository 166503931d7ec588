/**
 * One build's time under the AWS model, read from its execution history: the EC2 floor (what
 * EBS itself takes, serially, for a build: create, attach, snapshot, register), the time the
 * build took, and the difference split into where it went.
 *
 * - poll granularity: how long after a resource was ready (by the model's clock, counted from
 *   the end of the call that started it) its wait ended: the checks' pacing, the resource-waits
 *   function and SQS;
 * - claim: waiting for a host (queue and claim);
 * - room: a CreateSnapshot refused at the account's pending-snapshot limit, until it was let
 *   through (the snapshot-capacity wait);
 * - worker: provisioning beyond the attachment's own latency (the fake hosts provision
 *   nothing: this is the worker protocol's cost);
 * - (apart) volume ready: from the host's claim to the host starting to provision, which a
 *   pooled volume shortens by CreateVolume and its wait;
 * - workflow: everything else: the EC2 calls themselves, events, choices, transitions.
 */
import type { HistoryEvent } from '@aws-sdk/client-sfn';
import type { AwsModelProfile } from '../local/aws-model/index.ts';

export interface StateSpan {
  name: string;
  enteredMs: number;
  exitedMs: number;
}

export interface BuildTimeline {
  /** Seconds, under the model. */
  floor: number;
  /**
   * From the host's claim to the volume attached there and the host starting to provision
   * (the stand-in hosts answer once the attachment is there): what a pool saves.
   */
  volumeReady: number;
  /** Whether the build took a pooled volume. */
  pooled: boolean;
  taken: number;
  overhead: number;
  pollGranularity: number;
  claim: number;
  /** Waiting for room among the account's pending snapshots: from the first CreateSnapshot to the one that was let through. */
  snapshotRoom: number;
  worker: number;
  workflow: number;
  /** State transitions (states entered), and the workflow's own EC2 calls. */
  transitions: number;
  ec2Calls: number;
}

/** Every state the execution entered, with when it entered and left it (first visit). */
export function stateSpans(events: readonly HistoryEvent[]): StateSpan[] {
  const spans: StateSpan[] = [];
  const open = new Map<string, StateSpan>();
  for (const event of events) {
    const time = event.timestamp?.getTime() ?? 0;
    const entered = event.stateEnteredEventDetails?.name;
    if (entered !== undefined && event.type?.endsWith('StateEntered') === true) {
      const span = { name: entered, enteredMs: time, exitedMs: time };
      open.set(entered, span);
      spans.push(span);
    }
    const exited = event.stateExitedEventDetails?.name;
    if (exited !== undefined && event.type?.endsWith('StateExited') === true) {
      const span = open.get(exited);
      if (span !== undefined) span.exitedMs = time;
      open.delete(exited);
    }
  }
  return spans;
}

/** The snapshot's modelled duration for a volume of `sizeGiB` (the model's default: an eighth of it changed). */
export function modelledSnapshotSeconds(profile: AwsModelProfile, sizeGiB: number): number {
  const { snapshotBase, snapshotPerChangedGiB } = profile.latencySeconds;
  return (snapshotBase + snapshotPerChangedGiB * sizeGiB * 0.125) * profile.timeScale;
}

export function buildTimeline(events: readonly HistoryEvent[], profile: AwsModelProfile, volumeSizeGiB: number): BuildTimeline {
  const spans = stateSpans(events);
  const first = (prefix: string): StateSpan | undefined => spans.find((span) => span.name === prefix || span.name.startsWith(`${prefix} `));
  const seconds = (ms: number): number => ms / 1000;
  const scale = profile.timeScale;
  const latency = profile.latencySeconds;
  const snapshotSeconds = modelledSnapshotSeconds(profile, volumeSizeGiB);
  const pooledAttach = first('Attach another pooled volume') ?? first('Attach the pooled volume');
  const pooled = pooledAttach !== undefined && first('Create volume') === undefined;
  // A pooled volume was made before the build: its creation is no part of the build's floor.
  const floor = ((pooled ? 0 : latency.createVolume) + latency.attachVolume + latency.registerImage) * scale + snapshotSeconds;

  const start = events[0]?.timestamp?.getTime() ?? 0;
  const end = events.at(-1)?.timestamp?.getTime() ?? start;
  const taken = seconds(end - start);

  /** How long after `readyMs` the wait `span` ended (0 if it ended before: the model's clock starts a little earlier). */
  const lateBy = (span: StateSpan | undefined, readyMs: number | undefined): number =>
    span === undefined || readyMs === undefined ? 0 : Math.max(0, seconds(span.exitedMs - Math.max(readyMs, span.enteredMs)));
  const readyAfter = (call: StateSpan | undefined, latencySeconds: number): number | undefined =>
    call === undefined ? undefined : call.exitedMs + latencySeconds * 1000;

  const createSnapshots = spans.filter((span) => span.name === 'Create snapshot');
  const lastCreateSnapshot = createSnapshots.at(-1);
  const snapshotRoom = lastCreateSnapshot === undefined || createSnapshots[0] === undefined ? 0 : seconds(lastCreateSnapshot.enteredMs - createSnapshots[0].enteredMs);
  const pollGranularity =
    lateBy(first('Wait for the new volume'), readyAfter(first('Create volume'), latency.createVolume * scale)) +
    lateBy(first('Wait for the snapshot'), readyAfter(lastCreateSnapshot, snapshotSeconds)) +
    lateBy(first('Wait for the image'), readyAfter(first('Register image'), latency.registerImage * scale));
  const claimSpan = first('Claim a host');
  const claim = claimSpan === undefined ? 0 : seconds(claimSpan.exitedMs - claimSpan.enteredMs);
  const provision = first('Provision on the host');
  const worker = lateBy(provision, readyAfter(first('Attach volume') ?? pooledAttach, latency.attachVolume * scale));
  const volumeReady = claimSpan === undefined || provision === undefined ? 0 : seconds(provision.exitedMs - claimSpan.exitedMs);
  const overhead = taken - floor;
  const ec2Calls = events.filter((event) => event.type === 'TaskScheduled' && event.taskScheduledEventDetails?.resourceType === 'aws-sdk:ec2').length;
  return {
    floor,
    volumeReady,
    pooled,
    taken,
    overhead,
    pollGranularity,
    claim,
    snapshotRoom,
    worker,
    workflow: overhead - pollGranularity - claim - snapshotRoom - worker,
    transitions: spans.length,
    ec2Calls,
  };
}
