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
 */
import * as z from 'zod';
import { BuildIdSchema, TaskTokenSchema } from './worker-tasks.ts';

export const RESOURCE_WAIT_KINDS = ['volume-available', 'volume-detached', 'snapshot-completed', 'image-available'] as const;

export type ResourceWaitKind = (typeof RESOURCE_WAIT_KINDS)[number];

const RESOURCE_ID: Record<ResourceWaitKind, RegExp> = {
  'volume-available': /^vol-[0-9a-f]+$/,
  'volume-detached': /^vol-[0-9a-f]+$/,
  'snapshot-completed': /^snap-[0-9a-f]+$/,
  'image-available': /^ami-[0-9a-f]+$/,
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
};

/** The error a message that could not be understood fails its task with. */
export const INVALID_RESOURCE_WAIT = 'AmiFactory.InvalidResourceWait';
