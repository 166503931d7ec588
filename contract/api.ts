/**
 * The API's response shapes: what the handlers answer and the CLI reads. The OpenAPI
 * document (functions/openapi.yaml) describes the same shapes for HTTP clients, and a test
 * holds the two together (test/contract/api.test.ts). Requests are in bundle.ts.
 */
import * as z from 'zod';
import { BuildOwnerSchema, BuiltImageSchema } from './execution.ts';
import { LeftSnapshotSchema, LifecycleImageSchema, LifecycleLocationSchema, LifecycleReportSchema, LifecycleSettingsSchema } from './lifecycle.ts';

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
  /** Re-distributions of the build's image, newest first. */
  distributions: z.array(z.lazy(() => DistributionSummarySchema)).optional(),
  /**
   * The newest execution history event this answer read: pass it as `?since=` next time to
   * get only the steps entered after it (`timeline` and `currentStep` then tell only those).
   */
  lastEventId: z.number().int(),
});

export type BuildDetails = z.infer<typeof BuildDetailsSchema>;

/**
 * Packer's manifest (the `manifest` post-processor's file) of a succeeded build: one build
 * whose `artifact_id` is every available image of the release, `region:ami-id`, one per
 * region, as Packer's amazon builders write it.
 */
export const BuildManifestSchema = z.object({
  builds: z.array(
    z.object({
      name: z.string(),
      builder_type: z.string(),
      /** Unix seconds the build ended; absent under strip_time. */
      build_time: z.number().int().optional(),
      /** An AMI build writes no files. */
      files: z.null(),
      artifact_id: z.string(),
      packer_run_uuid: z.string(),
      custom_data: z.record(z.string(), z.string()).nullable(),
    }),
  ),
  last_run_uuid: z.string(),
});

export type BuildManifest = z.infer<typeof BuildManifestSchema>;

/** One re-distribution of a build's image (`POST /images/{imageId}/distributions`). */
export const DistributionSummarySchema = z.object({
  distributionId: z.string(),
  status: z.string(),
  startedAt: z.string().nullable(),
  /** Every image the distribution named, with its state; empty while it runs. */
  amis: z.array(BuiltImageSchema),
});

export type DistributionSummary = z.infer<typeof DistributionSummarySchema>;

/** `POST /images/{imageId}/distributions` (202). */
export const DistributionAcceptedSchema = z.object({
  distributionId: z.string(),
  /** The build that made the image: its GET shows the distribution. */
  buildId: z.string(),
  imageId: z.string(),
  status: z.string(),
  links: z.object({ build: z.string() }),
});

export type DistributionAccepted = z.infer<typeof DistributionAcceptedSchema>;

/** `DELETE /builds/{buildId}` (202): ABORTED once the stop took effect, ABORTING before. */
export const BuildCancelledSchema = z.object({
  buildId: z.string(),
  status: z.enum(['ABORTED', 'ABORTING']),
  message: z.string(),
});

export type BuildCancelled = z.infer<typeof BuildCancelledSchema>;

/** What a factory family's run decided (the bake key decides: contract/factory-config.ts). */
export const SCHEDULE_DECISIONS = ['started', 'up to date', 'failed'] as const;

export type ScheduleDecisionKind = (typeof SCHEDULE_DECISIONS)[number];

/**
 * One run of a factory family, on its schedule or on demand: `started` a build (its bake key
 * had no image and no running build of the team), found it `up to date` (one had), or
 * `failed` (why, as a problem). `POST /families/{family}/runs` answers with it, the factory
 * keeps each one, and `GET /families` shows the latest.
 */
export const ScheduleDecisionSchema = z.object({
  family: z.string(),
  decision: z.enum(SCHEDULE_DECISIONS),
  /** What made the run: the family's schedule, or someone's run-now. */
  trigger: z.enum(['schedule', 'run-now']),
  /** Who: the caller's IAM principal for a run-now, the scheduler function for a scheduled run. */
  principal: z.string(),
  decidedAt: z.string(),
  /** The family's bake key; null when the run failed before it was known. */
  bakeKey: z.string().nullable(),
  /** The source image the run resolved; null for from_scratch or a run that failed before. */
  sourceImageId: z.string().nullable(),
  /** `started`: the new build; `up to date`: the build that has the bake key; null when `failed`. */
  buildId: z.string().nullable(),
  /** `up to date`: the image that has the bake key; null while that build still runs, and otherwise. */
  imageId: z.string().nullable(),
  /** For people: why this decision. */
  reason: z.string(),
  /** `failed`: the problem's code (InvalidTemplate, SourceImageNotFound, ...); null otherwise. */
  error: z.string().nullable(),
  /** `failed`: the field problems, as in a problem answer. */
  errors: z.array(FieldErrorSchema).optional(),
});

export type ScheduleDecision = z.infer<typeof ScheduleDecisionSchema>;

/** A family's schedule as factory.yml sets it (EventBridge Scheduler's cron and time zone). */
export const FamilyScheduleSchema = z.object({
  cron: z.string(),
  timezone: z.string(),
  enabled: z.boolean(),
});

/** An entry of `GET /families`. */
export const FamilySummarySchema = z.object({
  name: z.string(),
  /** The team the family builds for. */
  team: z.string(),
  /** The template, relative to the factory configuration. */
  template: z.string(),
  /** Null for a family built on demand only. */
  schedule: FamilyScheduleSchema.nullable(),
  /** When the schedule fires next; null without an enabled schedule, or when it never fires again. */
  nextRunAt: z.string().nullable(),
  /** The newest run's decision; null before the first run. */
  latestDecision: ScheduleDecisionSchema.nullable(),
});

export type FamilySummary = z.infer<typeof FamilySummarySchema>;

/** `GET /families`: the caller's team's families (every family for an admin). */
export const FamilyListSchema = z.object({
  families: z.array(FamilySummarySchema),
});

export type FamilyList = z.infer<typeof FamilyListSchema>;

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
  Distribution: DistributionSummarySchema,
  DistributionAccepted: DistributionAcceptedSchema,
  Manifest: BuildManifestSchema,
  Problem: ProblemSchema,
  FieldProblem: FieldErrorSchema,
  ScheduleDecision: ScheduleDecisionSchema,
  FamilySchedule: FamilyScheduleSchema,
  Family: FamilySummarySchema,
  FamilyList: FamilyListSchema,
  // POST /families/{family}/lifecycle (contract/lifecycle.ts).
  LifecycleReport: LifecycleReportSchema,
  LifecycleSettings: LifecycleSettingsSchema,
  LifecycleLocation: LifecycleLocationSchema,
  LifecycleImage: LifecycleImageSchema,
  LeftSnapshot: LeftSnapshotSchema,
} as const;
