/**
 * Reading executions in the local AWS: waiting for a status, and what the history says each
 * task was sent and answered. Tasks are found by the service action they call (and, for
 * worker tasks, the task in their message), not by state name, so these helpers read any
 * version of the workflow the same way.
 */
import { DescribeExecutionCommand, GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExecutionResult {
  status: string;
  output: unknown;
  error: string | undefined;
  cause: string | undefined;
}

/** Polls until `wanted(status)` holds; by default until the execution has ended. */
export async function waitForExecution(
  sfn: SFNClient,
  executionArn: string,
  options: { timeoutMs?: number; wanted?: (status: string) => boolean } = {},
): Promise<ExecutionResult> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  const wanted = options.wanted ?? ((status: string) => status !== 'RUNNING');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    const status = execution.status ?? '';
    if (wanted(status)) {
      return {
        status,
        output: execution.output === undefined ? undefined : (JSON.parse(execution.output) as unknown),
        error: execution.error,
        cause: execution.cause,
      };
    }
    if (Date.now() > deadline) throw new Error(`execution ${executionArn} is still ${status} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function executionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, maxResults: 1000 }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return events;
}

/** A task the workflow scheduled, with what it answered if it succeeded. */
export interface TaskResult {
  /** `ec2:createVolume`, `sqs:sendMessage.waitForTaskToken`, ... */
  action: string;
  parameters: Record<string, unknown>;
  output: Record<string, unknown> | undefined;
}

/** Every scheduled task in order, each paired with its TaskSucceeded output. */
export function taskResults(events: readonly HistoryEvent[]): TaskResult[] {
  const byId = new Map(events.map((event) => [event.id, event]));
  const results = new Map<number, TaskResult>();
  for (const event of events) {
    const scheduled = event.taskScheduledEventDetails;
    if (event.type === 'TaskScheduled' && scheduled !== undefined && event.id !== undefined) {
      const service = scheduled.resourceType?.split(':').at(-1) ?? '';
      const parameters = JSON.parse(scheduled.parameters ?? '{}') as Record<string, unknown>;
      results.set(event.id, { action: `${service}:${scheduled.resource ?? ''}`, parameters, output: undefined });
    }
    if (event.type === 'TaskSucceeded') {
      const task = results.get(scheduledIdOf(event, byId) ?? -1);
      if (task !== undefined) task.output = JSON.parse(event.taskSucceededEventDetails?.output ?? '{}') as Record<string, unknown>;
    }
  }
  return [...results.values()];
}

/** TaskSucceeded follows TaskStarted, which follows TaskScheduled. */
function scheduledIdOf(event: HistoryEvent, byId: Map<number | undefined, HistoryEvent>): number | undefined {
  let current: HistoryEvent | undefined = event;
  while (current !== undefined && current.type !== 'TaskScheduled') current = byId.get(current.previousEventId);
  return current?.id;
}

/**
 * The parameters of each call the workflow scheduled to a service action, in order: what the
 * workflow sent, including what the engine then ignores. `action` is e.g. `ec2:createVolume`;
 * calls made with an integration pattern (`.waitForTaskToken`) count as calls to the action.
 */
export function callsTo(events: readonly HistoryEvent[], action: string): Record<string, unknown>[] {
  return taskResults(events)
    .filter((result) => result.action.split('.')[0] === action)
    .map((result) => result.parameters);
}

/** The one call to `action`; fails the test when there is not exactly one. */
export function onlyCallTo(events: readonly HistoryEvent[], action: string): Record<string, unknown> {
  const calls = callsTo(events, action);
  const [call] = calls;
  if (calls.length !== 1 || call === undefined) throw new Error(`expected one ${action} call, found ${calls.length}`);
  return call;
}

/** The answer to the worker task `task` (claim, provision) sent to a queue with a task token. */
export function workerAnswer(events: readonly HistoryEvent[], task: string): Record<string, unknown> | undefined {
  return taskResults(events).find(
    (result) =>
      result.action === 'sqs:sendMessage.waitForTaskToken' &&
      (result.parameters.MessageBody as { task?: unknown } | undefined)?.task === task &&
      result.output !== undefined,
  )?.output;
}

/** The answer of the first successful call to `action` (e.g. `ec2:createVolume`). */
export function actionAnswer(events: readonly HistoryEvent[], action: string): Record<string, unknown> | undefined {
  return taskResults(events).find((result) => result.action === action && result.output !== undefined)?.output;
}

/** State names entered, in order: the path an execution took. */
export function statesEntered(events: readonly HistoryEvent[]): string[] {
  return events.flatMap((event) => (event.stateEnteredEventDetails?.name === undefined ? [] : [event.stateEnteredEventDetails.name]));
}

/** The resource waits the workflow sent to the resource-waits queue, in order (contract/resource-wait.ts). */
export function resourceWaits(events: readonly HistoryEvent[]): { kind: string; resourceId: string; intervalSeconds: unknown; maxAttempts: unknown }[] {
  return callsTo(events, 'sqs:sendMessage')
    .map((call) => call.MessageBody as Record<string, unknown>)
    .filter((body) => body.task === 'wait')
    .map((body) => ({ kind: String(body.kind), resourceId: String(body.resourceId), intervalSeconds: body.intervalSeconds, maxAttempts: body.maxAttempts }));
}

/** The resource the one wait of `kind` was for; fails the test when there is not exactly one. */
export function waitedFor(events: readonly HistoryEvent[], kind: string): string {
  const waits = resourceWaits(events).filter((wait) => wait.kind === kind);
  const [wait] = waits;
  if (waits.length !== 1 || wait === undefined) throw new Error(`expected one ${kind} wait, found ${waits.length}`);
  return wait.resourceId;
}
