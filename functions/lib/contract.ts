/**
 * What the functions share with the workflow and the worker (docs/architecture.md,
 * Contracts): the execution input, the tags that mark a build's resources, the S3 keys.
 */
import type { CreateSnapshotRequest, CreateVolumeRequest, RegisterImageRequest } from '@aws-sdk/client-ec2';
import type { Polling, Timeouts } from './config.ts';

/** On every volume, snapshot and image a build creates: what clean-up searches by. */
export const BUILD_ID_TAG = 'ami-factory:build-id';
/** On the build volume once a host claimed the build: whose device lease to release. */
export const INSTANCE_ID_TAG = 'ami-factory:instance-id';

export const bundleKey = (buildId: string): string => `bundles/${buildId}.json`;
export const logKey = (buildId: string): string => `logs/${buildId}.log`;

export interface ExistingImage {
  imageId: string;
  /** Snapshots to delete with it: only with force_delete_snapshot. */
  snapshotIds: string[];
}

export interface ExecutionInput {
  buildId: string;
  bundleKey: string;
  logKey: string;
  target: { region: string; accountId: string };
  createVolume: Omit<CreateVolumeRequest, 'AvailabilityZone'>;
  createSnapshot: Omit<CreateSnapshotRequest, 'VolumeId'>;
  registerImage: RegisterImageRequest;
  rootDeviceName: string;
  existingImage: ExistingImage | null;
  polling: Polling;
  timeouts: Timeouts;
}

/** One image of a finished build, per region and account (workflow output). */
export interface BuiltImage {
  region: string;
  accountId: string;
  imageId: string;
  snapshotIds: string[];
}

/** A host's answer to a claim task (SendTaskSuccess output). */
export interface ClaimAnswer {
  instanceId: string;
  availabilityZone: string;
  hostQueueUrl: string;
  deviceName: string;
}

export interface ReleaseTask {
  task: 'release';
  buildId: string;
}
