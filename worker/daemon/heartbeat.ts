/**
 * Keeps a provision task alive while the build runs: SendTaskHeartbeat every few seconds.
 * When Step Functions says the task is gone (its heartbeat or overall timeout expired, or
 * the execution was stopped), nobody waits for this build any more: `onTaskGone` lets the
 * caller abort it, and heart-beating stops. Other errors (throttling, a network blip) are
 * reported and the next beat tries again; missing beats is what the workflow's
 * HeartbeatSeconds is there to notice.
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import { sendHeartbeat } from '../../contract/task-token.ts';

export interface HeartbeatOptions {
  sfn: SFNClient;
  taskToken: string;
  intervalSeconds: number;
  onTaskGone: () => void;
  onError?: (err: unknown) => void;
}

export interface Heartbeat {
  /** Idempotent; waits for a beat in flight, so no beat is sent after it returns. */
  stop(): Promise<void>;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  const beat = async (): Promise<void> => {
    try {
      if ((await sendHeartbeat(options.sfn, options.taskToken)) === 'task-gone' && !stopped) {
        stopped = true;
        clearInterval(timer);
        options.onTaskGone();
      }
    } catch (err) {
      options.onError?.(err);
    }
  };
  const timer = setInterval(() => {
    // A beat still in flight is skipped over, not queued behind: beats that pile up during
    // an outage would only arrive together after it.
    if (stopped || inFlight !== undefined) return;
    inFlight = beat().finally(() => {
      inFlight = undefined;
    });
  }, options.intervalSeconds * 1000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
