#!/usr/bin/env node
/**
 * The chroot host's program in the worker artifact (`npm run package:worker` bundles this
 * file): only `ami-factory worker`, so a host carries no API, local factory or requester
 * code. `--check` validates the configuration and exits, which the user data runs before it
 * starts the unit, so a bad config fails the boot's log instead of a restart loop.
 */
import { Command } from 'commander';
import { loadWorkerConfig, WorkerConfigError } from '../worker/daemon/config.ts';
import { DEFAULT_WORKER_CONFIG, runWorker } from './worker-daemon.ts';

const program = new Command('ami-factory-worker')
  .description('The chroot host daemon: claims builds from the factory and provisions their EBS volumes')
  .option('--config <file>', 'worker configuration (JSON)', DEFAULT_WORKER_CONFIG)
  .option('--check', 'validate the configuration, print it with its defaults, and exit')
  .action(async (options: { config: string; check?: boolean }) => {
    process.exitCode = options.check === true ? await check(options.config) : await runWorker(options.config);
  });

async function check(path: string): Promise<number> {
  try {
    const config = await loadWorkerConfig(path);
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof WorkerConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
}

await program.parseAsync(process.argv);
