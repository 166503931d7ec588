/**
 * How slow and how strict the modelled EC2 is: the seconds each transitional state lasts, and
 * the token buckets EC2 throttles with (the EC2 developer guide, "Request throttling"). Two
 * built-in profiles, and JSON files that override any subset of one of them.
 */
import { readFileSync } from 'node:fs';
import * as z from 'zod';

/** The token bucket families of EC2's documented throttling, as this model groups actions. */
export const BUCKET_FAMILIES = ['mutatingVolume', 'tags', 'copyImage', 'default', 'describeUnfiltered', 'describeFiltered'] as const;
export type BucketFamily = (typeof BUCKET_FAMILIES)[number];

const bucketSchema = z.strictObject({
  size: z.number().int().positive(),
  refillPerSecond: z.number().positive(),
});
export type BucketLimit = z.infer<typeof bucketSchema>;

const seconds = z.number().nonnegative();
const latencySchema = z.strictObject({
  createVolume: seconds,
  attachVolume: seconds,
  detachVolume: seconds,
  registerImage: seconds,
  snapshotBase: seconds,
  snapshotPerChangedGiB: seconds,
});

export const awsModelProfileSchema = z.strictObject({
  /** Multiplies every latency: tests and CI run the same model faster (e.g. 0.02). */
  timeScale: z.number().positive().default(1),
  latencySeconds: latencySchema,
  buckets: z.strictObject({
    mutatingVolume: bucketSchema,
    tags: bucketSchema,
    copyImage: bucketSchema,
    default: bucketSchema,
    describeUnfiltered: bucketSchema,
    describeFiltered: bucketSchema,
  }),
  /** EC2's concurrency limits: pending snapshots per account and region (CreateSnapshot is refused beyond, PendingSnapshotLimitExceeded). */
  limits: z.strictObject({ pendingSnapshots: z.number().int().positive() }).default({ pendingSnapshots: 100 }),
});
export type AwsModelProfile = z.infer<typeof awsModelProfileSchema>;

/** EC2's documented buckets (per account and region): the same in both built-in profiles. */
const documentedBuckets: AwsModelProfile['buckets'] = {
  mutatingVolume: { size: 100, refillPerSecond: 5 },
  tags: { size: 100, refillPerSecond: 10 },
  copyImage: { size: 100, refillPerSecond: 1 },
  default: { size: 50, refillPerSecond: 5 },
  describeUnfiltered: { size: 50, refillPerSecond: 10 },
  describeFiltered: { size: 100, refillPerSecond: 20 },
};

export const BUILT_IN_PROFILES = {
  /** Practitioners' figures: a chroot build that changes ~1 GiB waits ~4 min for its snapshot. */
  typical: {
    timeScale: 1,
    latencySeconds: { createVolume: 5, attachVolume: 3, detachVolume: 5, registerImage: 5, snapshotBase: 60, snapshotPerChangedGiB: 180 },
    buckets: documentedBuckets,
    limits: { pendingSnapshots: 100 },
  },
  /** A bad day: about three times as slow (a ~9 min snapshot, near the CLI waiter's 10 min). */
  slow: {
    timeScale: 1,
    latencySeconds: { createVolume: 15, attachVolume: 9, detachVolume: 15, registerImage: 15, snapshotBase: 180, snapshotPerChangedGiB: 360 },
    buckets: documentedBuckets,
    limits: { pendingSnapshots: 100 },
  },
} as const satisfies Record<string, AwsModelProfile>;
export type BuiltInProfileName = keyof typeof BUILT_IN_PROFILES;

const builtInNames = Object.keys(BUILT_IN_PROFILES) as BuiltInProfileName[];

const partialBucket = bucketSchema.partial().optional();

/** A profile file: a built-in base and any subset of its fields. */
const profileFileSchema = z.strictObject({
  base: z.enum(builtInNames as [BuiltInProfileName, ...BuiltInProfileName[]]).default('typical'),
  timeScale: awsModelProfileSchema.shape.timeScale.optional(),
  latencySeconds: latencySchema.partial().optional(),
  limits: z.strictObject({ pendingSnapshots: z.number().int().positive() }).partial().optional(),
  buckets: z
    .strictObject({
      mutatingVolume: partialBucket,
      tags: partialBucket,
      copyImage: partialBucket,
      default: partialBucket,
      describeUnfiltered: partialBucket,
      describeFiltered: partialBucket,
    })
    .optional(),
});

/** Every problem at once, each naming its field, so a profile is fixed in one go. */
function describeIssues(source: string, error: z.ZodError): Error {
  const lines = error.issues.map((issue) => `  ${issue.path.length > 0 ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
  return new Error(`invalid AWS model profile ${source}:\n${lines.join('\n')}`);
}

/** Checks a whole profile (e.g. one a test builds) and fills in defaults. */
export function parseAwsModelProfile(value: unknown, source = '(value)'): AwsModelProfile {
  const parsed = awsModelProfileSchema.safeParse(value);
  if (!parsed.success) throw describeIssues(source, parsed.error);
  return parsed.data;
}

/** A built-in profile by name, or a JSON file (path) that overrides parts of one. */
export function loadAwsModelProfile(nameOrFile: string): AwsModelProfile {
  if ((builtInNames as string[]).includes(nameOrFile)) return structuredClone(BUILT_IN_PROFILES[nameOrFile as BuiltInProfileName]);
  let text: string;
  try {
    text = readFileSync(nameOrFile, 'utf8');
  } catch (error) {
    throw new Error(`AWS model profile ${nameOrFile} is neither a built-in profile (${builtInNames.join(', ')}) nor a readable file: ${String(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`AWS model profile ${nameOrFile} is not JSON: ${String(error)}`, { cause: error });
  }
  const file = profileFileSchema.safeParse(json);
  if (!file.success) throw describeIssues(nameOrFile, file.error);
  const base: AwsModelProfile = structuredClone(BUILT_IN_PROFILES[file.data.base]);
  const buckets = { ...base.buckets };
  for (const family of BUCKET_FAMILIES) buckets[family] = { ...base.buckets[family], ...file.data.buckets?.[family] };
  return parseAwsModelProfile(
    {
      timeScale: file.data.timeScale ?? base.timeScale,
      latencySeconds: { ...base.latencySeconds, ...file.data.latencySeconds },
      buckets,
      limits: { ...base.limits, ...file.data.limits },
    },
    nameOrFile,
  );
}
