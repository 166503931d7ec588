/**
 * The factory configuration (`factory.yml`, deployed with the stack): the template families a
 * platform team runs as a factory. Each family is one template with its variables, the team it
 * builds for, where its images go (targets), when it is rebuilt (an EventBridge Scheduler cron
 * with a time zone) and how long its images live (lifecycle).
 *
 * ```yaml
 * families:
 *   hello:
 *     template: examples/hello/template.json   # relative to factory.yml
 *     team: platform
 *     variables: { greeting: hi }
 *     targets:
 *       - region: us-west-2                    # the factory's account: a copy
 *       - { account: "222222222222", region: us-east-1, mode: copy }
 *     schedule: { cron: "0 3 * * ? *", timezone: Europe/Berlin }
 *     lifecycle: { keep_newest: 3, deregister_after_days: 30 }
 *     volume_pool: { size: 2 }                 # volumes ready in each hosts' zone
 * ```
 *
 * Option names follow the rest of the factory: snake_case as in Packer templates.
 */
import * as z from 'zod';
import { TargetSchema } from './targets.ts';
import { VolumePoolConfigSchema } from './volume-pool.ts';

/** A family's name: a path segment, an EC2 tag value and a schedule name. */
export const FAMILY_NAME = /^[a-z0-9][a-z0-9-]{0,47}$/;

/** On every image a family's build makes: the family, what the lifecycle selects images by. */
export const FAMILY_TAG = 'ami-factory:family';
/** An image tagged with this (any value) is never deprecated or deregistered by the lifecycle. */
export const DEFAULT_KEEP_TAG = 'ami-factory:keep';

export const ScheduleSchema = z.strictObject({
  /** EventBridge Scheduler's cron: six fields, `minutes hours day-of-month month day-of-week year`. */
  cron: z.string().trim().min(1),
  /** An IANA time zone the cron is read in. */
  timezone: z.string().min(1).default('UTC'),
  /** false keeps the schedule deployed but paused. */
  enabled: z.boolean().default(true),
});

export type Schedule = z.output<typeof ScheduleSchema>;

export const LifecycleSchema = z
  .strictObject({
    /** The newest images kept as they are; older ones are deprecated at once. */
    keep_newest: z.number().int().min(1).max(1000),
    /** Days after which an image outside the newest is deregistered and its snapshots deleted; absent: never. */
    deregister_after_days: z.number().int().min(1).max(3650).optional(),
    /** Images carrying this tag key are never touched. */
    keep_tag: z.string().min(1).max(128).default(DEFAULT_KEEP_TAG),
    /** Leave images alone while instances in their account and region still run them. */
    skip_in_use: z.boolean().default(true),
    /** Run the lifecycle on this schedule (the family's build schedule otherwise). */
    schedule: ScheduleSchema.optional(),
  });

export type Lifecycle = z.output<typeof LifecycleSchema>;

export const FamilySchema = z.strictObject({
  /** The Packer template, relative to the configuration file; its scripts and files are read beside it. */
  template: z.string().min(1),
  /** Values for the template's variables (`-var`). */
  variables: z.record(z.string(), z.string()).default({}),
  /** The team the family builds for: its images carry the team tag, as a team's own submit would. */
  team: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'not a team name'),
  /** Where each image goes beyond the build region and account. */
  targets: z.array(TargetSchema).default([]),
  /** When the family is rebuilt; a rebuild bakes only when its bake key changed. Absent: on demand only. */
  schedule: ScheduleSchema.optional(),
  /** How long the family's images live. Absent: forever. */
  lifecycle: LifecycleSchema.optional(),
  /** Volumes made ahead from the family's source snapshot, per zone, for its builds to take (contract/volume-pool.ts). */
  volume_pool: VolumePoolConfigSchema.optional(),
});

export type Family = z.output<typeof FamilySchema>;

export const FactoryConfigSchema = z.strictObject({
  families: z.record(z.string().regex(FAMILY_NAME, 'not a family name (lower-case letters, digits and dashes, at most 48)'), FamilySchema).default({}),
});

export type FactoryConfig = z.output<typeof FactoryConfigSchema>;
