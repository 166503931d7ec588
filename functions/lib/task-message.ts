/**
 * Reading a queue message that carries a task answered through its task token (a regional
 * call, a resource wait). A body that is not JSON is dropped; one that the schema refuses
 * fails its task at once, with the field errors as cause, when it names a token, so the
 * workflow does not wait for an answer that will never come.
 */
import type { SQSRecord } from 'aws-lambda';
import type * as z from 'zod';
import { formatFieldErrors, fieldErrorsOf } from '../../contract/field-errors.ts';
import { sendFailure } from '../../contract/task-token.ts';
import { sfn } from './aws.ts';
import { logger } from './log.ts';

/** The task, or undefined once the message was refused (and its task failed if it could be). */
export async function readTaskMessage<T>(record: SQSRecord, schema: z.ZodType<T>, refusal: { error: string; what: string }): Promise<T | undefined> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    logger.error({ messageId: record.messageId }, `a ${refusal.what} message is not JSON; dropped`);
    return undefined;
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const token = (body as { taskToken?: unknown } | null)?.taskToken;
  const cause = formatFieldErrors(fieldErrorsOf(parsed.error), { separator: '; ' }).slice(0, 250);
  logger.error({ messageId: record.messageId, cause }, `invalid ${refusal.what}`);
  if (typeof token === 'string') await sendFailure(sfn(), token, { error: refusal.error, cause });
  return undefined;
}
