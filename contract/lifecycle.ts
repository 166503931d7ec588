/**
 * The lifecycle of a template family's images (docs/lifecycle.md): what it decided for each
 * image it found and what came of it. The API answers `POST /families/{family}/lifecycle` with
 * a LifecycleReport, the scheduled run logs one, and the CLI prints it as a table.
 *
 * One action per image:
 * - `keep`: left as it is by the rules (among the newest builds, or already deprecated and
 *   not yet old enough to deregister);
 * - `deprecate`: EnableImageDeprecation, taking effect within two minutes;
 * - `deregister`: DeregisterImage, then DeleteSnapshot of each snapshot its own build made;
 * - `skip`: the rules would act, but something protects it (the keep tag, instances still
 *   using it, a state other than available), or the factory did not make it.
 */
import * as z from 'zod';

export const LIFECYCLE_ACTIONS = ['keep', 'deprecate', 'deregister', 'skip'] as const;
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];

/**
 * `none` for keep and skip (nothing to do), `planned` in a dry run, `done` or `failed` once
 * applied; a deregistered image whose snapshot could not be deleted is `failed`, its error
 * naming the snapshot.
 */
export const LIFECYCLE_OUTCOMES = ['none', 'planned', 'done', 'failed'] as const;
export type LifecycleOutcome = (typeof LIFECYCLE_OUTCOMES)[number];

/** A snapshot of a deregistered image that is not deleted with it, and why. */
export const LeftSnapshotSchema = z.object({
  snapshotId: z.string(),
  reason: z.string(),
});

export type LeftSnapshot = z.infer<typeof LeftSnapshotSchema>;

/** One image of the family and what the lifecycle does with it. */
export const LifecycleImageSchema = z.object({
  accountId: z.string(),
  region: z.string(),
  imageId: z.string(),
  name: z.string(),
  /** EC2's CreationDate, ISO 8601. */
  creationDate: z.string(),
  /** The build that made it (ami-factory:build-id); null for an image the factory did not make. */
  buildId: z.string().nullable(),
  action: z.enum(LIFECYCLE_ACTIONS),
  /** Why, for people: "newest 3 (#1)", "tagged ami-factory:keep", "in use by 2 instances". */
  reason: z.string(),
  /** Deregister only: the snapshots deleted with the image. */
  deleteSnapshots: z.array(z.string()),
  /** Deregister only: the image's snapshots left alone. */
  leftSnapshots: z.array(LeftSnapshotSchema),
  outcome: z.enum(LIFECYCLE_OUTCOMES),
  /** The AWS error (`Name: message`) of a failed action; null otherwise. */
  error: z.string().nullable(),
});

export type LifecycleImage = z.infer<typeof LifecycleImageSchema>;

/** Where the lifecycle looked for the family's images: an account and a region. */
export const LifecycleLocationSchema = z.object({
  accountId: z.string(),
  region: z.string(),
  /** How many of the family's images it found there. */
  images: z.number().int(),
  /** Why the images there could not be listed (`Name: message`), so none were touched; null when they were. */
  error: z.string().nullable(),
});

export type LifecycleLocation = z.infer<typeof LifecycleLocationSchema>;

/** The family's lifecycle settings the run applied (factory.yml, `lifecycle`). */
export const LifecycleSettingsSchema = z.object({
  keepNewest: z.number().int(),
  /** Null: never deregistered, only deprecated. */
  deregisterAfterDays: z.number().int().nullable(),
  keepTag: z.string(),
  skipInUse: z.boolean(),
});

export type LifecycleSettings = z.infer<typeof LifecycleSettingsSchema>;

/** A lifecycle run of one family, dry or real. */
export const LifecycleReportSchema = z.object({
  family: z.string(),
  dryRun: z.boolean(),
  /** The instant the rules were evaluated at (ages are counted to it). */
  evaluatedAt: z.string(),
  settings: LifecycleSettingsSchema,
  locations: z.array(LifecycleLocationSchema),
  /** Newest build first; within a build, by account and region. */
  images: z.array(LifecycleImageSchema),
});

export type LifecycleReport = z.infer<typeof LifecycleReportSchema>;

/** `POST /families/{family}/lifecycle`'s body. */
export const LifecycleRequestSchema = z.strictObject({
  /** true: only report what would be done. */
  dryRun: z.boolean(),
});

export type LifecycleRequest = z.infer<typeof LifecycleRequestSchema>;

/** An EventBridge Scheduler target's input: run the family's lifecycle for real. */
export const ScheduledLifecycleSchema = z.strictObject({
  family: z.string().min(1),
});

export type ScheduledLifecycle = z.infer<typeof ScheduledLifecycleSchema>;
