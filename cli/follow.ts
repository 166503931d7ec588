/**
 * Following a build (`build --wait`, `distribute --wait`, `npm start`) at a pace the factory can
 * afford for any number of followers: each look is a GET /builds/{id}, which costs the factory a
 * DescribeExecution and a history read, both under Step Functions' per-account rate limits
 * shared with the workflows themselves. So a follower looks often only while things change,
 * backs off while they do not, spreads its looks (jitter) so that followers started together
 * do not ask together, and asks only for the history events it has not seen (`?since=`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BuildDetails, TimelineEntry } from '../contract/api.ts';
import { buildPath, type FactoryClient } from './api-client.ts';

export interface FollowPace {
  /** The wait after a look that saw a change. */
  readonly firstMs: number;
  /** The longest wait while nothing changes. */
  readonly maxMs: number;
  /** How the wait grows after each look that saw nothing new. */
  readonly growth: number;
  /** Each wait is drawn from ±jitter of its nominal length. */
  readonly jitter: number;
  /** For tests: a clock that need not really wait. */
  readonly sleep: (ms: number) => Promise<unknown>;
  readonly random: () => number;
}

/** About 1 s while steps start, up to 5 s in a long step: a few looks a minute per follower. */
export const DEFAULT_PACE: FollowPace = { firstMs: 1000, maxMs: 5000, growth: 2, jitter: 0.2, sleep, random: Math.random };

/** The nominal wait before the next look: back to the first after a change, else grown up to the most. */
export function nextWait(previousMs: number | undefined, changed: boolean, pace: Pick<FollowPace, 'firstMs' | 'maxMs' | 'growth'>): number {
  if (changed || previousMs === undefined) return pace.firstMs;
  return Math.min(previousMs * pace.growth, pace.maxMs);
}

const jittered = (ms: number, pace: FollowPace): number => Math.round(ms * (1 - pace.jitter + 2 * pace.jitter * pace.random()));

type Api = Pick<FactoryClient, 'request'>;

/**
 * Looks at a build until `done` says so, waiting between looks as the pace says. Each answer
 * after the first holds only the steps entered since the one before; the answer given to
 * `onLook` and returned has the whole timeline so far.
 */
export async function watchBuild(
  api: Api,
  buildId: string,
  done: (build: BuildDetails) => boolean,
  options: { pace?: Partial<FollowPace>; onLook?: (build: BuildDetails, newEntries: readonly TimelineEntry[]) => void } = {},
): Promise<BuildDetails> {
  const pace = { ...DEFAULT_PACE, ...options.pace };
  const timeline: TimelineEntry[] = [];
  let since: number | undefined;
  let wait: number | undefined;
  let previous: string | undefined;
  let current: string | null = null;
  for (;;) {
    const path = since === undefined ? buildPath(buildId) : `${buildPath(buildId)}?since=${String(since)}`;
    const answer = await api.request<BuildDetails>('GET', path);
    let fresh: TimelineEntry[];
    if (since === undefined) {
      // The whole timeline: the first look, or every look at a factory from before `since`
      // (its answers have no lastEventId).
      fresh = answer.timeline.slice(timeline.length);
      timeline.splice(0, timeline.length, ...answer.timeline);
    } else {
      fresh = answer.timeline;
      timeline.push(...fresh);
    }
    since = (answer as Partial<BuildDetails>).lastEventId;
    // An incremental answer names the current step only when it was entered since.
    current = answer.status === 'RUNNING' ? (answer.currentStep ?? current) : null;
    const build: BuildDetails = { ...answer, currentStep: current, timeline: [...timeline] };
    options.onLook?.(build, fresh);
    if (done(build)) return build;
    // A change: a step entered, the status or a distribution moved on.
    const state = JSON.stringify([timeline.length, build.status, build.distributions]);
    wait = nextWait(wait, state !== previous, pace);
    previous = state;
    await pace.sleep(jittered(wait, pace));
  }
}

/** Follows a build until it ends, printing each step as it starts. */
export async function followBuild(api: Api, buildId: string, pace: Partial<FollowPace> = {}): Promise<BuildDetails> {
  return watchBuild(api, buildId, (build) => build.status !== 'RUNNING', {
    pace,
    onLook: (build, entries) => {
      const started = build.startedAt ? Date.parse(build.startedAt) : Date.now();
      for (const entry of entries) {
        const offset = ((Date.parse(entry.enteredAt) - started) / 1000).toFixed(1);
        process.stdout.write(`  +${offset.padStart(6)}s  ${entry.step}\n`);
      }
    },
  });
}
