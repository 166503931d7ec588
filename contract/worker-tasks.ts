/**
 * The worker's tasks, as the workflow sends them to the chroot hosts' queues (SQS message
 * bodies, JSON), and the answers a host sends back through the task token. Fields a schema
 * does not name are ignored, so the workflow can add some without breaking hosts that run an
 * older worker.
 */
import * as z from 'zod';

/**
 * An execution name: at most 80 characters. It names files on the host (ledger, build log,
 * work directory), so only characters that cannot leave a directory are accepted.
 */
export const BuildIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, 'not a valid build id');

export const TaskTokenSchema = z.string().min(1).max(1024);

/** On the shared claims queue: a host with a free slot takes the build. */
export const ClaimTaskSchema = z.object({
  task: z.literal('claim'),
  taskToken: TaskTokenSchema,
  buildId: BuildIdSchema,
});

/** On the claiming host's own queue: the volume is attached, provision it. */
export const ProvisionTaskSchema = z.object({
  task: z.literal('provision'),
  taskToken: TaskTokenSchema,
  buildId: BuildIdSchema,
  volumeId: z.string().regex(/^vol-[0-9a-f]+$/, 'not an EBS volume id'),
  deviceName: z.string().min(1),
  bundleKey: z.string().min(1),
  logKey: z.string().min(1),
});

/**
 * On the claiming host's own queue, after Detach or from clean-up: release the device lease,
 * and abort the build if it still runs. Sent possibly more than once: releasing twice is harmless.
 */
export const ReleaseTaskSchema = z.object({
  task: z.literal('release'),
  buildId: BuildIdSchema,
});

export const WorkerTaskSchema = z.discriminatedUnion('task', [ClaimTaskSchema, ProvisionTaskSchema, ReleaseTaskSchema]);

export type ClaimTask = z.infer<typeof ClaimTaskSchema>;
export type ProvisionTask = z.infer<typeof ProvisionTaskSchema>;
export type ReleaseTask = z.infer<typeof ReleaseTaskSchema>;
export type WorkerTask = z.infer<typeof WorkerTaskSchema>;

/** The claim's answer: where the build's volume goes and where its next tasks go. */
export const ClaimAnswerSchema = z.object({
  instanceId: z.string().min(1),
  availabilityZone: z.string().min(1),
  hostQueueUrl: z.string().min(1),
  deviceName: z.string().min(1),
});

export type ClaimAnswer = z.infer<typeof ClaimAnswerSchema>;

/** The provision's answer. */
export const ProvisionAnswerSchema = z.object({
  logKey: z.string().min(1),
  /** Milliseconds per step of the build. */
  timings: z.record(z.string(), z.number()),
});

export type ProvisionAnswer = z.infer<typeof ProvisionAnswerSchema>;

/** SendTaskFailure's fields: `error` is the failing step's error name, `cause` a short why. */
export interface TaskFailure {
  error: string;
  cause: string;
}
