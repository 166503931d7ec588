/**
 * The scheduler function: EventBridge Scheduler invokes it on each family schedule of the
 * factory configuration with the input `{ "family": "NAME" }` (serverless.yml makes one
 * schedule per family from factory.yml), and the local factory's clock calls it the same way.
 * It runs the family (lib/family-run.ts): a build starts only when the family's bake key is
 * new. Returns the decision, which is also kept and logged.
 */
import type { Context } from 'aws-lambda';
import * as z from 'zod';
import type { ScheduleDecision } from '../contract/api.ts';
import { fieldErrorsOf, formatFieldErrors } from '../contract/field-errors.ts';
import { runFamily } from './lib/family-run.ts';
import { logger } from './lib/log.ts';

const ScheduleInputSchema = z.object({
  family: z.string({ error: 'is required: the name of a family of the factory configuration' }).min(1, 'must name a family'),
});

export type ScheduleInput = z.input<typeof ScheduleInputSchema>;

export async function handler(event: unknown, context: Context): Promise<ScheduleDecision> {
  const log = logger.child({ requestId: context.awsRequestId });
  const input = ScheduleInputSchema.safeParse(event);
  if (!input.success) {
    // The schedule's input is the stack's, not a caller's: a wrong one is the deployment's mistake.
    throw new Error(`the scheduler's input must be {"family": "NAME"}: ${formatFieldErrors(fieldErrorsOf(input.error), { whole: '(input)', separator: '; ' })}`);
  }
  return runFamily({ family: input.data.family, trigger: 'schedule', principal: context.invokedFunctionArn, log });
}
