/**
 * Admission to the account's pending snapshots (EC2 allows 100 per region): the builds whose
 * CreateSnapshot was refused wait (`snapshot-capacity`, contract/resource-wait.ts) and go on
 * as room appears, as many as there is room for, the longest-waiting first. A refusal while the
 * account was well below the limit was not about room: that build fails with its refusal,
 * unless EC2 throttled the call (then it is tried again once the wait has made one check).
 *
 * Several batches may decide at once (the function runs in parallel): they may let more builds
 * go than there is room for, and those are refused again and wait again. The bound is each
 * wait's own (polling.maxAttempts checks).
 */
import { PENDING_SNAPSHOT_LIMIT, SNAPSHOT_CAPACITY_MARGIN, type ResourceWaitTask } from '../../contract/resource-wait.ts';
import { pendingSnapshotLimitConfig } from './config.ts';
import type { Observation } from './resource-checks.ts';

export interface CapacityWaiter {
  wait: ResourceWaitTask;
  /** Checks before this one. */
  checksSoFar: number;
  /** When the workflow asked. */
  since: Date;
}

/** The limit the account's pending snapshots are held to: EC2's, or PENDING_SNAPSHOT_LIMIT's (tests). */
export function pendingSnapshotLimit(): number {
  return pendingSnapshotLimitConfig(PENDING_SNAPSHOT_LIMIT);
}

/**
 * EC2's throttling (RequestLimitExceeded) says "Request limit exceeded." in every SDK's cause:
 * a throttled CreateSnapshot is tried again after a check, never failed for want of a reason.
 */
function throttled(wait: ResourceWaitTask): boolean {
  return /request limit exceeded/i.test(wait.refusal?.Cause ?? '');
}

function refusalText(wait: ResourceWaitTask): string {
  const refusal = wait.refusal;
  if (refusal === undefined) return 'CreateSnapshot was refused';
  return `CreateSnapshot was refused: ${refusal.Error}${refusal.Cause === undefined ? '' : `: ${refusal.Cause}`}`;
}

/** Each waiter's observation: `room` (go on), `full` (wait on) or `refused` (fail with its refusal). */
export function admit(waiters: readonly CapacityWaiter[], pending: number, limit: number): Map<CapacityWaiter, Observation> {
  const decided = new Map<CapacityWaiter, Observation>();
  const pendingSnapshots = { count: pending, limit };
  let room = Math.max(0, limit - pending);
  for (const waiter of [...waiters].sort((a, b) => a.since.getTime() - b.since.getTime())) {
    const firstCheck = waiter.checksSoFar === 0;
    if (firstCheck && throttled(waiter.wait)) {
      // Give the bucket a pause (the next check) before the call is made again.
      decided.set(waiter, { state: 'full', pendingSnapshots });
    } else if (firstCheck && pending < limit - SNAPSHOT_CAPACITY_MARGIN) {
      const failure = `${refusalText(waiter.wait)}; the account had ${pending} of its ${limit} pending snapshots, so not for want of room`;
      decided.set(waiter, { state: 'refused', pendingSnapshots, failure });
    } else if (room > 0) {
      room -= 1;
      decided.set(waiter, { state: 'room', pendingSnapshots });
    } else {
      decided.set(waiter, { state: 'full', pendingSnapshots });
    }
  }
  return decided;
}
