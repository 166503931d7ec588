/**
 * The chroot host's daemon as a process: loads the config, composes the worker, runs it until
 * SIGTERM/SIGINT or until its Auto Scaling group terminates the host, and drains. Apart from
 * the command catalog, so the worker artifact (cli/worker-host.ts) bundles no other command.
 */
import { pino, type Logger } from 'pino';
import { loadWorkerConfig, WorkerConfigError, type WorkerConfig } from '../worker/daemon/config.ts';
import { createAwsClients } from '../worker/daemon/context.ts';
import { ec2VolumeBackend } from '../worker/daemon/volume-backend.ts';
import { Worker } from '../worker/daemon/worker.ts';

export const DEFAULT_WORKER_CONFIG = '/etc/ami-factory/worker.json';

/**
 * A chroot host's worker talks to AWS with the instance role and provisions attached EBS
 * volumes. A configuration with an endpoint belongs to the local factory, whose parts are
 * loaded only then, so a chroot host never loads them.
 */
async function createWorker(config: WorkerConfig, logger: Logger): Promise<Worker> {
  if (config.endpoint === undefined && config.volumes.backend === 'ec2') {
    return new Worker({ config, logger, clients: createAwsClients({ region: config.region }), volumeBackend: ec2VolumeBackend });
  }
  const { createLocalWorker } = await import('../local/local-worker.ts');
  return createLocalWorker(config, { logger });
}

/** Runs until SIGTERM/SIGINT; the exit code. */
export async function runWorker(configPath: string): Promise<number> {
  let config;
  try {
    config = await loadWorkerConfig(configPath);
  } catch (err) {
    if (!(err instanceof WorkerConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const logger = pino({ level: config.logLevel });
  const worker = await createWorker(config, logger);
  // Listeners stay for the whole run: with none left, a second signal would end the daemon
  // mid-drain, and signal-exit (under the lock files) would re-raise the first one as soon
  // as it saw itself alone.
  let stopping = false;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) logger.warn({ signal }, 'already stopping: running builds are finishing or being cleaned up');
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await worker.start();
  } catch (err) {
    logger.fatal({ err }, 'the worker could not start');
    return 1;
  }
  // A host of the factory's Auto Scaling group also drains when the group terminates it.
  const watch = new AbortController();
  const drained = config.autoScaling === undefined ? undefined : drainOnScaleIn(config, worker, logger, watch.signal);
  // Exit 0 after a drain: systemd must not restart a daemon on a host that is going away.
  const leftGroup = drained?.then((done) => (done ? true : new Promise<never>(() => undefined)));
  const outcome = await Promise.race([signalled, ...(leftGroup === undefined ? [] : [leftGroup])]);
  if (outcome === true) return 0;
  watch.abort();
  logger.info({ signal: outcome }, 'stopping: no new tasks; running builds may finish');
  await worker.stop();
  // A drain for the group already under way still completes its lifecycle action.
  await drained;
  return 0;
}

/** True once drained for the group; false when `signal` ended the watch first. */
async function drainOnScaleIn(config: WorkerConfig, worker: Worker, logger: Logger, signal: AbortSignal): Promise<boolean> {
  const membership = config.autoScaling;
  if (membership === undefined) throw new Error('not a member of an Auto Scaling group');
  const [{ AutoScalingClient }, { drainWhenTerminating }, { protectWhileBusy, ScaleInProtection }] = await Promise.all([
    import('@aws-sdk/client-auto-scaling'),
    import('../worker/daemon/lifecycle.ts'),
    import('../worker/daemon/scale-in-protection.ts'),
  ]);
  // On EC2 the instance role; in the local factory its endpoint and test credentials, as its other clients.
  const settings =
    config.endpoint === undefined ? { region: config.region } : (await import('../local/moto-server.ts')).localAwsClientConfig(config.endpoint, config.region);
  const autoscaling = new AutoScalingClient(settings);
  const imds = config.imdsEndpoint === undefined ? {} : { endpoint: config.imdsEndpoint };
  const instanceId = worker.identity?.instanceId;
  // While it has builds, scale-in picks another host (scale-in-protection.ts).
  const stopProtecting = instanceId === undefined ? () => undefined : protectWhileBusy(worker, new ScaleInProtection({ autoscaling, membership, instanceId, log: logger }));
  try {
    return await drainWhenTerminating({ worker, membership, autoscaling, imds, log: logger, signal, drainTimeoutMs: config.drainTimeoutSeconds * 1000 });
  } finally {
    stopProtecting();
  }
}
