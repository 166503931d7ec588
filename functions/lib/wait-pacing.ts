/**
 * When to check a waiting resource next. A fixed poll interval costs on average half an
 * interval after the resource is ready (7.5 s for a snapshot polled every 15 s); checking
 * densely costs EC2 requests. So the next check comes at half of what is estimated to be
 * left: a snapshot's progress against its start time gives that estimate, and the checks
 * close in on its completion (100 s left: in 50 s, then 25, 12...), ending within about a
 * second of it at a handful of calls. Things EC2 reports no progress for (a volume being
 * made, attached or detached, an image being registered) take seconds: they are checked
 * every second at first, less often as they take longer.
 *
 * The wait's own interval (the build's `polling`, Packer's `aws_polling.delay_seconds`) is
 * the ceiling; an interval of 0 (the tests') checks again at once.
 */
import type { Observation } from './resource-checks.ts';

/** SQS delays and visibility are whole seconds. */
const SHORTEST_PAUSE_SECONDS = 1;

export function nextCheckInSeconds(options: { seen: Observation | undefined; checksSoFar: number; intervalSeconds: number; now: Date }): number {
  const { seen, checksSoFar, intervalSeconds, now } = options;
  if (intervalSeconds <= 0) return 0;
  const estimate = estimatedSecondsLeft(seen, now);
  const pause = estimate === undefined ? SHORTEST_PAUSE_SECONDS + Math.floor(checksSoFar / 4) : estimate / 2;
  return Math.min(intervalSeconds, Math.max(SHORTEST_PAUSE_SECONDS, Math.round(pause)));
}

/** From a snapshot's progress and start time, assuming it goes on at the pace it went so far. */
export function estimatedSecondsLeft(seen: Observation | undefined, now: Date): number | undefined {
  if (seen?.progressPercent === undefined || seen.startedAt === undefined) return undefined;
  const progress = seen.progressPercent;
  if (progress <= 0 || progress >= 100) return undefined;
  const elapsedSeconds = (now.getTime() - seen.startedAt.getTime()) / 1000;
  if (elapsedSeconds <= 0) return undefined;
  return (elapsedSeconds * (100 - progress)) / progress;
}
