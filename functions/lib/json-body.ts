/**
 * A small JSON request body, parsed and checked: empty, not JSON and not the expected shape
 * each get their own error code, and shape errors name every field at once (paths relative to
 * the body). POST /builds has its own parser (submit-request.ts): its bodies are large,
 * nested, hashed and size-limited.
 */
import type { z } from 'zod';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';
import { ProblemError } from './http.ts';

/** Small bodies only: a few kilobytes of settings, not a template. */
const MAX_BYTES = 64 * 1024;

export function parseJsonBody<T extends z.ZodType>(body: Buffer, schema: T, example: string): z.output<T> {
  if (body.length > MAX_BYTES) throw new ProblemError(413, 'PayloadTooLarge', `the request body is ${body.length} bytes; the limit is ${MAX_BYTES}`);
  if (body.length === 0) throw new ProblemError(400, 'InvalidRequest', `the request body is empty: send ${example}`);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ProblemError(400, 'InvalidJson', `the request body is not JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const errors = fieldErrorsOf(parsed.error);
    throw new ProblemError(400, 'InvalidRequest', `${formatFieldErrors(errors, { whole: '(body)', separator: '; ' })}; send ${example}`, errors);
  }
  return parsed.data;
}
