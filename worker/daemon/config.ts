/**
 * The worker daemon's configuration: one JSON file per host, validated once at start-up so
 * that a typo stops the daemon with a clear message instead of surfacing mid-build.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_SANDBOX_POLICY, type SandboxLimitsMiB } from '../sandbox/policy.ts';
import { DEFAULT_HOST_CONFIG, type HostConfig } from '../chroot/host-config.ts';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';

const AbsolutePath = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');

const StaticIdentitySchema = z.strictObject({
  instanceId: z.string().regex(/^i-[0-9a-f]+$/, 'must look like i-0123456789abcdef0'),
  availabilityZone: z.string().min(1),
});

const SandboxLimitsSchema = (defaults: SandboxLimitsMiB) =>
  z.strictObject({
    memoryMb: z.number().int().min(64).default(defaults.memoryMb),
    maxProcesses: z.number().int().min(16).default(defaults.maxProcesses),
    cpuWeight: z.number().int().min(1).max(10000).default(defaults.cpuWeight),
  });

/**
 * The sandbox every build's commands run in: limits a template gets by default and the most
 * it may ask for, extra addresses no build may reach, and the pool of build subnets.
 */
const SandboxSchema = z
  .strictObject({
    defaults: SandboxLimitsSchema(DEFAULT_SANDBOX_POLICY.defaults).default(DEFAULT_SANDBOX_POLICY.defaults),
    maxima: SandboxLimitsSchema(DEFAULT_SANDBOX_POLICY.maxima).default(DEFAULT_SANDBOX_POLICY.maxima),
    blockedAddresses: z
      .array(z.string().refine((a) => isIP(a.split('/')[0] ?? '') !== 0, 'must be an IP address or prefix, such as 10.0.0.5 or fd00::/8'))
      .default([]),
    subnetPool: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'must be an IPv4 prefix, such as 10.213.0.0/16').default(DEFAULT_SANDBOX_POLICY.subnetPool),
  })
  .refine(
    (s) => s.defaults.memoryMb <= s.maxima.memoryMb && s.defaults.maxProcesses <= s.maxima.maxProcesses && s.defaults.cpuWeight <= s.maxima.cpuWeight,
    'each default must be at most its maximum',
  );

const VolumesSchema = z.discriminatedUnion('backend', [
  /** EBS volumes that the workflow attaches to this instance. */
  z.strictObject({ backend: z.literal('ec2') }),
  /** The local factory: volumes and snapshots are sparse files next to the local AWS. */
  z.strictObject({ backend: z.literal('local'), storeDir: AbsolutePath }),
]);

export const WorkerConfigSchema = z.strictObject({
  region: z.string().min(1),
  /** Local AWS (moto) only; unset on EC2, where the SDK's default endpoints apply. */
  endpoint: z.url().optional(),
  claimsQueueUrl: z.url(),
  /** This host's queue is `<hostQueuePrefix>-host-<instanceId>`. */
  hostQueuePrefix: z.string().regex(/^[A-Za-z0-9_-]{1,50}$/, 'letters, digits, "-" and "_" only, at most 50'),
  artifactsBucket: z.string().min(3),
  /** Builds holding a device at once; a host has 21 device names (/dev/sd[f-z]) to give. */
  maxConcurrentBuilds: z.number().int().min(1).max(21).default(2),
  /** Between SendTaskHeartbeat calls: well below the workflow's HeartbeatSeconds. */
  heartbeatSeconds: z.number().int().min(1).default(20),
  /**
   * A claimed build that has had no task for this long (no provision since the claim, or
   * no release since the provision ended) is given up and its slot freed: a stopped
   * execution sends no release. Longer than the workflow takes from claim to provision.
   */
  claimTtlSeconds: z.number().int().min(1).default(3600),
  /** How long SIGTERM waits for running builds before aborting them. */
  drainTimeoutSeconds: z.number().int().min(0).default(1800),
  stateDir: AbsolutePath.default(DEFAULT_HOST_CONFIG.stateDir),
  mountRoot: AbsolutePath.default(DEFAULT_HOST_CONFIG.mountRoot),
  identity: z.union([z.literal('imds'), StaticIdentitySchema]).default('imds'),
  volumes: VolumesSchema.default({ backend: 'ec2' }),
  /** Overrides the instance metadata service's address (tests). */
  imdsEndpoint: z.url().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  sandbox: SandboxSchema.default({
    defaults: DEFAULT_SANDBOX_POLICY.defaults,
    maxima: DEFAULT_SANDBOX_POLICY.maxima,
    blockedAddresses: [],
    subnetPool: DEFAULT_SANDBOX_POLICY.subnetPool,
  }),
  /**
   * Set on hosts of the factory's Auto Scaling group (the launch template's user data writes
   * it): when the group terminates this host, the daemon drains, then completes this hook's
   * lifecycle action (lifecycle.ts).
   */
  autoScaling: z
    .strictObject({
      groupName: z.string().min(1),
      lifecycleHookName: z.string().min(1),
      /** Between reads of the instance's target lifecycle state. */
      pollSeconds: z.number().int().min(1).max(60).default(5),
    })
    .optional(),
  /** SQS long-poll length; shorter only makes tests stop sooner. */
  pollWaitSeconds: z.number().int().min(0).max(20).default(20),
});

/** The file as written: defaults may be left out. */
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;
export type WorkerConfig = z.output<typeof WorkerConfigSchema>;
export type StaticIdentity = z.infer<typeof StaticIdentitySchema>;

export class WorkerConfigError extends Error {
  override name = 'WorkerConfigError';
}

export function parseWorkerConfig(input: unknown, source = 'worker config'): WorkerConfig {
  const result = WorkerConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = formatFieldErrors(fieldErrorsOf(result.error), { whole: '(root)', separator: '\n  ' });
    throw new WorkerConfigError(`${source} is invalid:\n  ${lines}`);
  }
  return result.data;
}

export async function loadWorkerConfig(path: string): Promise<WorkerConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new WorkerConfigError(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new WorkerConfigError(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseWorkerConfig(json, file);
}

export function hostConfigOf(config: WorkerConfig): HostConfig {
  // A worker always sandboxes: only `ami-factory chroot --no-sandbox` on one's own machine does not.
  return { stateDir: config.stateDir, mountRoot: config.mountRoot, sandbox: { ...config.sandbox, enabled: true } };
}
