/**
 * The worker's tasks as the workflow sends them (docs/architecture.md, "Worker tasks"),
 * parsed once when a message arrives. Fields the contract does not name are ignored, so the
 * workflow can add some without breaking hosts that run an older worker.
 */
import { z } from 'zod';

/**
 * An execution name: at most 80 characters. It names files on the host (ledger, build log,
 * work directory), so only characters that cannot leave a directory are accepted.
 */
export const BuildIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/, 'not a valid build id');

const TaskToken = z.string().min(1).max(1024);

export const ClaimTaskSchema = z.object({
  task: z.literal('claim'),
  taskToken: TaskToken,
  buildId: BuildIdSchema,
});

export const ProvisionTaskSchema = z.object({
  task: z.literal('provision'),
  taskToken: TaskToken,
  buildId: BuildIdSchema,
  volumeId: z.string().regex(/^vol-[0-9a-f]+$/, 'not an EBS volume id'),
  deviceName: z.string().min(1),
  bundleKey: z.string().min(1),
  logKey: z.string().min(1),
});

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
export interface ClaimAnswer {
  instanceId: string;
  availabilityZone: string;
  hostQueueUrl: string;
  deviceName: string;
}

/** The provision's answer. */
export interface ProvisionAnswer {
  logKey: string;
  /** Milliseconds per step of the build. */
  timings: Record<string, number>;
}

export type ParsedMessage =
  | { ok: true; task: WorkerTask }
  /** The token, when one could be read, lets the worker fail the task at once. */
  | { ok: false; reason: string; taskToken: string | undefined };

export function parseTaskMessage(body: string | undefined): ParsedMessage {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    return { ok: false, reason: 'the message body is not JSON', taskToken: undefined };
  }
  const result = WorkerTaskSchema.safeParse(json);
  if (result.success) return { ok: true, task: result.data };
  const token = z.object({ taskToken: TaskToken }).safeParse(json);
  const reason = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
  return { ok: false, reason, taskToken: token.success ? token.data.taskToken : undefined };
}
