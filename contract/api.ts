/**
 * The API's response shapes: what the handlers answer and the CLI reads. The OpenAPI
 * document (functions/openapi.yaml) describes the same shapes for HTTP clients, and a test
 * holds the two together (test/contract/api.test.ts). Requests are in bundle.ts.
 */
import { z } from 'zod';
import { BuildOwnerSchema, BuiltImageSchema } from './execution.ts';

export const FieldErrorSchema = z.object({
  /** The field, e.g. `builders[0].root_volume_size`; empty for the whole input. */
  path: z.string(),
  message: z.string(),
});

/**
 * Every error answer: `error` is a stable code for programs, `message` is for people, and
 * `errors` lists field problems.
 */
export const ProblemSchema = z.object({
  error: z.string(),
  message: z.string(),
  errors: z.array(FieldErrorSchema).optional(),
});

export type Problem = z.infer<typeof ProblemSchema>;

/**
 * `POST /builds`: 202 for a new build; 200 for an idempotent replay, or for a build of the
 * caller's team that already made (or is making) what the request would (`reused`).
 */
export const BuildAcceptedSchema = z.object({
  buildId: z.string(),
  status: z.string(),
  /** True when the answer is an earlier build with the same bake key, not a new one. */
  reused: z.boolean(),
  /** The reused build's image, when it has one. */
  imageId: z.string().optional(),
  links: z.object({ self: z.string(), log: z.string() }),
});

export type BuildAccepted = z.infer<typeof BuildAcceptedSchema>;

/** One workflow step as the build went through it; a retried or looping step appears each time. */
export const TimelineEntrySchema = z.object({
  step: z.string(),
  enteredAt: z.string(),
  exitedAt: z.string().nullable(),
});

export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;

/** An entry of `GET /builds`. */
export const BuildSummarySchema = z.object({
  buildId: z.string(),
  /** The execution's status; a cancelled build is ABORTED. */
  status: z.string(),
  startedAt: z.string().nullable(),
  stoppedAt: z.string().nullable(),
  /** Who asked for the build: its team and IAM principal; null for a build from before owners were recorded. */
  owner: BuildOwnerSchema.nullable(),
});

export type BuildSummary = z.infer<typeof BuildSummarySchema>;

/** `GET /builds`. */
export const BuildListSchema = z.object({
  builds: z.array(BuildSummarySchema),
  nextToken: z.string().nullable(),
});

export type BuildList = z.infer<typeof BuildListSchema>;

/** `GET /builds/{buildId}`. */
export const BuildDetailsSchema = BuildSummarySchema.extend({
  /** The step running now; null once the build ended. */
  currentStep: z.string().nullable(),
  timeline: z.array(TimelineEntrySchema),
  /** One entry per region and account the image is in; empty until the build succeeds. */
  amis: z.array(BuiltImageSchema),
  error: z.string().nullable(),
  cause: z.string().nullable(),
});

export type BuildDetails = z.infer<typeof BuildDetailsSchema>;

/** `DELETE /builds/{buildId}` (202): ABORTED once the stop took effect, ABORTING before. */
export const BuildCancelledSchema = z.object({
  buildId: z.string(),
  status: z.enum(['ABORTED', 'ABORTING']),
  message: z.string(),
});

export type BuildCancelled = z.infer<typeof BuildCancelledSchema>;

/** The OpenAPI document's name for each response schema defined here. */
export const OPENAPI_SCHEMAS = {
  Accepted: BuildAcceptedSchema,
  BuildSummary: BuildSummarySchema,
  BuildList: BuildListSchema,
  Build: BuildDetailsSchema,
  TimelineEntry: TimelineEntrySchema,
  BuiltImage: BuiltImageSchema,
  Owner: BuildOwnerSchema,
  Cancelled: BuildCancelledSchema,
  Problem: ProblemSchema,
  FieldProblem: FieldErrorSchema,
} as const;
