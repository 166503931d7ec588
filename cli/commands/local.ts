/**
 * `ami-factory local import-image | export-image`: moving disk images in and out of a
 * running local factory (`npm start -- --serve`), whose EBS is sparse files on this machine.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { LocalEbsStore } from '../../local/ebs-store.ts';
import { LOCAL_FACTORY_DIR, runningFile } from '../../local/factory.ts';
import { localAwsClientConfig } from '../../local/moto-server.ts';
import { COMMANDS } from '../command-catalog.ts';

async function runningStore(): Promise<LocalEbsStore> {
  let running: { moto: string; storeDir: string };
  try {
    running = JSON.parse(await readFile(runningFile(LOCAL_FACTORY_DIR), 'utf8')) as typeof running;
  } catch {
    throw new Error('no local factory is running: start one with `npm start -- --serve`');
  }
  return new LocalEbsStore(running.storeDir, new EC2Client(localAwsClientConfig(running.moto)));
}

export function registerLocalCommands(program: Command): void {
  const local = program.command('local').description(COMMANDS.local.description);
  local
    .command('import-image')
    .description('register a base AMI whose root snapshot holds a disk image')
    .argument('<disk-image>', 'a disk image, e.g. from examples/make-base-image.sh')
    .requiredOption('--name <name>', 'the AMI name (what source_ami_filter finds)')
    .action(async (diskImage: string, options: { name: string }) => {
      const { imageId, snapshotId } = await (await runningStore()).importImage(resolve(diskImage), options.name);
      process.stdout.write(`${imageId}\t${snapshotId}\n`);
    });
  local
    .command('export-image')
    .description("write an AMI's root image to a file (sparse)")
    .argument('<ami-id>')
    .argument('<out>', 'the file to write')
    .action(async (imageId: string, out: string) => {
      await (await runningStore()).exportImage(imageId, resolve(out));
      process.stdout.write(`${resolve(out)}\n`);
    });
}
