/**
 * Execution inputs as the submit function writes them (docs/architecture.md, "Execution
 * input"), for a source image whose root snapshot the test made. Each test starts from a
 * complete input and overrides what it is about.
 */
import { newBuildId } from '../../../functions/lib/build-id.ts';

export const BUILD_ID_TAG = 'ami-factory:build-id';
export const REGION = 'us-east-1';
export const ACCOUNT_ID = '123456789012';
export const ROOT_DEVICE = '/dev/xvda';

export interface Tag {
  Key: string;
  Value: string;
}

export interface TagSpecification {
  ResourceType: string;
  Tags: Tag[];
}

export interface BlockDeviceMapping {
  DeviceName: string;
  VirtualName?: string;
  Ebs?: Record<string, unknown>;
}

export interface RegisterImageInput {
  Name: string;
  Description: string;
  Architecture: string;
  VirtualizationType: string;
  RootDeviceName: string;
  BlockDeviceMappings: BlockDeviceMapping[];
  EnaSupport: boolean;
  BootMode: string;
  SriovNetSupport?: string;
  TpmSupport?: string;
  UefiData?: string;
  ImdsSupport?: string;
  TagSpecifications: TagSpecification[];
}

export interface BuildImageInput {
  buildId: string;
  bundleKey: string;
  logKey: string;
  target: { region: string; accountId: string };
  createVolume: {
    SnapshotId: string;
    Size: number;
    VolumeType: string;
    Encrypted: boolean;
    KmsKeyId?: string;
    TagSpecifications: TagSpecification[];
  };
  createSnapshot: { Description: string; TagSpecifications: TagSpecification[] };
  registerImage: RegisterImageInput;
  rootDeviceName: string;
  existingImage: { imageId: string; snapshotIds: string[] } | null;
  polling: { volume: number; attachment: number; snapshot: number; image: number; maxAttempts: number };
  timeouts: { claimSeconds: number; provisionSeconds: number; heartbeatSeconds: number };
}

/** Unique per call, made as the submit function makes them (also the execution name). */
export { newBuildId };

export function buildIdTag(buildId: string): Tag {
  return { Key: BUILD_ID_TAG, Value: buildId };
}

export interface InputOptions {
  buildId?: string;
  sourceSnapshotId: string;
  createVolume?: Partial<BuildImageInput['createVolume']>;
  /** Merged over a plain HVM image: no SR-IOV, NitroTPM, UEFI data or IMDS setting. */
  registerImage?: Partial<RegisterImageInput>;
  existingImage?: BuildImageInput['existingImage'];
  polling?: Partial<BuildImageInput['polling']>;
  timeouts?: Partial<BuildImageInput['timeouts']>;
}

export function buildImageInput(options: InputOptions): BuildImageInput {
  const buildId = options.buildId ?? newBuildId();
  return {
    buildId,
    bundleKey: `bundles/${buildId}.json`,
    logKey: `logs/${buildId}.log`,
    target: { region: REGION, accountId: ACCOUNT_ID },
    createVolume: {
      SnapshotId: options.sourceSnapshotId,
      Size: 12,
      VolumeType: 'gp3',
      Encrypted: false,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [buildIdTag(buildId), { Key: 'team', Value: 'platform' }] }],
      ...options.createVolume,
    },
    createSnapshot: {
      Description: `ami-factory build ${buildId}`,
      TagSpecifications: [{ ResourceType: 'snapshot', Tags: [buildIdTag(buildId), { Key: 'purpose', Value: 'root' }] }],
    },
    registerImage: {
      Name: `base-${buildId}`,
      Description: 'a base image',
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      RootDeviceName: ROOT_DEVICE,
      BlockDeviceMappings: [
        { DeviceName: ROOT_DEVICE, Ebs: { VolumeSize: 12, VolumeType: 'gp3', DeleteOnTermination: true } },
        { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
      ],
      EnaSupport: true,
      BootMode: 'legacy-bios',
      TagSpecifications: [{ ResourceType: 'image', Tags: [buildIdTag(buildId), { Key: 'os', Value: 'debian' }] }],
      ...options.registerImage,
    },
    rootDeviceName: ROOT_DEVICE,
    existingImage: options.existingImage ?? null,
    // Moto's volumes, snapshots and images are ready at once: no poll ever waits.
    polling: { volume: 0, attachment: 0, snapshot: 0, image: 0, maxAttempts: 3, ...options.polling },
    timeouts: { claimSeconds: 15, provisionSeconds: 30, heartbeatSeconds: 10, ...options.timeouts },
  };
}
