#!/usr/bin/env node
/**
 * `ami-factory`: one program for the people who request images and the hosts that build
 * them. Each command lives in its own module under cli/commands/ and registers itself here.
 */
import { Command } from 'commander';
import { registerValidateCommand } from './commands/validate.ts';
import { registerChrootCommand } from './commands/chroot.ts';
import { registerRecoverCommand } from './commands/recover.ts';
import { registerBuildCommands } from './commands/builds.ts';
import { registerLocalCommands } from './commands/local.ts';
import { registerWorkerCommand } from './commands/worker.ts';

const program = new Command('ami-factory')
  .description('Build EBS-backed AMIs the chroot way: no build instance is launched.')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Usage errors exit 2 like validation errors; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerValidateCommand(program);
registerChrootCommand(program);
registerRecoverCommand(program);
registerBuildCommands(program);
registerLocalCommands(program);
registerWorkerCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Expected failures (an API's 4xx, a missing file) are one line for a person, not a stack.
  process.stderr.write(`ami-factory: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
