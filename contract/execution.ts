/**
 * The build-image workflow's input and output (docs/architecture.md, "Contracts"): what the
 * submit function starts an execution with and what the execution ends with, and the tags
 * that mark a build's resources in EC2.
 */
import type {
  CopyImageRequest,
  CreateSnapshotRequest,
  CreateVolumeRequest,
  EnableImageDeregistrationProtectionRequest,
  LaunchPermissionModifications,
  ModifySnapshotAttributeRequest,
  RegisterImageRequest,
  Tag,
} from '@aws-sdk/client-ec2';
import * as z from 'zod';
import { VolumePoolRefSchema } from './volume-pool.ts';

/** On every volume, snapshot and image a build creates: what clean-up searches by. */
export const BUILD_ID_TAG = 'ami-factory:build-id';
/** On the build volume once a host claimed the build: whose device lease to release. */
export const INSTANCE_ID_TAG = 'ami-factory:instance-id';
/**
 * On the image: the snapshot the build made. The local factory reads it, since the local
 * AWS registers images with a snapshot of its own.
 */
export const ROOT_SNAPSHOT_TAG = 'ami-factory:root-snapshot-id';

/**
 * On every volume, snapshot and image a build creates: the team that asked for it. Only a
 * build of the same team may replace (force_deregister) an image carrying it.
 */
export const TEAM_TAG = 'ami-factory:team';
/**
 * On every volume, snapshot and image a build creates: its bake key (what the build would
 * produce, functions/lib/bake-key.ts). A submit with the same key and team reuses the image.
 */
export const BAKE_KEY_TAG = 'ami-factory:bake-key';
/**
 * On a build's secret once a host claimed the build: the claiming instance's ARN, which the
 * worker role's policy compares with the caller's `ec2:SourceInstanceARN`.
 */
export const INSTANCE_ARN_TAG = 'ami-factory:instance-arn';

/** Who asked for a build: the signing IAM principal and the team the factory counts it in. */
export const BuildOwnerSchema = z.object({
  team: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'not a team name'),
  principal: z.string().min(1),
});

export type BuildOwner = z.infer<typeof BuildOwnerSchema>;

export const BuildSecretRefSchema = z.object({
  /** The secret's name, `<service>/<stage>/builds/<buildId>`. */
  id: z.string().min(1),
  /** `arn:<partition>:ec2:<region>:<account>:instance/`: a host's ARN is this and its instance id. */
  instanceArnPrefix: z.string().regex(/^arn:[a-z-]+:ec2:[a-z0-9-]+:\d{12}:instance\/$/, 'not an instance ARN prefix'),
});

export type BuildSecretRef = z.infer<typeof BuildSecretRefSchema>;

const seconds = z.number().int().min(0).max(3600);

/** Seconds between EC2 polls in the workflow, and how many polls before it gives up. */
export const PollingSchema = z.strictObject({
  volume: seconds,
  attachment: seconds,
  snapshot: seconds,
  image: seconds,
  maxAttempts: z.number().int().min(1).max(10_000),
});

export type Polling = z.infer<typeof PollingSchema>;

const timeoutSeconds = z.number().int().min(1).max(365 * 24 * 3600);

export const TimeoutsSchema = z.strictObject({
  /** How long a build waits for a host with a free slot. */
  claimSeconds: timeoutSeconds,
  /** The whole provisioning run on the host. */
  provisionSeconds: timeoutSeconds,
  /** Silence from the host after which it counts as dead; the worker beats every ~20 s. */
  heartbeatSeconds: timeoutSeconds,
});

export type Timeouts = z.infer<typeof TimeoutsSchema>;

export const ExistingImageSchema = z.object({
  imageId: z.string().regex(/^ami-[0-9a-f]+$/, 'not an AMI id'),
  /** Snapshots to delete with it: only with force_delete_snapshot. */
  snapshotIds: z.array(z.string().regex(/^snap-[0-9a-f]+$/, 'not a snapshot id')),
});

export type ExistingImage = z.infer<typeof ExistingImageSchema>;

/** An EC2 request object as the planner wrote it; EC2 itself judges its fields. */
const ec2Request = <T extends object>() => z.custom<T>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'must be an EC2 request object');

/**
 * What the workflow does to the image in the build region once it is available, each an EC2
 * request without the image or snapshot id, or null for nothing to do (Packer's ami_users,
 * ami_groups, ami_org_arns, ami_ou_arns; snapshot_users, snapshot_groups; ami_product_codes;
 * deprecate_at; deregistration_protection).
 */
/**
 * One image of the release beyond the build region's own: a copy in another region of the
 * factory's account (`ami_regions`, or a share target's region) or in a target account
 * (`copy` mode), made and finished by regional calls (contract/regional-call.ts). Each
 * follow-up request is null for nothing to do; the copy's ids are filled in by the workflow.
 */
export const ImageCopySchema = z.object({
  kind: z.literal('copy'),
  accountId: z.string().regex(/^\d{12}$/, 'not an AWS account id'),
  region: z.string().min(1),
  /** CopyImage's request without `SourceImageId`: called in `region` as `accountId`. */
  copyImage: ec2Request<Omit<CopyImageRequest, 'SourceImageId'>>(),
  /** CreateTags on the copy, then on its snapshots: the build's tags with the copy's own ids. */
  imageTags: z.array(ec2Request<Tag>()),
  snapshotTags: z.array(ec2Request<Tag>()),
  productCodes: z.array(z.string().min(1)).min(1).nullable(),
  deprecateAt: z.iso.datetime().nullable(),
  launchPermission: ec2Request<LaunchPermissionModifications>().nullable(),
  /** ModifySnapshotAttribute without `SnapshotId`, applied to the copy's root snapshot. */
  snapshotPermission: ec2Request<Omit<ModifySnapshotAttributeRequest, 'SnapshotId'>>().nullable(),
  deregistrationProtection: ec2Request<Omit<EnableImageDeregistrationProtectionRequest, 'ImageId'>>().nullable(),
});

export type ImageCopy = z.infer<typeof ImageCopySchema>;

/** The release's first image: the one the build registered, reported as it is. */
export const BuildRegionImageSchema = z.object({
  kind: z.literal('build'),
  accountId: z.string(),
  region: z.string(),
});

/** Every image of a release, the build region's first: what the workflow's Map runs over. */
export const ReleaseImageSchema = z.discriminatedUnion('kind', [BuildRegionImageSchema, ImageCopySchema]);

export type ReleaseImage = z.infer<typeof ReleaseImageSchema>;

export const DistributionSchema = z.object({
  /** ModifyImageAttribute's `LaunchPermission`: `{ Add: [{ UserId } | { Group } | { OrganizationArn } | { OrganizationalUnitArn }] }`. */
  launchPermission: ec2Request<LaunchPermissionModifications>().nullable(),
  /** ModifySnapshotAttribute on the build's snapshot: `createVolumePermission`, `add`, `UserIds` and/or `GroupNames`. */
  snapshotPermission: ec2Request<Omit<ModifySnapshotAttributeRequest, 'SnapshotId'>>().nullable(),
  /** ModifyImageAttribute's `ProductCodes`. */
  productCodes: z.array(z.string().min(1)).min(1).nullable(),
  /** EnableImageDeprecation's `DeprecateAt`, an ISO 8601 UTC time. */
  deprecateAt: z.iso.datetime().nullable(),
  /** EnableImageDeregistrationProtection's parameters: `{ WithCooldown }`. */
  deregistrationProtection: ec2Request<Omit<EnableImageDeregistrationProtectionRequest, 'ImageId'>>().nullable(),
  /** The build region's image, then each copy (ami_regions, share targets' regions, copy targets), made in parallel. */
  images: z.array(ReleaseImageSchema).min(1),
  /** Packer's skip_save_build_region: once every copy is available, the build region's image is deregistered. */
  skipSaveBuildRegion: z.boolean(),
});

export type Distribution = z.infer<typeof DistributionSchema>;

export const ExecutionInputSchema = z.object({
  /** Also the execution name; every resource is tagged with it (BUILD_ID_TAG). */
  buildId: z.string().min(1).max(80),
  /** S3 key of the build bundle in the artifacts bucket. */
  bundleKey: z.string().min(1),
  /** S3 key the worker uploads the build log to. */
  logKey: z.string().min(1),
  /** Where the AMI is registered. */
  target: z.object({ region: z.string().min(1), accountId: z.string().regex(/^\d{12}$/, 'not an AWS account id') }),
  /** CreateVolume's parameters except `AvailabilityZone`, which the claiming host's zone gives. */
  createVolume: ec2Request<Omit<CreateVolumeRequest, 'AvailabilityZone'>>(),
  /**
   * The volume pool to look in before creating a volume (contract/volume-pool.ts), or null:
   * set when the factory keeps pools and the volume is restored from a snapshot.
   */
  volumePool: VolumePoolRefSchema.nullable().optional(),
  /** CreateSnapshot's parameters except `VolumeId`. */
  createSnapshot: ec2Request<Omit<CreateSnapshotRequest, 'VolumeId'>>(),
  /** RegisterImage's parameters; the root mapping has no `SnapshotId` yet. */
  registerImage: ec2Request<RegisterImageRequest>(),
  /** The mapping that receives the new snapshot. */
  rootDeviceName: z.string().min(1),
  /** Permissions, product codes, deprecation and protection of the image once it is available. */
  distribution: DistributionSchema,
  /** The image to deregister first (force_deregister), or null. */
  existingImage: ExistingImageSchema.nullable(),
  polling: PollingSchema,
  timeouts: TimeoutsSchema,
  /** Who asked for the build; its resources carry the team (TEAM_TAG). */
  owner: BuildOwnerSchema.nullable().optional(),
  /**
   * The build's secret (the values of its sensitive variables), or null: its name only, never
   * a value. The workflow tags it with the claiming host's instance ARN (`instanceArnPrefix`
   * followed by the instance id) and deletes it once provisioning is over.
   */
  secret: BuildSecretRefSchema.nullable().optional(),
  /**
   * What `GET /builds/{id}/manifest` needs besides the output: the build's name and the
   * template's manifest post-processor options (null: none). Absent in older builds.
   */
  manifest: z
    .object({
      buildName: z.string(),
      customData: z.record(z.string(), z.string()).nullable(),
      stripTime: z.boolean(),
    })
    .optional(),
});

export type ExecutionInput = z.infer<typeof ExecutionInputSchema>;

/**
 * One image of a finished build, per region and account: `available`, `failed` (a copy that
 * could not be made: `error` and `cause` say why, and it was removed) or `deregistered` (the
 * build region's image under skip_save_build_region, once every copy was available).
 */
export const BuiltImageSchema = z.object({
  region: z.string(),
  accountId: z.string(),
  /** Null for a copy that failed before EC2 gave it an id. */
  imageId: z.string().nullable(),
  /** The image's snapshots (the build region's: the root one the build made). */
  snapshotIds: z.array(z.string()),
  state: z.enum(['available', 'failed', 'deregistered']).optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
});

export type BuiltImage = z.infer<typeof BuiltImageSchema>;

/**
 * A successful execution's output: one entry per region and account from the start, so
 * copies and shares add entries, not a new shape.
 */
export const ExecutionOutputSchema = z.object({
  buildId: z.string(),
  amis: z.array(BuiltImageSchema),
});

export type ExecutionOutput = z.infer<typeof ExecutionOutputSchema>;

/** A re-distribution's id, also its execution's name: `<buildId>.d-<time>`, the build that made the image first. */
export const DISTRIBUTION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,60}\.d-[a-z0-9]{1,12}$/;

/**
 * The distribute-image workflow's input: an existing image of the factory and the plan to
 * share and copy it (the build region's sharing with the new targets, then the copies).
 */
export const DistributionInputSchema = z.object({
  /** The distribution id; the workflow's regional calls name their sessions by it. */
  buildId: z.string().regex(DISTRIBUTION_ID, 'not a distribution id'),
  image: z.object({ ImageId: z.string().regex(/^ami-[0-9a-f]+$/, 'not an AMI id') }),
  /** The image's root snapshot: the one shared with share and copy targets. */
  snapshot: z.object({ SnapshotId: z.string().regex(/^snap-[0-9a-f]+$/, 'not a snapshot id') }),
  target: z.object({ region: z.string().min(1), accountId: z.string().regex(/^\d{12}$/, 'not an AWS account id') }),
  distribution: DistributionSchema,
  polling: PollingSchema,
  /** What Build Distributed says of the build that made the image. */
  announced: z.object({ buildId: z.string(), team: z.string().nullable(), amiName: z.string() }),
});

export type DistributionInput = z.infer<typeof DistributionInputSchema>;

/** A distribution's output: every image it named, by region and account, with its state. */
export const DistributionOutputSchema = z.object({
  distributionId: z.string(),
  buildId: z.string(),
  amis: z.array(BuiltImageSchema),
});

export type DistributionOutput = z.infer<typeof DistributionOutputSchema>;
