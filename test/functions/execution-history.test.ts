/**
 * The incremental history read behind GET /builds/{id}?since=, against Step Functions'
 * paging as AWS documents it (reverseOrder: newest first, `maxResults` a page, event ids
 * 1, 2, 3... in order): it stops at the first page that reaches the known event. The local
 * AWS ignores reverseOrder, so builds.test.ts covers the other order.
 */
import type { GetExecutionHistoryCommand, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { executionHistorySince, lastEventId } from '../../functions/lib/builds.ts';

function pagedSfn(count: number) {
  const events: HistoryEvent[] = Array.from({ length: count }, (_, index) => ({ id: index + 1, type: 'PassStateEntered', timestamp: new Date(0) }));
  const asked: { reverseOrder?: boolean; maxResults?: number; nextToken?: string }[] = [];
  const sfn = {
    send: (command: GetExecutionHistoryCommand) => {
      const input = command.input;
      asked.push(input);
      const ordered = input.reverseOrder ? [...events].reverse() : events;
      const start = Number(input.nextToken ?? 0);
      const size = input.maxResults ?? 1000;
      const end = start + size;
      return Promise.resolve({ events: ordered.slice(start, end), nextToken: end < ordered.length ? String(end) : undefined });
    },
  } as unknown as SFNClient;
  return { sfn, asked };
}

describe('the history read since an event', () => {
  it('reads newest first and stops at the page that reaches the known event', async () => {
    const { sfn, asked } = pagedSfn(450);
    const events = await executionHistorySince(sfn, 'arn', 440);
    expect(events.map((event) => event.id)).toEqual([441, 442, 443, 444, 445, 446, 447, 448, 449, 450]);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ reverseOrder: true });
    expect(lastEventId(events, 440)).toBe(450);
  });

  it('reads on across pages when more is new, oldest first in the answer', async () => {
    const { sfn, asked } = pagedSfn(450);
    const events = await executionHistorySince(sfn, 'arn', 120);
    expect(events.map((event) => event.id)).toEqual(Array.from({ length: 330 }, (_, index) => index + 121));
    expect(asked).toHaveLength(4);
  });

  it('answers nothing new, and the same id to go on from, when nothing happened', async () => {
    const { sfn } = pagedSfn(12);
    const events = await executionHistorySince(sfn, 'arn', 12);
    expect(events).toEqual([]);
    expect(lastEventId(events, 12)).toBe(12);
  });
});
