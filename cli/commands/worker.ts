/**
 * `ami-factory worker --config FILE`: the chroot host's daemon, run by systemd
 * (ami-factory-worker.service). SIGTERM or SIGINT stops it gracefully: no new tasks, running
 * builds finish within the drain timeout, then it exits.
 */
import type { Command } from 'commander';
import { pino, type Logger } from 'pino';
import { loadWorkerConfig, WorkerConfigError, type WorkerConfig } from '../../worker/daemon/config.ts';
import { createAwsClients } from '../../worker/daemon/context.ts';
import { ec2VolumeBackend } from '../../worker/daemon/volume-backend.ts';
import { Worker } from '../../worker/daemon/worker.ts';
import { COMMANDS } from '../command-catalog.ts';

export const DEFAULT_WORKER_CONFIG = '/etc/ami-factory/worker.json';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(COMMANDS.worker.description)
    .option('--config <file>', 'worker configuration (JSON)', DEFAULT_WORKER_CONFIG)
    .action(async (options: { config: string }) => {
      process.exitCode = await runWorker(options.config);
    });
}

/**
 * A chroot host's worker talks to AWS with the instance role and provisions attached EBS
 * volumes. A configuration with an endpoint belongs to the local factory, whose parts are
 * loaded only then, so a chroot host never loads them.
 */
async function createWorker(config: WorkerConfig, logger: Logger): Promise<Worker> {
  if (config.endpoint === undefined && config.volumes.backend === 'ec2') {
    return new Worker({ config, logger, clients: createAwsClients({ region: config.region }), volumeBackend: ec2VolumeBackend });
  }
  const { createLocalWorker } = await import('../../local/local-worker.ts');
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
  const signal = await signalled;
  logger.info({ signal }, 'stopping: no new tasks; running builds may finish');
  await worker.stop();
  return 0;
}
