/**
 * Answering the workflow through a task token. A token whose task is over (answered
 * already, timed out, or its execution stopped) is refused with one of three errors; for a
 * worker that receives tasks at least once that is an expected outcome, not a failure.
 */
import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { TaskFailure } from './worker-tasks.ts';

const TASK_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** The task no longer waits for an answer: nothing this host sends will reach it. */
export function isTaskGone(err: unknown): boolean {
  return err instanceof Error && TASK_GONE.has(err.name);
}

/** Step Functions caps `error` at 256 characters; the contract keeps `cause` short. */
export const MAX_CAUSE = 250;

export type { TaskFailure };

export function failureOf(err: unknown): TaskFailure {
  const name = err instanceof Error && err.name !== '' ? err.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  return { error: name.slice(0, 256), cause: message.slice(0, MAX_CAUSE) };
}

export type AnswerResult = 'delivered' | 'task-gone';

export async function sendSuccess(sfn: SFNClient, taskToken: string, output: unknown): Promise<AnswerResult> {
  return deliver(() => sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) })));
}

export async function sendFailure(sfn: SFNClient, taskToken: string, failure: TaskFailure): Promise<AnswerResult> {
  return deliver(() => sfn.send(new SendTaskFailureCommand({ taskToken, error: failure.error, cause: failure.cause })));
}

export async function sendHeartbeat(sfn: SFNClient, taskToken: string): Promise<AnswerResult> {
  return deliver(() => sfn.send(new SendTaskHeartbeatCommand({ taskToken })));
}

async function deliver(send: () => Promise<unknown>): Promise<AnswerResult> {
  try {
    await send();
    return 'delivered';
  } catch (err) {
    if (isTaskGone(err)) return 'task-gone';
    throw err;
  }
}
