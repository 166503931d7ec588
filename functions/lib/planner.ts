/**
 * The planner: a validated build request and its source image in, the workflow's execution
 * input out (docs/architecture.md, "Execution input"). Every EC2 parameter of the build is
 * decided here, where it can be refused with a field path before anything exists, so the
 * workflow only forwards parameters and never interprets the template.
 *
 * Packer's amazon-chroot rules, with the factory's departures noted where they occur:
 * - the volume is created from the source's root snapshot, at max(source size,
 *   root_volume_size); a smaller root_volume_size is a warning, as in Packer;
 * - build data (`{{ .SourceAMI }}`, ...) in ami_description and the tags is rendered here,
 *   from the resolved source image (from_scratch: "", as in Packer);
 * - ami_block_device_mappings replace the source's mappings; the root entry receives the
 *   new snapshot (the workflow adds its SnapshotId) and at least the volume's size;
 * - image attributes come from the template, else from the source image.
 */
import type {
  BlockDeviceMapping as Ec2BlockDeviceMapping,
  EbsBlockDevice,
  Image,
  RegisterImageRequest,
  Tag,
  VolumeType,
} from '@aws-sdk/client-ec2';
import { buildDataFields, DEFAULT_MOUNT_ROOT, renderBuildData, renderHostTemplate, type AmazonChrootConfig, type BlockDeviceMapping, type BuildRequest } from '../../model/index.ts';
import { formatFieldErrors, joinPath, type FieldError } from '../../contract/field-errors.ts';
import { bundleKey, logKey } from '../../contract/bundle.ts';
import {
  BAKE_KEY_TAG,
  BUILD_ID_TAG,
  INSTANCE_ID_TAG,
  TEAM_TAG,
  type BuildOwner,
  type BuildSecretRef,
  type Distribution,
  type ExecutionInput,
  type ExistingImage,
  type Polling,
  type Timeouts,
} from '../../contract/execution.ts';
import { FAMILY_TAG } from '../../contract/factory-config.ts';
import { VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, volumePoolRefFor } from '../../contract/volume-pool.ts';
import type { Target } from '../../contract/targets.ts';
import { ProblemError } from './http.ts';
import { copyOptionsOf, planRelease } from './release-plan.ts';
import { posix } from 'node:path';

export interface PlanOptions {
  buildId: string;
  target: { region: string; accountId: string };
  polling: Polling;
  timeouts: Timeouts;
  /** The image to deregister first (force_deregister), found by the name pre-check. */
  existingImage?: ExistingImage | null;
  /** Where the builder sits in the template, for error paths: "builders[0]", or "" for a lone builder. */
  builderPath?: string;
  /** The hosts' mount root (their `mountRoot`); Packer's by default. */
  mountRoot?: string;
  /** Who asked for the build: every resource it makes is tagged with the team (TEAM_TAG). */
  owner?: BuildOwner | null;
  /** What the build would produce (bake-key.ts): every resource it makes is tagged with it (BAKE_KEY_TAG). */
  bakeKey?: string | null;
  /** The build's secret (its sensitive variables' values), which the workflow hands to the host. */
  secret?: BuildSecretRef | null;
  /** The submit time, which deprecate_at is checked against; now by default. */
  now?: Date;
  /** Where the image goes beyond the build region and account (contract/targets.ts). */
  targets?: readonly Target[];
  /** The factory family the build is for (contract/factory-config.ts): its images carry it (FAMILY_TAG). */
  family?: string | null;
  /** Hears what Packer accepts with a warning (a root_volume_size below the source's). */
  warn?: (path: string, message: string) => void;
  /** Whether the factory keeps volume pools (factory.yml): the build then looks in the pool of its volume's key first. */
  volumePools?: boolean;
}

/** EC2 allows 50 tags per resource. */
const MAX_TAGS = 50;

/** Collects every planning problem, so a requester fixes them in one round, as with the model. */
class Problems {
  readonly list: FieldError[] = [];
  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  at(...keys: (string | number)[]): string {
    return keys.reduce<string>((path, key) => joinPath(path, key), this.base);
  }

  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  warn: (path: string, message: string) => void = () => undefined;

  throwIfAny(): void {
    if (this.list.length > 0) {
      throw new ProblemError(400, 'InvalidBuildPlan', formatFieldErrors(this.list, { separator: '; ' }), this.list);
    }
  }
}

/**
 * The hosts mount every build below their mount root, and refuse a mount_path outside it;
 * checked here too, with a device name such as a host would give, so the requester hears it
 * at submit rather than from a failed build.
 */
function checkMountPath(mountPath: string, mountRoot: string, problems: Problems): void {
  let rendered: string;
  try {
    rendered = posix.resolve(mountRoot, renderHostTemplate(mountPath, { Device: 'xvdf' }));
  } catch (error) {
    problems.add(problems.at('mount_path'), `cannot be rendered: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  if (!rendered.startsWith(`${posix.resolve(mountRoot)}/`)) {
    problems.add(problems.at('mount_path'), `must lie inside the hosts' mount root ${mountRoot} (it renders to ${rendered})`);
  }
}

function rootMapping(mappings: readonly Ec2BlockDeviceMapping[] | undefined, rootDeviceName: string | undefined) {
  return mappings?.find((mapping) => mapping.DeviceName === rootDeviceName);
}

function checkReserved(option: string, tags: Readonly<Record<string, string>>, problems: Problems): void {
  for (const key of Object.keys(tags)) {
    if (key.toLowerCase().startsWith('ami-factory:')) {
      problems.add(problems.at(option, key), 'tag keys starting with "ami-factory:" are reserved for the factory\'s own tags');
    }
  }
}

/**
 * `option` is blamed when there are too many tags; `factoryTags` are the factory's own, and
 * `laterTags` the keys the workflow adds to the resource afterwards.
 */
function tagList(option: string, tags: Readonly<Record<string, string>>, factoryTags: readonly Tag[], problems: Problems, laterTags: readonly string[] = []): Tag[] {
  const entries = Object.entries(tags);
  const allowed = MAX_TAGS - factoryTags.length - laterTags.length;
  if (entries.length > allowed) {
    const names = [...factoryTags.map((tag) => tag.Key ?? ''), ...laterTags].join(' and ');
    problems.add(problems.at(option), `at most ${allowed} tags (got ${entries.length}): EC2 allows ${MAX_TAGS} and the factory adds ${names}`);
  }
  return [...entries.map(([Key, Value]) => ({ Key, Value })), ...factoryTags];
}

/** A template mapping in EC2's shape. */
function fromTemplate(mapping: BlockDeviceMapping): Ec2BlockDeviceMapping {
  if (mapping.no_device === true) return { DeviceName: mapping.device_name, NoDevice: '' };
  if (mapping.virtual_name !== undefined) return { DeviceName: mapping.device_name, VirtualName: mapping.virtual_name };
  const ebs: EbsBlockDevice = {
    // Packer sends false when unset; a user's template must give the image it gave there.
    DeleteOnTermination: mapping.delete_on_termination ?? false,
    Encrypted: mapping.encrypted,
    Iops: mapping.iops,
    KmsKeyId: mapping.kms_key_id,
    SnapshotId: mapping.snapshot_id,
    Throughput: mapping.throughput,
    VolumeSize: mapping.volume_size,
    VolumeType: mapping.volume_type as VolumeType | undefined,
  };
  return { DeviceName: mapping.device_name, Ebs: ebs };
}

/** A source image's mapping, keeping only what RegisterImage accepts. */
function fromSource(mapping: Ec2BlockDeviceMapping): Ec2BlockDeviceMapping {
  const { DeviceName, VirtualName, NoDevice, Ebs } = mapping;
  if (Ebs === undefined) return { DeviceName, VirtualName, NoDevice };
  const { DeleteOnTermination, Encrypted, Iops, SnapshotId, Throughput, VolumeSize, VolumeType: type } = Ebs;
  // Packer copies the source's mapping whole: a VirtualName beside an Ebs block stays.
  return { DeviceName, VirtualName, Ebs: { DeleteOnTermination, Encrypted, Iops, SnapshotId, Throughput, VolumeSize, VolumeType: type } };
}

/**
 * RegisterImage takes no KMS key in a mapping (that is RunInstances' option), and refuses an
 * encryption flag on a snapshot-backed one: the snapshot's own encryption applies.
 */
function registrable(mapping: Ec2BlockDeviceMapping): Ec2BlockDeviceMapping {
  if (mapping.Ebs === undefined) return mapping;
  const ebs = { ...mapping.Ebs };
  delete ebs.KmsKeyId;
  if (ebs.SnapshotId !== undefined) delete ebs.Encrypted;
  return { ...mapping, Ebs: ebs };
}

interface RootVolume {
  size: number;
  type: VolumeType | undefined;
  iops: number | undefined;
  throughput: number | undefined;
  encrypted: boolean | undefined;
  kmsKeyId: string | undefined;
}

function planRootVolume(
  builder: AmazonChrootConfig,
  sourceRoot: EbsBlockDevice | undefined,
  templateRoot: BlockDeviceMapping | undefined,
  problems: Problems,
): RootVolume {
  const sourceSize = sourceRoot?.VolumeSize;
  const requested = builder.root_volume_size;
  // Packer warns and keeps the source's size: a volume made from a snapshot cannot shrink.
  if (sourceSize !== undefined && requested !== undefined && requested < sourceSize) {
    problems.warn(
      problems.at('root_volume_size'),
      `root_volume_size ${requested} GiB is smaller than the source image's root volume: the volume keeps the source's ${sourceSize} GiB`,
    );
  }
  const size = Math.max(sourceSize ?? 0, requested ?? 0);
  if (size === 0) problems.add(problems.at('root_volume_size'), 'root_volume_size is required: the source image does not tell its root volume size');

  const type = builder.root_volume_type ?? sourceRoot?.VolumeType;
  // Provisioned performance carries over only onto a volume of the same type.
  const sameType = type !== undefined && type === sourceRoot?.VolumeType;
  const iops = (type === 'io1' || type === 'io2' || type === 'gp3') && sameType ? sourceRoot.Iops : undefined;
  if ((type === 'io1' || type === 'io2') && iops === undefined) {
    problems.add(
      problems.at('root_volume_type'),
      `root_volume_type ${type} needs provisioned iops, which only a source root volume of type ${type} provides`,
    );
  }
  const throughput = type === 'gp3' && sameType ? sourceRoot.Throughput : undefined;

  // A departure from Packer: encrypt_boot encrypts the build volume itself, so the snapshot
  // and image are encrypted as made, without Packer's slow CopyImage at the end.
  const sourceEncrypted = sourceRoot?.Encrypted === true;
  for (const option of ['encrypt_boot', 'root_volume_encrypt_boot'] as const) {
    if (sourceEncrypted && builder[option] === false) {
      problems.add(problems.at(option), `the source image's root snapshot is encrypted: ${option} cannot be false`);
    }
  }
  // Always a boolean: the workflow's CreateVolume names the parameter (docs/architecture.md).
  const encrypted =
    builder.encrypt_boot === true || builder.root_volume_encrypt_boot === true || templateRoot?.encrypted === true;
  const kmsKeyId =
    (builder.encrypt_boot === true ? builder.kms_key_id : undefined) ?? builder.root_volume_kms_key_id ?? templateRoot?.kms_key_id;
  return { size, type, iops, throughput, encrypted, kmsKeyId };
}

function planMappings(
  builder: AmazonChrootConfig,
  source: Image | null,
  rootDeviceName: string,
  volume: RootVolume,
  problems: Problems,
): Ec2BlockDeviceMapping[] {
  const fromTemplateMappings = builder.ami_block_device_mappings.length > 0;
  builder.ami_block_device_mappings.forEach((mapping, index) => {
    if (mapping.device_name !== rootDeviceName && mapping.kms_key_id !== undefined) {
      problems.add(
        problems.at('ami_block_device_mappings', index, 'kms_key_id'),
        'an image cannot name a KMS key for an additional volume (RegisterImage has no such option): ' +
          'give a snapshot_id encrypted with the key, or set the key when launching instances',
      );
    }
  });
  const mappings = fromTemplateMappings
    ? builder.ami_block_device_mappings.map(fromTemplate)
    : (source?.BlockDeviceMappings ?? []).map(fromSource);
  const planned = mappings.map((mapping) => {
    if (mapping.DeviceName !== rootDeviceName) return registrable(mapping);
    // The workflow puts the new snapshot here (its encryption is the volume's); the
    // source's snapshot must not survive.
    const ebs = { ...mapping.Ebs };
    delete ebs.SnapshotId;
    delete ebs.Encrypted;
    delete ebs.KmsKeyId;
    return { DeviceName: rootDeviceName, Ebs: { ...ebs, VolumeSize: Math.max(ebs.VolumeSize ?? 0, volume.size) } };
  });
  if (!planned.some((mapping) => mapping.DeviceName === rootDeviceName)) planned.unshift({ DeviceName: rootDeviceName, Ebs: { DeleteOnTermination: true, VolumeSize: volume.size } });
  return planned;
}

function planImageAttributes(builder: AmazonChrootConfig, source: Image | null): Omit<RegisterImageRequest, 'Name'> {
  // The workflow's RegisterImage names Architecture, VirtualizationType, EnaSupport and
  // BootMode always (docs/architecture.md): each gets a value, EC2's own default if the
  // template and the source give none.
  const virtualization = builder.ami_virtualization_type ?? source?.VirtualizationType ?? 'hvm';
  const architecture = builder.ami_architecture ?? source?.Architecture ?? 'x86_64';
  return {
    // Always a string (Packer's default is ""): the workflow's RegisterImage names it.
    Description: builder.ami_description,
    Architecture: architecture,
    VirtualizationType: virtualization,
    // A paravirtual image boots the source's kernel; HVM images boot their own.
    KernelId: virtualization === 'paravirtual' ? source?.KernelId : undefined,
    RamdiskId: virtualization === 'paravirtual' ? source?.RamdiskId : undefined,
    // Unlike Packer, unset options inherit the source's: an ENA source image gives an image
    // that still boots on Nitro instances. sriov_support cannot be told apart from "unset
    // false", so only true changes anything.
    EnaSupport: builder.ena_support ?? source?.EnaSupport ?? false,
    SriovNetSupport: builder.sriov_support || source?.SriovNetSupport === 'simple' ? 'simple' : undefined,
    BootMode: builder.boot_mode ?? source?.BootMode ?? (architecture.startsWith('arm64') ? 'uefi' : 'legacy-bios'),
    TpmSupport: builder.tpm_support ?? source?.TpmSupport,
    UefiData: builder.uefi_data,
    ImdsSupport: builder.imds_support ?? source?.ImdsSupport,
  };
}

/** One string with build data rendered; a failure is a problem at `path`, and the text stays. */
function renderWithBuildData(text: string, fields: Readonly<Record<string, string>>, path: string, problems: Problems): string {
  try {
    return renderBuildData(text, fields);
  } catch (error) {
    problems.add(path, `cannot be rendered: ${error instanceof Error ? error.message : String(error)}`);
    return text;
  }
}

/**
 * The builder with Packer's build data (`{{ .SourceAMI }}`, `{{ .BuildRegion }}`, ...) in
 * ami_description and the tags (keys too) rendered: the model kept them for this moment.
 */
function withBuildData(builder: AmazonChrootConfig, fields: Readonly<Record<string, string>>, problems: Problems): AmazonChrootConfig {
  const tags = (option: 'tags' | 'snapshot_tags' | 'root_volume_tags'): Record<string, string> =>
    Object.fromEntries(
      Object.entries(builder[option]).map(([key, value]) => {
        const path = problems.at(option, key);
        const rendered = [renderWithBuildData(key, fields, path, problems), renderWithBuildData(value, fields, path, problems)] as const;
        // The model checked EC2's limits on the template text; these are the rendered tag's.
        if (rendered[0] === '') problems.add(path, 'the tag key renders empty');
        if (rendered[0].length > 128) problems.add(path, `the tag key renders to ${rendered[0].length} characters (EC2 allows 128)`);
        if (rendered[1].length > 256) problems.add(path, `the tag value renders to ${rendered[1].length} characters (EC2 allows 256)`);
        return rendered;
      }),
    );
  const description = renderWithBuildData(builder.ami_description, fields, problems.at('ami_description'), problems);
  // The model checked the template's length; what EC2 sees is the rendered text.
  if (description.length > 255) problems.add(problems.at('ami_description'), `must be at most 255 characters once rendered (got ${description.length})`);
  return {
    ...builder,
    ami_description: description,
    tags: tags('tags'),
    snapshot_tags: tags('snapshot_tags'),
    root_volume_tags: tags('root_volume_tags'),
  };
}

/**
 * `source` is the DescribeImages entry of the resolved source image, or null for
 * from_scratch. Throws a ProblemError (400) listing every problem with its field path.
 */
export function planBuild(request: BuildRequest, source: Image | null, options: PlanOptions): ExecutionInput {
  const { buildId } = options;
  const problems = new Problems(options.builderPath ?? 'builders[0]');
  if (options.warn !== undefined) problems.warn = options.warn;
  const builder = withBuildData(request.builder, buildDataFields(options.target.region, source), problems);

  // The volume must be in the hosts' region to attach to them; copies to other regions are
  // ami_regions' business.
  if (builder.region !== undefined && builder.region !== options.target.region) {
    problems.add(problems.at('region'), `the factory builds in ${options.target.region}; region must be that or unset (got ${builder.region})`);
  }
  checkMountPath(builder.mount_path, options.mountRoot ?? DEFAULT_MOUNT_ROOT, problems);
  const rootDeviceName = builder.root_device_name ?? source?.RootDeviceName;
  if (rootDeviceName === undefined) {
    problems.add(problems.at('root_device_name'), 'root_device_name is required: the source image does not name its root device');
    problems.throwIfAny();
  }
  const root = rootDeviceName as string;
  const sourceRoot = rootMapping(source?.BlockDeviceMappings, source?.RootDeviceName)?.Ebs;
  const templateRoot = builder.ami_block_device_mappings.find((mapping) => mapping.device_name === root);
  const volume = planRootVolume(builder, sourceRoot, templateRoot, problems);
  const mappings = planMappings(builder, source, root, volume, problems);

  checkReserved('tags', builder.tags, problems);
  checkReserved('snapshot_tags', builder.snapshot_tags, problems);
  checkReserved('root_volume_tags', builder.root_volume_tags, problems);
  const owner = options.owner ?? null;
  const bakeKey = options.bakeKey ?? null;
  const factoryTags: Tag[] = [
    { Key: BUILD_ID_TAG, Value: buildId },
    ...(owner === null ? [] : [{ Key: TEAM_TAG, Value: owner.team }]),
    ...(bakeKey === null ? [] : [{ Key: BAKE_KEY_TAG, Value: bakeKey }]),
    ...(options.family == null ? [] : [{ Key: FAMILY_TAG, Value: options.family }]),
  ];
  // The workflow adds the host's instance id; a pooled volume also keeps its pool's tags.
  const volumeTags = tagList('root_volume_tags', builder.root_volume_tags, factoryTags, problems, [INSTANCE_ID_TAG, VOLUME_POOL_TAG, VOLUME_POOL_FAMILY_TAG]);
  // As Packer: the image's tags go on its snapshot too, snapshot_tags added or overriding.
  const snapshotTags = tagList('snapshot_tags', { ...builder.tags, ...builder.snapshot_tags }, factoryTags, problems);
  const imageTags = tagList('tags', builder.tags, factoryTags, problems);
  const buildRegion = planDistribution(builder, mappings, root, options.now ?? new Date(), problems);
  const release = planRelease({
    copies: copyOptionsOf(builder),
    buildId,
    build: options.target,
    targets: options.targets ?? [],
    buildRegion,
    imageTags,
    snapshotTags,
    encryptedWithManagedKey: volume.encrypted === true && volume.kmsKeyId === undefined,
    builderPath: (...keys) => problems.at(...keys),
    add: (path, message) => {
      problems.add(path, message);
    },
  });
  const distribution: Distribution = { ...buildRegion, ...release.buildRegion, images: release.images, skipSaveBuildRegion: release.skipSaveBuildRegion };
  problems.throwIfAny();

  const createVolume = {
    Size: volume.size,
    SnapshotId: sourceRoot?.SnapshotId,
    VolumeType: volume.type,
    Iops: volume.iops,
    Throughput: volume.throughput,
    Encrypted: volume.encrypted,
    KmsKeyId: volume.kmsKeyId,
    TagSpecifications: [{ ResourceType: 'volume' as const, Tags: volumeTags }],
  };

  return {
    buildId,
    bundleKey: bundleKey(buildId),
    logKey: logKey(buildId),
    target: options.target,
    createVolume,
    // Only a volume restored from a snapshot has a pool: a from_scratch volume is empty and made at once.
    volumePool: options.volumePools === true ? volumePoolRefFor(createVolume) : null,
    createSnapshot: {
      Description: `ami-factory ${buildId}: ${builder.ami_name}`,
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: snapshotTags }],
    },
    registerImage: {
      Name: builder.ami_name,
      ...planImageAttributes(builder, source),
      RootDeviceName: root,
      BlockDeviceMappings: mappings,
      TagSpecifications: [{ ResourceType: 'image', Tags: imageTags }],
    },
    rootDeviceName: root,
    distribution,
    existingImage: options.existingImage ?? null,
    polling: pollingFor(builder, options.polling),
    timeouts: options.timeouts,
    owner,
    secret: options.secret ?? null,
  };
}

/** Letters and digits, as AWS Marketplace issues product codes. */
const PRODUCT_CODE = /^[A-Za-z0-9]{1,64}$/;
/** EC2's bounds on DeprecateAt, counted from the submit (the image is made minutes later). */
const MAX_DEPRECATION_YEARS = 10;
const MAX_PUBLIC_DEPRECATION_YEARS = 2;

const unique = (values: readonly string[]): string[] => [...new Set(values)];

function yearsAfter(time: Date, years: number): Date {
  const later = new Date(time);
  later.setUTCFullYear(later.getUTCFullYear() + years);
  return later;
}

/**
 * What the workflow does to the image in the build region once it is available: each entry
 * is an EC2 request without the image or snapshot id, or null when the template asks for
 * nothing. The model checked each value's form (account ids, "all", organization ARNs, RFC
 * 3339 times); here are the rules that need the whole plan.
 */
function planDistribution(
  builder: AmazonChrootConfig,
  mappings: readonly Ec2BlockDeviceMapping[],
  rootDeviceName: string,
  now: Date,
  problems: Problems,
): Omit<Distribution, 'images' | 'skipSaveBuildRegion'> {
  const users = unique(builder.ami_users);
  const groups = unique(builder.ami_groups);
  const organizations = unique(builder.ami_org_arns);
  const units = unique(builder.ami_ou_arns);
  const launchPermissions = [
    ...users.map((UserId) => ({ UserId })),
    ...groups.map((Group) => ({ Group: Group as 'all' })),
    ...organizations.map((OrganizationArn) => ({ OrganizationArn })),
    ...units.map((OrganizationalUnitArn) => ({ OrganizationalUnitArn })),
  ];
  const isPublic = groups.includes('all');

  const productCodes = unique(builder.ami_product_codes);
  productCodes.forEach((code, index) => {
    if (!PRODUCT_CODE.test(code)) problems.add(problems.at('ami_product_codes', index), `"${code}" is not a product code (letters and digits, as AWS Marketplace issues them)`);
  });
  if (productCodes.length > 0 && isPublic) {
    problems.add(problems.at('ami_groups'), 'an image with product codes (ami_product_codes) cannot be made public: EC2 refuses it');
  }

  const snapshotUsers = unique(builder.snapshot_users);
  const snapshotGroups = unique(builder.snapshot_groups);
  if (snapshotUsers.length + snapshotGroups.length > 0) {
    // The factory may change only snapshots it made; Packer would share every snapshot of
    // the image, so sharing fewer without a word would be ignoring part of the option.
    const others = mappings.filter((mapping) => mapping.DeviceName !== rootDeviceName && mapping.Ebs?.SnapshotId !== undefined);
    if (others.length > 0) {
      const listed = others.map((mapping) => `${mapping.Ebs?.SnapshotId ?? ''} (${mapping.DeviceName ?? ''})`).join(', ');
      problems.add(
        problems.at(snapshotUsers.length > 0 ? 'snapshot_users' : 'snapshot_groups'),
        `the image also maps ${listed}, which the build did not make and cannot share: ` +
          'snapshot sharing is applied only to images whose one snapshot is the one the build makes',
      );
    }
  }

  let deprecateAt: string | null = null;
  if (builder.deprecate_at !== undefined) {
    const time = new Date(builder.deprecate_at);
    const years = isPublic ? MAX_PUBLIC_DEPRECATION_YEARS : MAX_DEPRECATION_YEARS;
    if (Number.isNaN(time.getTime())) {
      problems.add(problems.at('deprecate_at'), `"${builder.deprecate_at}" is not a time`);
    } else if (time <= now) {
      problems.add(problems.at('deprecate_at'), `${builder.deprecate_at} is in the past: EC2 deprecates an image only at a future time`);
    } else if (time > yearsAfter(now, years)) {
      problems.add(
        problems.at('deprecate_at'),
        `${builder.deprecate_at} is more than ${years} years away: EC2's limit for ${isPublic ? 'a public image' : 'an image'}`,
      );
    } else {
      deprecateAt = time.toISOString();
    }
  }

  const protection = builder.deregistration_protection;
  return {
    launchPermission: launchPermissions.length === 0 ? null : { Add: launchPermissions },
    snapshotPermission:
      snapshotUsers.length + snapshotGroups.length === 0
        ? null
        : {
            Attribute: 'createVolumePermission',
            OperationType: 'add',
            ...(snapshotUsers.length === 0 ? {} : { UserIds: snapshotUsers }),
            ...(snapshotGroups.length === 0 ? {} : { GroupNames: snapshotGroups }),
          },
    productCodes: productCodes.length === 0 ? null : productCodes,
    deprecateAt,
    deregistrationProtection: protection.enabled ? { WithCooldown: protection.with_cooldown } : null,
  };
}

/** The template's aws_polling (Packer's waiter settings) overrides the factory's pacing. */
function pollingFor(builder: AmazonChrootConfig, polling: Polling): Polling {
  const delay = builder.aws_polling?.delay_seconds;
  const attempts = builder.aws_polling?.max_attempts;
  return {
    volume: delay ?? polling.volume,
    attachment: delay ?? polling.attachment,
    snapshot: delay ?? polling.snapshot,
    image: delay ?? polling.image,
    maxAttempts: attempts ?? polling.maxAttempts,
  };
}
