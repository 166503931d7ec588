/**
 * The factory configuration's schedules on this machine (`npm start -- --serve`): each enabled
 * family schedule of factory.yml, and each family's lifecycle schedule, fires on a local clock (croner, reading EventBridge's cron as
 * EventBridge does: functions/lib/schedule-cron.ts) and calls the scheduler function in this
 * process with the input EventBridge Scheduler would give it, so a local run decides exactly
 * as a deployed one: a build only when the family's bake key changed. A lifecycle schedule
 * calls the lifecycle function's scheduled handler the same way.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import type { Cron } from 'croner';
import type { ScheduleDecision } from '../contract/api.ts';
import { loadFactoryConfig } from '../functions/lib/factory-config.ts';
import { cronerJob } from '../functions/lib/schedule-cron.ts';
import { handler as runScheduleHandler, type ScheduleInput } from '../functions/run-schedule.ts';
import { scheduledHandler as retireHandler } from '../functions/lifecycle.ts';
import type { Schedule } from '../contract/factory-config.ts';
import type { LifecycleReport } from '../contract/lifecycle.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_STAGE } from './factory-resources.ts';

/** The scheduler function's name in the local stage (serverless.yml: `<prefix>-run-schedule`). */
const FUNCTION_NAME = `ami-factory-${LOCAL_STAGE}-run-schedule`;

export interface ClockedFamily {
  family: string;
  /** A rebuild (the scheduler function) or the family's lifecycle (the lifecycle function). */
  kind: 'build' | 'lifecycle';
  cron: string;
  timezone: string;
  /** When it fires next; null when never again. */
  nextRun: Date | null;
}

export interface ScheduleClock {
  families: ClockedFamily[];
  /** Stops the clock, then waits for the runs in progress. */
  stop(): Promise<void>;
}

export interface ScheduleClockOptions {
  onDecision(decision: ScheduleDecision): void;
  /** A scheduled lifecycle run's report. */
  onLifecycle?(report: LifecycleReport): void;
  /** A run that threw (its decision, if any, is recorded all the same). */
  onError(family: string, error: unknown): void;
  /** The scheduler function; the real one unless a test stands in. */
  run?: (input: ScheduleInput, context: Context) => Promise<ScheduleDecision>;
  /** The lifecycle function's scheduled handler; the real one unless a test stands in. */
  retire?: (input: { family: string }, context: Context) => Promise<LifecycleReport>;
}

/** The Lambda context of one local invocation, as the scheduler function reads it. */
function invocationContext(): Context {
  const context: Omit<Context, 'done' | 'fail' | 'succeed'> = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${FUNCTION_NAME}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 120_000,
  };
  return context as Context;
}

/** Starts a clock for each enabled family schedule of the factory configuration. */
export async function startScheduleClock(options: ScheduleClockOptions): Promise<ScheduleClock> {
  const run = options.run ?? runScheduleHandler;
  const retire = options.retire ?? retireHandler;
  const config = await loadFactoryConfig();
  const jobs: Cron[] = [];
  const families: ClockedFamily[] = [];
  const inProgress = new Set<Promise<void>>();
  const clock = (family: string, kind: ClockedFamily['kind'], schedule: Schedule, fire: () => Promise<void>): void => {
    // protect: a run still going when the next is due is not doubled (EventBridge would
    // invoke again; the bake key would then find the running build up to date).
    const job = cronerJob(schedule.cron, schedule.timezone, { protect: true }, async () => {
      const invocation = fire();
      inProgress.add(invocation);
      await invocation;
      inProgress.delete(invocation);
    });
    jobs.push(job);
    families.push({ family, kind, cron: schedule.cron, timezone: schedule.timezone, nextRun: job.nextRun() });
  };
  for (const [family, { schedule, lifecycle }] of Object.entries(config.families)) {
    if (schedule?.enabled === true) {
      clock(family, 'build', schedule, async () => {
        try {
          options.onDecision(await run({ family }, invocationContext()));
        } catch (error) {
          options.onError(family, error);
        }
      });
    }
    // As the deployment schedules it (scripts/factory-schedules.ts): its own schedule, else the family's.
    const retirement = lifecycle?.schedule ?? schedule;
    if (lifecycle !== undefined && retirement?.enabled === true) {
      clock(family, 'lifecycle', retirement, async () => {
        try {
          const report = await retire({ family }, invocationContext());
          options.onLifecycle?.(report);
        } catch (error) {
          options.onError(family, error);
        }
      });
    }
  }
  return {
    families,
    async stop() {
      for (const job of jobs) job.stop();
      await Promise.all(inProgress);
    },
  };
}
