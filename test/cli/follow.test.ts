/**
 * Following a build costs the factory little: the follower backs off while nothing changes,
 * comes back to quick looks when a step starts, and after its first look asks only for the
 * history events it has not seen. Against a simulated build on a virtual clock, so that two
 * minutes of a build take no time.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BuildDetails } from '../../contract/api.ts';
import { DEFAULT_PACE, followBuild, nextWait, watchBuild } from '../../cli/follow.ts';

const STARTED = Date.parse('2030-01-01T00:00:00.000Z');

/** Steps entered at these seconds (one history event each, among others), ending at `endsAt`. */
function simulatedFactory(steps: readonly (readonly [string, number])[], endsAt: number) {
  let now = 0;
  const paths: string[] = [];
  // Event ids as Step Functions numbers them: each entered state has a few events around it.
  const events = steps.map(([step, at], index) => ({ id: 3 * index + 2, step, at }));
  const api = {
    request: <T>(method: string, path: string): Promise<T> => {
      paths.push(path);
      const since = Number(new URL(path, 'http://factory/').searchParams.get('since') ?? 0);
      const seen = events.filter((event) => event.at <= now);
      const ended = now >= endsAt;
      const newer = seen.filter((event) => event.id > since);
      const lastEventId = ended ? 3 * events.length + 2 : Math.max(since, ...seen.map((event) => event.id + 1));
      const build: BuildDetails = {
        buildId: 'b-1', status: ended ? 'SUCCEEDED' : 'RUNNING', startedAt: new Date(STARTED).toISOString(), stoppedAt: null, owner: null,
        currentStep: null, amis: [], error: null, cause: null, lastEventId,
        timeline: newer.map((event) => ({ step: event.step, enteredAt: new Date(STARTED + event.at * 1000).toISOString(), exitedAt: null })),
      };
      expect(method).toBe('GET');
      return Promise.resolve(build as T);
    },
  };
  const pace = {
    sleep: (ms: number) => {
      now += ms / 1000;
      return Promise.resolve();
    },
  };
  return { api, paths, pace, elapsed: () => now };
}

const BUILD = [['Claim a host', 0], ['Provision on the host', 5], ['Register image', 125], ['Report the images', 128]] as const;

describe('following a build', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('waits 1 s after a change, growing to 5 s while nothing changes', () => {
    const waits: number[] = [];
    let wait: number | undefined;
    for (const changed of [true, false, false, false, false, true, false]) waits.push((wait = nextWait(wait, changed, DEFAULT_PACE)));
    expect(waits).toEqual([1000, 2000, 4000, 5000, 5000, 1000, 2000]);
  });

  it('makes a few looks a minute, each after the first asking only for what is new', async () => {
    const factory = simulatedFactory(BUILD, 130);
    const build = await watchBuild(factory.api, 'b-1', (seen) => seen.status !== 'RUNNING', { pace: factory.pace });
    expect(build.status).toBe('SUCCEEDED');
    expect(build.timeline.map((entry) => entry.step)).toEqual(BUILD.map(([step]) => step));
    // Polling every 500 ms, as before, made 260 looks of 130 s; each read the whole history.
    expect(factory.paths.length).toBeLessThan(45);
    expect(factory.paths.length / factory.elapsed()).toBeLessThan(0.35);
    expect(factory.paths[0]).toBe('builds/b-1');
    for (const path of factory.paths.slice(1)) expect(path).toMatch(/^builds\/b-1\?since=\d+$/);
  });

  it('reads the whole timeline each time from a factory that does not know `since`', async () => {
    const factory = simulatedFactory(BUILD, 130);
    const older = {
      request: async <T>(method: string, path: string): Promise<T> => {
        const answer: Partial<BuildDetails> = await factory.api.request<BuildDetails>(method, path.replace(/\?.*$/, ''));
        delete answer.lastEventId;
        return answer as T;
      },
    };
    const build = await watchBuild(older, 'b-1', (seen) => seen.status !== 'RUNNING', { pace: factory.pace });
    expect(build.timeline.map((entry) => entry.step)).toEqual(BUILD.map(([step]) => step));
    for (const path of factory.paths) expect(path).toBe('builds/b-1');
  });

  it('spreads the looks of followers started together (jitter)', async () => {
    const firstWaits = await Promise.all([0.1, 0.5, 0.9].map(async (random) => {
      const waits: number[] = [];
      const factory = simulatedFactory(BUILD, 10);
      await watchBuild(factory.api, 'b-1', (seen) => seen.status !== 'RUNNING', {
        pace: { random: () => random, sleep: (ms) => (waits.push(ms), factory.pace.sleep(ms)) },
      });
      return waits[0];
    }));
    expect(new Set(firstWaits).size).toBe(3);
    for (const wait of firstWaits) expect(wait).toBeGreaterThanOrEqual(800);
  });

  it('prints each step once, as it starts', async () => {
    const factory = simulatedFactory(BUILD, 130);
    const printed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((text) => (printed.push(String(text)), true));
    await followBuild(factory.api, 'b-1', factory.pace);
    expect(printed).toEqual([
      '  +   0.0s  Claim a host\n', '  +   5.0s  Provision on the host\n', '  + 125.0s  Register image\n', '  + 128.0s  Report the images\n',
    ]);
  });
});
