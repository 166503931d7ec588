/**
 * The local factory's clock for factory.yml's schedules: each enabled family schedule fires
 * when EventBridge Scheduler would fire it (its cron, in its time zone) and calls the scheduler
 * function with the input EventBridge gives it, and each lifecycle schedule calls the lifecycle
 * function; a paused schedule never fires.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import type { ScheduleDecision } from '../../contract/api.ts';
import type { LifecycleReport } from '../../contract/lifecycle.ts';
import type { ScheduleInput } from '../../functions/run-schedule.ts';
import { startScheduleClock } from '../../local/schedule-clock.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'schedule-clock-'));
  await mkdir(join(dir, 'images'));
  await writeFile(
    join(dir, 'factory.yml'),
    `
families:
  nightly: { template: images/template.json, team: images, schedule: { cron: "0 3 * * ? *", timezone: Europe/Berlin } }
  paused: { template: images/template.json, team: images, schedule: { cron: "0 3 * * ? *", enabled: false } }
  on-demand: { template: images/template.json, team: images }
  retiring: { template: images/template.json, team: images, lifecycle: { keep_newest: 2, schedule: { cron: "30 4 * * ? *" } } }
`,
  );
  process.env.FACTORY_CONFIG = join(dir, 'factory.yml');
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  delete process.env.FACTORY_CONFIG;
  await rm(dir, { recursive: true, force: true });
});

it('calls the scheduler function for each enabled family at its time, with {"family": NAME}', async () => {
  // 02:59:58 in Berlin (UTC+1 in winter).
  vi.useFakeTimers({ now: new Date('2025-01-01T01:59:58Z') });
  const calls: { input: ScheduleInput; context: Context; at: string }[] = [];
  const decisions: ScheduleDecision[] = [];
  const retired: string[] = [];
  const clock = await startScheduleClock({
    run: (input, context) => {
      calls.push({ input, context, at: new Date().toISOString() });
      return Promise.resolve({ family: input.family, decision: 'up to date', decidedAt: new Date().toISOString() } as ScheduleDecision);
    },
    retire: (input) => Promise.resolve({ family: input.family, images: [] } as unknown as LifecycleReport),
    onDecision: (decision) => decisions.push(decision),
    onLifecycle: (report) => retired.push(report.family),
    onError: (family, error) => {
      throw new Error(`${family}: ${String(error)}`);
    },
  });
  expect(clock.families).toEqual([
    { family: 'nightly', kind: 'build', cron: '0 3 * * ? *', timezone: 'Europe/Berlin', nextRun: new Date('2025-01-01T02:00:00Z') },
    { family: 'retiring', kind: 'lifecycle', cron: '30 4 * * ? *', timezone: 'UTC', nextRun: new Date('2025-01-01T04:30:00Z') },
  ]);
  await vi.advanceTimersByTimeAsync(1000);
  expect(calls).toEqual([]);
  await vi.advanceTimersByTimeAsync(2000);
  expect(calls.map(({ input, at }) => ({ input, at }))).toEqual([{ input: { family: 'nightly' }, at: '2025-01-01T02:00:00.000Z' }]);
  expect(calls[0]?.context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:123456789012:function:ami-factory-local-run-schedule');
  expect(decisions.map((decision) => decision.family)).toEqual(['nightly']);
  // The lifecycle's own schedule, on the lifecycle function.
  await vi.advanceTimersByTimeAsync(2.5 * 3600 * 1000);
  expect(retired).toEqual(['retiring']);
  // The next day, once more.
  await vi.advanceTimersByTimeAsync(24 * 3600 * 1000);
  expect(calls.map(({ at }) => at)).toEqual(['2025-01-01T02:00:00.000Z', '2025-01-02T02:00:00.000Z']);
  expect(retired).toEqual(['retiring', 'retiring']);
  await clock.stop();
  await vi.advanceTimersByTimeAsync(24 * 3600 * 1000);
  expect(calls).toHaveLength(2);
});

it('reports a run that threw, and keeps the clock going', async () => {
  vi.useFakeTimers({ now: new Date('2025-01-01T01:59:59Z') });
  const errors: string[] = [];
  const clock = await startScheduleClock({
    run: () => Promise.reject(new Error('the local AWS is gone')),
    retire: () => Promise.reject(new Error('no target role')),
    onDecision: () => {
      throw new Error('no decision expected');
    },
    onError: (family, error) => errors.push(`${family}: ${(error as Error).message}`),
  });
  await vi.advanceTimersByTimeAsync(2000);
  await vi.advanceTimersByTimeAsync(24 * 3600 * 1000);
  expect(errors).toEqual(['nightly: the local AWS is gone', 'retiring: no target role', 'nightly: the local AWS is gone']);
  await clock.stop();
});
