/**
 * What the task handlers share: the host's identity and state, its AWS clients, and the
 * events the worker reports. Handlers get this one object, so each stays a short function
 * of (context, task) in its own module.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { HostConfig } from '../chroot/host-config.ts';
import type { BuildSlots } from './build-slots.ts';
import type { WorkerConfig } from './config.ts';
import type { InstanceIdentity } from './imds.ts';
import type { RunningBuilds } from './running-builds.ts';
import type { TaskLedger } from './task-ledger.ts';
import type { TaskFailure } from '../../contract/task-token.ts';
import type { VolumeBackend } from './volume-backend.ts';

export interface AwsClients {
  sqs: SQSClient;
  sfn: SFNClient;
  s3: S3Client;
  ec2: EC2Client;
}

/**
 * The SDK settings the worker's clients share. On EC2 only the region: the SDK finds the
 * instance role's credentials. The local factory adds its endpoint and test credentials.
 */
export interface AwsClientSettings {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function createAwsClients(settings: AwsClientSettings): AwsClients {
  return {
    sqs: new SQSClient(settings),
    sfn: new SFNClient(settings),
    // A custom endpoint has no per-bucket host names.
    s3: new S3Client({ ...settings, forcePathStyle: settings.endpoint !== undefined }),
    // EC2's request buckets are the account's, shared with every other host and build: a
    // throttled call is retried more than the SDK's default 3 times.
    ec2: new EC2Client({ maxAttempts: 8, ...settings }),
  };
}

/** What the worker reports as it goes, for operators' dashboards and for tests. */
export interface WorkerEvents {
  started: [];
  stopped: [];
  claimed: [{ buildId: string; deviceName: string }];
  released: [{ buildId: string; deviceName: string | undefined }];
  build_started: [{ buildId: string; deviceName: string; volumeId: string }];
  build_finished: [{ buildId: string; deviceName: string; failure: TaskFailure | undefined }];
  /** A task that was already done, or arrived too late, and was answered from the ledger. */
  task_repeated: [{ buildId: string; task: 'claim' | 'provision'; detail: string }];
  /** A message that could not be handled (it returns to its queue) or not even read. */
  task_error: [{ error: unknown; body: string | undefined }];
}

export interface WorkerContext {
  readonly config: WorkerConfig;
  readonly host: HostConfig;
  readonly identity: InstanceIdentity;
  readonly hostQueueUrl: string;
  /** Names this run of the daemon in the ledger: a running build of another run was interrupted. */
  readonly runId: string;
  readonly clients: AwsClients;
  readonly ledger: TaskLedger;
  readonly slots: BuildSlots;
  readonly builds: RunningBuilds;
  readonly backend: VolumeBackend;
  readonly log: Logger;
  readonly events: EventEmitter<WorkerEvents>;
}
