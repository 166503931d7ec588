/**
 * The pacing of resource waits: half of what a snapshot's progress says is left, capped by the
 * wait's interval, and at least a second; a resource without progress is checked every second
 * at first and a little less often the longer it takes.
 */
import { describe, expect, it } from 'vitest';
import type { Observation } from '../../functions/lib/resource-checks.ts';
import { estimatedSecondsLeft, nextCheckInSeconds } from '../../functions/lib/wait-pacing.ts';

const now = new Date('2026-01-01T12:00:00Z');
const secondsAgo = (seconds: number): Date => new Date(now.getTime() - seconds * 1000);
const snapshot = (progressPercent: number, startedSecondsAgo: number): Observation => ({ state: 'pending', progressPercent, startedAt: secondsAgo(startedSecondsAgo) });

describe('estimatedSecondsLeft', () => {
  it('extrapolates the pace so far: 25% after 30 s leaves 90 s', () => {
    expect(estimatedSecondsLeft(snapshot(25, 30), now)).toBe(90);
    expect(estimatedSecondsLeft(snapshot(50, 30), now)).toBe(30);
    expect(estimatedSecondsLeft(snapshot(99, 99), now)).toBeCloseTo(1, 9);
  });

  it('has no estimate without progress, at 0% or 100%, without a start time, or with one in the future', () => {
    expect(estimatedSecondsLeft(undefined, now)).toBeUndefined();
    expect(estimatedSecondsLeft({ state: 'creating' }, now)).toBeUndefined();
    expect(estimatedSecondsLeft({ state: 'pending', progressPercent: 40 }, now)).toBeUndefined();
    expect(estimatedSecondsLeft(snapshot(0, 30), now)).toBeUndefined();
    expect(estimatedSecondsLeft(snapshot(100, 30), now)).toBeUndefined();
    // A clock behind EC2's: no elapsed time to extrapolate from, rather than a negative estimate.
    expect(estimatedSecondsLeft(snapshot(40, -5), now)).toBeUndefined();
    expect(estimatedSecondsLeft(snapshot(40, 0), now)).toBeUndefined();
  });
});

describe('nextCheckInSeconds', () => {
  it('checks again at once with an interval of 0, whatever the estimate', () => {
    expect(nextCheckInSeconds({ seen: snapshot(25, 30), checksSoFar: 3, intervalSeconds: 0, now })).toBe(0);
    expect(nextCheckInSeconds({ seen: undefined, checksSoFar: 40, intervalSeconds: 0, now })).toBe(0);
  });

  it('checks at half the estimate (45 s of 90 s left), capped by the interval', () => {
    expect(nextCheckInSeconds({ seen: snapshot(25, 30), checksSoFar: 1, intervalSeconds: 60, now })).toBe(45);
    expect(nextCheckInSeconds({ seen: snapshot(25, 30), checksSoFar: 1, intervalSeconds: 15, now })).toBe(15);
    expect(nextCheckInSeconds({ seen: snapshot(25, 30), checksSoFar: 1, intervalSeconds: 45, now })).toBe(45);
  });

  it('never waits longer than the interval, however far off the resource is', () => {
    expect(nextCheckInSeconds({ seen: snapshot(1, 600), checksSoFar: 2, intervalSeconds: 30, now })).toBe(30);
    expect(nextCheckInSeconds({ seen: undefined, checksSoFar: 1_000, intervalSeconds: 5, now })).toBe(5);
  });

  it('closes in on a snapshot\'s completion: each pause shorter, down to a second', () => {
    // A snapshot that takes 200 s at a steady pace: what each check sees, from its start.
    const pauses: number[] = [];
    let elapsed = 10;
    for (let checks = 0; checks < 20 && elapsed < 200; checks += 1) {
      const progress = Math.floor((elapsed / 200) * 100);
      const pause = nextCheckInSeconds({ seen: snapshot(progress, elapsed), checksSoFar: checks, intervalSeconds: 3600, now });
      pauses.push(pause);
      elapsed += pause;
    }
    expect(elapsed).toBeGreaterThanOrEqual(200);
    // Overshoots completion by at most a couple of seconds, in a handful of checks.
    expect(elapsed).toBeLessThanOrEqual(203);
    expect(pauses.length).toBeLessThanOrEqual(12);
    for (let i = 1; i < pauses.length; i += 1) expect(pauses[i], `pause ${i} of ${pauses.join(', ')}`).toBeLessThanOrEqual(pauses[i - 1] ?? 0);
    expect(pauses.at(-1)).toBe(1);
    // 99% after 198 s: 2 s left, checked again in 1.
    expect(nextCheckInSeconds({ seen: snapshot(99, 198), checksSoFar: 9, intervalSeconds: 15, now })).toBe(1);
    // Nearly there: a fraction of a second left still waits the shortest pause SQS allows.
    expect(nextCheckInSeconds({ seen: snapshot(99.9, 100), checksSoFar: 9, intervalSeconds: 15, now })).toBe(1);
  });

  it('checks a resource without progress every second at first, slowly less often with checks', () => {
    const pauses = [0, 1, 2, 3, 4, 7, 8, 20, 40].map((checksSoFar) => nextCheckInSeconds({ seen: { state: 'creating' }, checksSoFar, intervalSeconds: 60, now }));
    expect(pauses).toEqual([1, 1, 1, 1, 2, 2, 3, 6, 11]);
    // Not listed at all: the same.
    expect(nextCheckInSeconds({ seen: undefined, checksSoFar: 0, intervalSeconds: 15, now })).toBe(1);
    expect(nextCheckInSeconds({ seen: undefined, checksSoFar: 12, intervalSeconds: 15, now })).toBe(4);
    // A snapshot at 0% has no pace yet: paced as if it had no progress.
    expect(nextCheckInSeconds({ seen: snapshot(0, 5), checksSoFar: 0, intervalSeconds: 15, now })).toBe(1);
  });

  it('waits whole seconds: SQS visibility takes nothing else', () => {
    for (const [progress, started] of [[33, 7], [61, 13], [87, 29], [12.5, 3]] as const) {
      const pause = nextCheckInSeconds({ seen: snapshot(progress, started), checksSoFar: 2, intervalSeconds: 15, now });
      expect(Number.isInteger(pause), `${progress}% after ${started} s: ${pause}`).toBe(true);
    }
  });
});
