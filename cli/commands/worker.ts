/**
 * `ami-factory worker --config FILE`: the chroot host's daemon, run by systemd
 * (ami-factory-worker.service). SIGTERM or SIGINT stops it gracefully: no new tasks, running
 * builds finish within the drain timeout, then it exits. The process itself is
 * cli/worker-daemon.ts, which the worker artifact bundles without the other commands.
 */
import type { Command } from 'commander';
import { COMMANDS } from '../command-catalog.ts';
import { DEFAULT_WORKER_CONFIG, runWorker } from '../worker-daemon.ts';

export { DEFAULT_WORKER_CONFIG, runWorker } from '../worker-daemon.ts';

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description(COMMANDS.worker.description)
    .option('--config <file>', 'worker configuration (JSON)', DEFAULT_WORKER_CONFIG)
    .action(async (options: { config: string }) => {
      process.exitCode = await runWorker(options.config);
    });
}
