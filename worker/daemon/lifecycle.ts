/**
 * Leaving the factory's Auto Scaling group without losing a build. When the group scales in
 * (or replaces an unhealthy host), its termination lifecycle hook holds the instance in
 * Terminating:Wait and the instance metadata service says the target lifecycle state is
 * `Terminated`. The daemon polls that item, then does what SIGTERM does (no new claims,
 * running builds finish within the drain timeout), and only then tells the group to go on
 * (CompleteLifecycleAction CONTINUE). Without the hook the group would shut the instance
 * down at once, and systemd's stop timeout, not the builds, would decide what finishes.
 */
import { CompleteLifecycleActionCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { readMetadata, type ImdsOptions, type InstanceIdentity } from './imds.ts';

/** The worker config's `autoScaling`: which group and hook this host answers. */
export interface AutoScalingMembership {
  groupName: string;
  lifecycleHookName: string;
  pollSeconds: number;
}

/** The one call the drain makes; a test gives a fake. */
export type AutoScalingSender = Pick<AutoScalingClient, 'send'>;

/** What the drain needs of the daemon (worker.ts's Worker). */
export interface Drainable {
  stopClaiming(): Promise<void>;
  waitUntilIdle(timeoutMs: number): Promise<boolean>;
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
  readonly identity: InstanceIdentity | undefined;
}

export const TARGET_LIFECYCLE_STATE = 'autoscaling/target-lifecycle-state';

/**
 * Polls the target lifecycle state until it is `Terminated` (true) or `signal` aborts
 * (false). A failed read is reported and retried: a metadata hiccup must not end the daemon,
 * and off a group the item is missing (404) until the instance is attached to one.
 */
export async function waitForTermination(options: {
  imds: ImdsOptions;
  pollMs: number;
  signal: AbortSignal;
  onError?: (err: unknown) => void;
}): Promise<boolean> {
  const { imds, pollMs, signal } = options;
  while (!signal.aborted) {
    const state = await readMetadata(TARGET_LIFECYCLE_STATE, { ...imds, attempts: 1 }).catch((err: unknown) => {
      options.onError?.(err);
      return undefined;
    });
    if (state === 'Terminated') return true;
    try {
      await sleep(pollMs, undefined, { signal });
    } catch {
      return false;
    }
  }
  return false;
}

/** CONTINUE: the group may terminate the instance now. Retried: a lost answer costs the heartbeat timeout. */
export async function completeLifecycleAction(
  client: AutoScalingSender,
  membership: AutoScalingMembership,
  instanceId: string,
  attempts = 3,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: membership.groupName,
          LifecycleHookName: membership.lifecycleHookName,
          InstanceId: instanceId,
          LifecycleActionResult: 'CONTINUE',
        }),
      );
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await sleep(1_000 * attempt);
    }
  }
}

/**
 * Waits for the group to terminate this host, drains the worker, then completes the
 * lifecycle action. Draining here is more than SIGTERM's: a build claimed but not yet
 * released still needs this host (its volume is attached here, its release and clean-up come
 * through the host queue), so the host stops claiming and waits until every claim is
 * released, then stops, all within `drainTimeoutMs`; builds still running then are aborted. True once done; false when `signal` ended the watch first (SIGTERM took
 * over). A failed CompleteLifecycleAction is logged, not thrown: the worker is stopped either
 * way, and the hook's heartbeat timeout (default result CONTINUE) ends the wait.
 */
export async function drainWhenTerminating(options: {
  worker: Drainable;
  membership: AutoScalingMembership;
  autoscaling: AutoScalingSender;
  imds: ImdsOptions;
  log: Logger;
  signal: AbortSignal;
  drainTimeoutMs: number;
}): Promise<boolean> {
  const { worker, membership, log } = options;
  const terminating = await waitForTermination({
    imds: options.imds,
    pollMs: membership.pollSeconds * 1000,
    signal: options.signal,
    onError: (err) => {
      log.warn({ err }, 'could not read the target lifecycle state');
    },
  });
  if (!terminating) return false;
  const instanceId = worker.identity?.instanceId;
  log.info({ group: membership.groupName, instanceId }, 'the Auto Scaling group is terminating this host: no new claims; running builds may finish');
  const deadline = Date.now() + options.drainTimeoutMs;
  await worker.stopClaiming();
  if (!(await worker.waitUntilIdle(options.drainTimeoutMs))) log.warn('the drain timeout ran out with builds still claimed');
  await worker.stop({ drainTimeoutMs: Math.max(0, deadline - Date.now()) });
  if (instanceId === undefined) {
    log.error('the worker never started, so its instance id is unknown: the lifecycle hook ends on its heartbeat timeout');
    return true;
  }
  try {
    await completeLifecycleAction(options.autoscaling, membership, instanceId);
    log.info({ hook: membership.lifecycleHookName }, 'drained: told the Auto Scaling group to go on with the termination');
  } catch (err) {
    log.error({ err }, 'CompleteLifecycleAction failed: the lifecycle hook ends on its heartbeat timeout');
  }
  return true;
}
