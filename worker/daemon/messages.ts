/**
 * Reads a worker task from an SQS message body, once, when it arrives. The tasks themselves
 * are the contract's (contract/worker-tasks.ts).
 */
import { z } from 'zod';
import { TaskTokenSchema, WorkerTaskSchema, type WorkerTask } from '../../contract/worker-tasks.ts';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';

export type ParsedMessage =
  | { ok: true; task: WorkerTask }
  /** The token, when one could be read, lets the worker fail the task at once. */
  | { ok: false; reason: string; taskToken: string | undefined };

export function parseTaskMessage(body: string | undefined): ParsedMessage {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return { ok: false, reason: 'the message body is not JSON', taskToken: undefined };
  }
  const result = WorkerTaskSchema.safeParse(json);
  if (result.success) return { ok: true, task: result.data };
  const token = z.object({ taskToken: TaskTokenSchema }).safeParse(json);
  const reason = formatFieldErrors(fieldErrorsOf(result.error), { whole: '(body)', separator: '; ' });
  return { ok: false, reason, taskToken: token.success ? token.data.taskToken : undefined };
}
