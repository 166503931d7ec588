/**
 * The factory's events on EventBridge: those it consumes (Step Functions' own status changes
 * of build-image executions, which EventBridge routes to the clean-up function; the local
 * factory's watcher hands it the same shape) and those it publishes (source `ami-factory`),
 * so teams can route a build's result to SNS, chat or a pipeline. Each published event's
 * detail is defined once here; docs/architecture.md ("Events") documents them.
 */
import type { EventBridgeEvent } from 'aws-lambda';
import * as z from 'zod';
import { BuiltImageSchema } from './execution.ts';

/** An execution's status change, as Step Functions publishes it. */
export interface ExecutionStatusChange {
  executionArn: string;
  stateMachineArn: string;
  /** The execution name, which is the build id. */
  name: string;
  status: string;
}

export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

export type ExecutionStatusChangeEvent = EventBridgeEvent<typeof EXECUTION_STATUS_CHANGE, ExecutionStatusChange>;

/** The `source` of every event the factory publishes: what a rule matches them by. */
export const FACTORY_EVENT_SOURCE = 'ami-factory';

/** The published events' detail types. */
export const BUILD_STARTED = 'Build Started';
export const BUILD_SUCCEEDED = 'Build Succeeded';
export const BUILD_FAILED = 'Build Failed';
/** Reserved for distribution results (copies and shares to other regions and accounts). */
export const BUILD_DISTRIBUTED = 'Build Distributed';

export const FACTORY_DETAIL_TYPES = [BUILD_STARTED, BUILD_SUCCEEDED, BUILD_FAILED, BUILD_DISTRIBUTED] as const;
export type FactoryDetailType = (typeof FACTORY_DETAIL_TYPES)[number];

/** Where a build registers its image (the execution input's `target`). */
export const BuildTargetSchema = z.object({ region: z.string(), accountId: z.string() });

/**
 * What every published event says about its build. `team` is the execution input's
 * `owner.team`, null for a build started without an owner (directly, not through the API).
 * Names and ids only: never a variable's value, so nothing sensitive reaches a subscriber.
 */
const BuildEventBase = z.object({
  buildId: z.string(),
  team: z.string().nullable(),
  /** The image's name (ami_name). */
  amiName: z.string(),
});

/** Right after a host claimed the build: it is now building. */
export const BuildStartedDetailSchema = BuildEventBase.extend({
  /** Where the image will be registered, one entry per region and account. */
  targets: z.array(BuildTargetSchema).min(1),
});

/** The image is registered and available, with all the distribution the template asked for. */
export const BuildSucceededDetailSchema = BuildEventBase.extend({
  /** The workflow output's `amis`: one image per region and account. */
  amis: z.array(BuiltImageSchema).min(1),
});

/** The build failed, timed out or was stopped, and the clean-up function removed what it left. */
export const BuildFailedDetailSchema = BuildEventBase.extend({
  status: z.enum(['FAILED', 'TIMED_OUT', 'ABORTED']),
  /** The execution's error (`AmiFactory.*`, a worker's error name, ...), null when stopped without one. */
  error: z.string().nullable(),
  cause: z.string().nullable(),
  /** False when something could not be removed; the clean-up is retried, and may publish again. */
  cleanedUp: z.boolean(),
});

/** Distribution results: every region and account the image is now in. Not published yet. */
export const BuildDistributedDetailSchema = BuildEventBase.extend({
  amis: z.array(BuiltImageSchema).min(1),
});

export type BuildStartedDetail = z.infer<typeof BuildStartedDetailSchema>;
export type BuildSucceededDetail = z.infer<typeof BuildSucceededDetailSchema>;
export type BuildFailedDetail = z.infer<typeof BuildFailedDetailSchema>;
export type BuildDistributedDetail = z.infer<typeof BuildDistributedDetailSchema>;

/** Each detail type's schema, for a consumer that receives any of them. */
export const FACTORY_EVENT_DETAIL_SCHEMAS = {
  [BUILD_STARTED]: BuildStartedDetailSchema,
  [BUILD_SUCCEEDED]: BuildSucceededDetailSchema,
  [BUILD_FAILED]: BuildFailedDetailSchema,
  [BUILD_DISTRIBUTED]: BuildDistributedDetailSchema,
} as const satisfies Record<FactoryDetailType, z.ZodType>;
