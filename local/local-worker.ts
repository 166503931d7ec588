/**
 * A worker daemon for the local factory: its clients talk to the local AWS, and its volumes
 * come from the local EBS store. The one place that composes a local host's worker, for the
 * local factory, the CLI's `worker` command with a local configuration, and the tests.
 */
import type { Logger } from 'pino';
import { createAwsClients, type AwsClients } from '../worker/daemon/context.ts';
import type { WorkerConfig } from '../worker/daemon/config.ts';
import { ec2VolumeBackend } from '../worker/daemon/volume-backend.ts';
import { Worker } from '../worker/daemon/worker.ts';
import { localVolumeBackend } from './ebs-volume-backend.ts';
import { localAwsClientConfig } from './moto-server.ts';

export function createLocalWorker(config: WorkerConfig, options: { clients?: AwsClients; logger?: Logger } = {}): Worker {
  if (config.endpoint === undefined) throw new Error('a local worker needs the local AWS endpoint in its configuration');
  return new Worker({
    config,
    clients: options.clients ?? createAwsClients(localAwsClientConfig(config.endpoint, config.region)),
    volumeBackend: config.volumes.backend === 'local' ? localVolumeBackend(config.volumes.storeDir) : ec2VolumeBackend,
    logger: options.logger,
  });
}
