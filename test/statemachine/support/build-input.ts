/**
 * Execution inputs as the submit function writes them (docs/architecture.md, "Execution
 * input"), for a source image whose root snapshot the test made. Each test starts from a
 * complete input and overrides what it is about; the result is checked against the contract,
 * so a test input cannot be one the submit function could not write.
 */
import type { RegisterImageRequest, Tag } from '@aws-sdk/client-ec2';
import { BUILD_ID_TAG, ExecutionInputSchema, type ExecutionInput } from '../../../contract/execution.ts';
import { newBuildId } from '../../../functions/lib/build-id.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../../support/local-aws.ts';

export const ROOT_DEVICE = '/dev/xvda';

/** Unique per call, made as the submit function makes them (also the execution name). */
export { newBuildId };

export function buildIdTag(buildId: string): Tag {
  return { Key: BUILD_ID_TAG, Value: buildId };
}

export interface InputOptions {
  buildId?: string;
  sourceSnapshotId: string;
  createVolume?: Partial<ExecutionInput['createVolume']>;
  /** Merged over a plain HVM image: no SR-IOV, NitroTPM, UEFI data or IMDS setting. */
  registerImage?: Partial<RegisterImageRequest>;
  existingImage?: ExecutionInput['existingImage'];
  /** Merged over nothing to do: no sharing, product codes, deprecation or protection. */
  distribution?: Partial<ExecutionInput['distribution']>;
  polling?: Partial<ExecutionInput['polling']>;
  timeouts?: Partial<ExecutionInput['timeouts']>;
}

export function buildImageInput(options: InputOptions): ExecutionInput {
  const buildId = options.buildId ?? newBuildId();
  return ExecutionInputSchema.parse({
    buildId,
    bundleKey: `bundles/${buildId}.json`,
    logKey: `logs/${buildId}.log`,
    target: { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID },
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
    distribution: {
      launchPermission: null,
      snapshotPermission: null,
      productCodes: null,
      deprecateAt: null,
      deregistrationProtection: null,
      images: [{ kind: 'build', region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }],
      skipSaveBuildRegion: false,
      ...options.distribution,
    },
    existingImage: options.existingImage ?? null,
    // The local engines' volumes, snapshots and images are ready at once: no poll ever waits.
    polling: { volume: 0, attachment: 0, snapshot: 0, image: 0, maxAttempts: 3, ...options.polling },
    timeouts: { claimSeconds: 15, provisionSeconds: 30, heartbeatSeconds: 10, ...options.timeouts },
  } satisfies ExecutionInput);
}
