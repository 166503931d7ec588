/**
 * A resource wait: the workflow waits for one EC2 resource of its own region to reach a state
 * (a new volume available, a detached volume free, a snapshot completed, an image available)
 * by sending this to the resource-waits queue with a task token, instead of a describe / wait
 * / count loop of its own. The resource-waits function checks every wait of a batch with one
 * filtered describe per kind, answers the ready ones through their tokens, fails the ones
 * that can never get there, and puts the others back on the queue until their next check,
 * paced by how far along each one is.
 *
 * One Task state and one transition per wait, instead of four per poll; a check within about
 * a second of the resource being ready instead of the next 15-second poll; and one describe
 * for many builds, in EC2's larger (filtered) request bucket.
 *
 * One kind waits for the account rather than a resource: `snapshot-capacity`, for a build
 * whose CreateSnapshot was refused, until the account's pending snapshots are below EC2's
 * limit; the function lets as many waiting builds go on as there is room for, oldest first,
 * so the builds that meet the limit queue for it instead of failing.
 */
import * as z from 'zod';
import { BuildIdSchema, TaskTokenSchema } from './worker-tasks.ts';

export const RESOURCE_WAIT_KINDS = ['volume-available', 'volume-detached', 'snapshot-completed', 'image-available', 'snapshot-capacity'] as const;

export type ResourceWaitKind = (typeof RESOURCE_WAIT_KINDS)[number];

const RESOURCE_ID: Record<ResourceWaitKind, RegExp> = {
  'volume-available': /^vol-[0-9a-f]+$/,
  'volume-detached': /^vol-[0-9a-f]+$/,
  'snapshot-completed': /^snap-[0-9a-f]+$/,
  'image-available': /^ami-[0-9a-f]+$/,
  // The volume whose snapshot CreateSnapshot refused: the account's pending snapshots are awaited.
  'snapshot-capacity': /^vol-[0-9a-f]+$/,
};

/** The resource-waits queue's message body. */
export const ResourceWaitTaskSchema = z
  .object({
    task: z.literal('wait'),
    taskToken: TaskTokenSchema,
    buildId: BuildIdSchema,
    kind: z.enum(RESOURCE_WAIT_KINDS),
    resourceId: z.string(),
    /** The longest pause between two checks (the build's `polling`, Packer's aws_polling delay_seconds). */
    intervalSeconds: z.number().min(0).max(3600),
    /** The bound: checks after the first before the wait fails (Packer's aws_polling max_attempts). */
    maxAttempts: z.number().int().min(1).max(10_000),
    /** snapshot-capacity: the refusal that sent the build to wait, as the workflow caught it. */
    refusal: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  })
  .superRefine((wait, context) => {
    if (!RESOURCE_ID[wait.kind].test(wait.resourceId)) {
      context.addIssue({ code: 'custom', path: ['resourceId'], message: `not an id of what ${wait.kind} waits for` });
    }
  });

export type ResourceWaitTask = z.infer<typeof ResourceWaitTaskSchema>;

/**
 * The errors a wait fails with, named as the workflow's own failures are. `failed`: the
 * resource went to a state it never leaves; `timedOut`: still not there after the bound.
 */
export const RESOURCE_WAIT_ERRORS: Record<ResourceWaitKind, { failed: string; timedOut: string }> = {
  'volume-available': { failed: 'AmiFactory.VolumeFailed', timedOut: 'AmiFactory.VolumeNotAvailable' },
  'volume-detached': { failed: 'AmiFactory.VolumeFailed', timedOut: 'AmiFactory.VolumeNotDetached' },
  'snapshot-completed': { failed: 'AmiFactory.SnapshotFailed', timedOut: 'AmiFactory.SnapshotNotCompleted' },
  'image-available': { failed: 'AmiFactory.ImageFailed', timedOut: 'AmiFactory.ImageNotAvailable' },
  // failed: CreateSnapshot was refused for another reason than the pending snapshots.
  'snapshot-capacity': { failed: 'AmiFactory.SnapshotRefused', timedOut: 'AmiFactory.NoSnapshotCapacity' },
};

/**
 * EC2's limit on an account's pending snapshots in a region (not adjustable). The
 * resource-waits function lets builds waiting for snapshot capacity go on while the account's
 * pending snapshots are below it (PENDING_SNAPSHOT_LIMIT to set another, for tests).
 */
export const PENDING_SNAPSHOT_LIMIT = 100;

/**
 * A refusal of CreateSnapshot while the account's pending snapshots were this far below the
 * limit was not about them (they do not drop that fast): the build fails with it at once.
 */
export const SNAPSHOT_CAPACITY_MARGIN = 10;

/** The error a message that could not be understood fails its task with. */
export const INVALID_RESOURCE_WAIT = 'AmiFactory.InvalidResourceWait';
