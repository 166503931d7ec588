/**
 * The release plan: every image a build ends with, beyond the one it registers in the build
 * region. Packer's ami_regions (copies in the factory's account, each with the template's
 * sharing, tags, deprecation and protection, as Packer applies them in every region) and the
 * factory's targets (contract/targets.ts): a `share` target is a launch permission and a
 * create-volume permission on the image in its region (the build region's, or a copy made
 * there for it); a `copy` target is a CopyImage of the shared build-region image, called in
 * the target account, which then owns an independent AMI with the factory's tags.
 *
 * Pure: the planner (planner.ts) calls it with what it already decided, and it adds its
 * problems with field paths.
 */
import { createHash } from 'node:crypto';
import type { LaunchPermission, Tag } from '@aws-sdk/client-ec2';
import type { AmazonChrootConfig } from '../../model/index.ts';
import type { Distribution, ImageCopy, ReleaseImage } from '../../contract/execution.ts';
import type { Target } from '../../contract/targets.ts';

/** A release may go to this many regions and accounts (the build region's image included). */
export const MAX_RELEASE_IMAGES = 100;

/** Packer's options that shape the copies, or a re-distribution's equivalent of them. */
export interface CopyOptions {
  /** The copies' name and description (ami_name, ami_description). */
  name: string;
  description: string;
  /** ami_regions: copies in the factory's account. */
  regions: readonly string[];
  /** region_kms_key_ids ("" for the region's default key). */
  regionKmsKeyIds: Readonly<Record<string, string>>;
  /** encrypt_boot: every copy encrypted. */
  encrypt: boolean;
  snapshotCopyDurationMinutes?: number;
  skipSaveBuildRegion: boolean;
}

/** A template's copy options. */
export function copyOptionsOf(builder: AmazonChrootConfig): CopyOptions {
  return {
    name: builder.ami_name,
    description: builder.ami_description,
    regions: builder.ami_regions,
    regionKmsKeyIds: builder.region_kms_key_ids,
    encrypt: builder.encrypt_boot === true,
    ...(builder.snapshot_copy_duration_minutes === undefined ? {} : { snapshotCopyDurationMinutes: builder.snapshot_copy_duration_minutes }),
    skipSaveBuildRegion: builder.skip_save_build_region,
  };
}

export interface ReleaseInputs {
  copies: CopyOptions;
  buildId: string;
  /** Where the build registers its image. */
  build: { accountId: string; region: string };
  /** The request's (or family's) targets. */
  targets: readonly Target[];
  /** The build region's distribution, as the planner made it from the template. */
  buildRegion: Omit<Distribution, 'images' | 'skipSaveBuildRegion'>;
  imageTags: Tag[];
  snapshotTags: Tag[];
  /** The build's volume is encrypted with EBS's AWS managed key, which no other account may use. */
  encryptedWithManagedKey: boolean;
  /** Field paths: builder options are under `builder(...)`, targets under `targets[i]`. */
  builderPath: (...keys: (string | number)[]) => string;
  add: (path: string, message: string) => void;
}

export interface Release {
  images: ReleaseImage[];
  skipSaveBuildRegion: boolean;
  /** The build region's sharing with the target accounts added. */
  buildRegion: Pick<Distribution, 'launchPermission' | 'snapshotPermission'>;
}

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

/** Idempotency for CopyImage (at most 64 characters): a repeated call makes no second copy. */
function clientToken(buildId: string, accountId: string, region: string): string {
  return createHash('sha256').update(`${buildId}\u0000${accountId}\u0000${region}`).digest('hex');
}

function withUsers(
  launch: Distribution['launchPermission'],
  snapshot: Distribution['snapshotPermission'],
  accounts: readonly string[],
): Pick<Distribution, 'launchPermission' | 'snapshotPermission'> {
  if (accounts.length === 0) return { launchPermission: launch, snapshotPermission: snapshot };
  const add: LaunchPermission[] = [...(launch?.Add ?? [])];
  for (const UserId of accounts) if (!add.some((entry) => entry.UserId === UserId)) add.push({ UserId });
  const userIds = unique([...(snapshot?.UserIds ?? []), ...accounts]);
  return {
    launchPermission: { Add: add },
    snapshotPermission: { Attribute: 'createVolumePermission', OperationType: 'add', ...snapshot, UserIds: userIds },
  };
}

export function planRelease(inputs: ReleaseInputs): Release {
  const { copies: options, build, buildRegion, add } = inputs;
  const targets = inputs.targets.map((target) => ({ accountId: target.account ?? build.accountId, region: target.region, mode: target.mode }));

  // Who gets what, by region: the factory's own copies, shares on them, and account copies.
  const factoryRegions = new Set(options.regions.filter((region) => region !== build.region));
  const sharesByRegion = new Map<string, string[]>();
  const accountCopies: { accountId: string; region: string; index: number }[] = [];
  targets.forEach((target, index) => {
    if (target.accountId === build.accountId) {
      if (target.region !== build.region) factoryRegions.add(target.region);
      return;
    }
    if (target.mode === 'copy') {
      if (accountCopies.some((copy) => copy.accountId === target.accountId && copy.region === target.region)) {
        add(`targets[${index}]`, `${target.accountId}/${target.region} is named twice`);
      }
      accountCopies.push({ ...target, index });
      return;
    }
    if (target.region !== build.region) factoryRegions.add(target.region);
    sharesByRegion.set(target.region, unique([...(sharesByRegion.get(target.region) ?? []), target.accountId]));
  });

  const otherAccounts = targets.filter((target) => target.accountId !== build.accountId);
  if (inputs.encryptedWithManagedKey && otherAccounts.length > 0) {
    add(
      'targets',
      'the image is encrypted with EBS\'s AWS managed key (encrypt_boot without kms_key_id, or an encrypted source), which no other account can use: ' +
        'set kms_key_id to a customer managed key whose policy lets the target accounts use it',
    );
  }

  const { skipSaveBuildRegion } = options;
  if (skipSaveBuildRegion) {
    if (factoryRegions.size === 0) {
      add(inputs.builderPath('skip_save_build_region'), 'keeps the image only in its copies, but ami_regions names no region other than the build region');
    }
    const sharedHere = sharesByRegion.get(build.region) ?? [];
    if (sharedHere.length > 0) {
      add('targets', `share targets in the build region ${build.region} (${sharedHere.join(', ')}) need the build region's image, which skip_save_build_region removes`);
    }
  }

  // Account copies are CopyImage of the build region's image: it is shared with them first.
  const buildRegionShares = unique([...(sharesByRegion.get(build.region) ?? []), ...accountCopies.map((copy) => copy.accountId)]);
  const sharedBuildRegion = withUsers(buildRegion.launchPermission, buildRegion.snapshotPermission, buildRegionShares);

  const copyRequest = (accountId: string, region: string): ImageCopy['copyImage'] => {
    const key = options.regionKmsKeyIds[region];
    return {
      Name: options.name,
      Description: options.description,
      SourceRegion: build.region,
      ClientToken: clientToken(inputs.buildId, accountId, region),
      // Packer: with encrypt_boot every copy is encrypted, with the region's key if one is named.
      ...(options.encrypt ? { Encrypted: true } : {}),
      ...(options.encrypt && key !== undefined && key !== '' ? { KmsKeyId: key } : {}),
      ...(options.snapshotCopyDurationMinutes === undefined ? {} : { SnapshotCopyCompletionDurationMinutes: options.snapshotCopyDurationMinutes }),
      // Tagged from birth, so a copy is the build's (clean-up, lifecycle, tag-conditioned IAM)
      // even before the workflow's own CreateTags, which engines that ignore these still get.
      TagSpecifications: [
        { ResourceType: 'image', Tags: inputs.imageTags },
        { ResourceType: 'snapshot', Tags: inputs.snapshotTags },
      ],
    };
  };

  const copies: ImageCopy[] = [];
  for (const region of [...factoryRegions].sort()) {
    const shared = withUsers(buildRegion.launchPermission, buildRegion.snapshotPermission, sharesByRegion.get(region) ?? []);
    copies.push({
      kind: 'copy',
      accountId: build.accountId,
      region,
      copyImage: copyRequest(build.accountId, region),
      imageTags: inputs.imageTags,
      snapshotTags: inputs.snapshotTags,
      productCodes: buildRegion.productCodes,
      deprecateAt: buildRegion.deprecateAt,
      ...shared,
      deregistrationProtection: buildRegion.deregistrationProtection,
    });
  }
  for (const copy of accountCopies) {
    copies.push({
      kind: 'copy',
      accountId: copy.accountId,
      region: copy.region,
      copyImage: copyRequest(copy.accountId, copy.region),
      imageTags: inputs.imageTags,
      snapshotTags: inputs.snapshotTags,
      // The target account owns its copy: the template's sharing and product codes are the
      // factory's, not the target's; deprecation and protection belong to the release.
      productCodes: null,
      deprecateAt: buildRegion.deprecateAt,
      launchPermission: null,
      snapshotPermission: null,
      deregistrationProtection: buildRegion.deregistrationProtection,
    });
  }
  if (copies.length + 1 > MAX_RELEASE_IMAGES) {
    add('targets', `the release would have ${copies.length + 1} images; the factory makes at most ${MAX_RELEASE_IMAGES} per build`);
  }
  return {
    images: [{ kind: 'build', accountId: build.accountId, region: build.region }, ...copies],
    skipSaveBuildRegion,
    buildRegion: sharedBuildRegion,
  };
}
