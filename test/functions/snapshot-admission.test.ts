/** Who goes on when the account's pending snapshots are at EC2's limit (functions/lib/snapshot-admission.ts). */
import { describe, expect, it } from 'vitest';
import type { ResourceWaitTask } from '../../contract/resource-wait.ts';
import { admit, type CapacityWaiter } from '../../functions/lib/snapshot-admission.ts';
import { judge } from '../../functions/lib/resource-checks.ts';

function waiter(name: string, sinceSeconds: number, checksSoFar = 1): CapacityWaiter {
  const wait: ResourceWaitTask = {
    task: 'wait',
    taskToken: `token-${name}`,
    buildId: `b-${name}`,
    kind: 'snapshot-capacity',
    resourceId: 'vol-0123456789abcdef0',
    intervalSeconds: 15,
    maxAttempts: 100,
    refusal: { Error: 'Ec2.Ec2Exception', Cause: 'The maximum number of pending snapshots has been reached. (Service: Ec2, Status Code: 400)' },
  };
  return { wait, checksSoFar, since: new Date(Date.UTC(2026, 10, 30, 12, 0, sinceSeconds)) };
}

const states = (decided: Map<CapacityWaiter, { state: string }>, waiters: CapacityWaiter[]): string[] => waiters.map((each) => decided.get(each)?.state ?? '');

describe('snapshot admission', () => {
  it('lets as many builds go on as there is room for, the longest-waiting first', () => {
    const [late, early, middle] = [waiter('late', 30), waiter('early', 10), waiter('middle', 20)];
    expect(states(admit([late, early, middle], 98, 100), [late, early, middle])).toEqual(['full', 'room', 'room']);
    expect(states(admit([late, early, middle], 100, 100), [late, early, middle])).toEqual(['full', 'full', 'full']);
    expect(states(admit([late, early, middle], 120, 100), [late, early, middle])).toEqual(['full', 'full', 'full']);
  });

  it('fails a build refused while the account was well below the limit, with its refusal, at the first check only', () => {
    const first = waiter('first', 0, 0);
    const decided = admit([first], 40, 100).get(first);
    expect(decided?.state).toBe('refused');
    const verdict = judge('snapshot-capacity', first.wait.resourceId, decided);
    expect(verdict).toEqual({
      outcome: 'failed',
      reason:
        'CreateSnapshot was refused: Ec2.Ec2Exception: The maximum number of pending snapshots has been reached. (Service: Ec2, Status Code: 400); the account had 40 of its 100 pending snapshots, so not for want of room',
    });
    // Near the limit the refusal may well have been about room: it waits, and goes on.
    expect(admit([first], 95, 100).get(first)?.state).toBe('room');
    // Throttled, not refused: tried again after a pause (the next check), even with plenty of room.
    const throttledWaiter = waiter('throttled', 0, 0);
    throttledWaiter.wait.refusal = { Error: 'Ec2.Ec2Exception', Cause: 'Request limit exceeded. (Service: Ec2, Status Code: 503)' };
    expect(admit([throttledWaiter], 40, 100).get(throttledWaiter)?.state).toBe('full');
    expect(admit([{ ...throttledWaiter, checksSoFar: 1 }], 40, 100).values().next().value?.state).toBe('room');
    // Later checks find room, never a reason to fail.
    const later = waiter('later', 0, 3);
    expect(admit([later], 40, 100).get(later)?.state).toBe('room');
    expect(judge('snapshot-capacity', later.wait.resourceId, admit([later], 40, 100).get(later))).toEqual({ outcome: 'ready' });
  });
});
