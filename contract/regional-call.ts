/**
 * A regional call: one EC2 action in a region and account other than the workflow's own,
 * which Step Functions' SDK integrations cannot reach (they call the state machine's region,
 * and CopyImage must be called in the destination region). The workflow sends it to the
 * regional-calls queue with a task token; the regional-call function makes the call (in
 * another account through the target-account role) and answers with EC2's response, or fails
 * the task with EC2's error name and message, as an SDK integration would.
 *
 * One addition to EC2's answers: each image DescribeImages lists carries `SnapshotIds` and
 * `RootSnapshotId` (null when the root device has no snapshot), for paths without wildcards.
 *
 * Only the actions distribution needs are accepted: the function is a narrow door, not a
 * general EC2 proxy.
 */
import * as z from 'zod';
import { BuildIdSchema, TaskTokenSchema } from './worker-tasks.ts';
import { ACCOUNT_ID, REGION } from './targets.ts';

export const REGIONAL_ACTIONS = [
  'CopyImage',
  'DescribeImages',
  'CreateTags',
  'ModifyImageAttribute',
  'ModifySnapshotAttribute',
  'EnableImageDeprecation',
  'EnableImageDeregistrationProtection',
  'DeregisterImage',
  'DeleteSnapshot',
] as const;

export type RegionalAction = (typeof REGIONAL_ACTIONS)[number];

export const RegionalCallSchema = z.object({
  accountId: z.string().regex(ACCOUNT_ID, 'not a 12-digit AWS account id'),
  region: z.string().regex(REGION, 'not an AWS region name'),
  action: z.enum(REGIONAL_ACTIONS),
  /** The action's request, as the SDK takes it; EC2 judges its fields. */
  parameters: z.record(z.string(), z.unknown()),
});

export type RegionalCall = z.infer<typeof RegionalCallSchema>;

/** The regional-calls queue's message body. */
export const RegionalCallTaskSchema = z.object({
  task: z.literal('regional-call'),
  taskToken: TaskTokenSchema,
  /** The build (or re-distribution) the call is for: names the assumed role's session. */
  buildId: BuildIdSchema,
  call: RegionalCallSchema,
});

export type RegionalCallTask = z.infer<typeof RegionalCallTaskSchema>;

/** The error a call that could not be understood fails its task with. */
export const INVALID_REGIONAL_CALL = 'AmiFactory.InvalidRegionalCall';
