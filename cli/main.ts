#!/usr/bin/env node
/**
 * `ami-factory`: one program for the people who request images and the hosts that build
 * them. Each command lives in its own module under cli/commands/; only the one asked for is
 * loaded (command-catalog.ts), and the overall help lists them all from the catalog.
 */
import { enableCompileCache } from 'node:module';

// Most of a short command's start-up is Node stripping types from our .ts modules and
// compiling them; its compile cache keeps both between runs (ami-factory.js, the installed
// executable, enables it before loading this module; this is for `node cli/main.ts`).
// Enabled before the rest is imported so that the catalog and the command's modules are
// cached too.
enableCompileCache();
const { Command } = await import('commander');
const { COMMANDS, isCommandName } = await import('./command-catalog.ts');

const program = new Command('ami-factory')
  .description('Build EBS-backed AMIs the chroot way: no build instance is launched.')
  .showHelpAfterError()
  .exitOverride((err) => {
    // Usage errors exit 2 like validation errors; --help and --version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

// The program has no options of its own, so the first word that is not an option names the
// command (`help NAME` asks for NAME's help).
const words = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const requested = words[0] === 'help' ? words[1] : words[0];
if (isCommandName(requested)) {
  (await COMMANDS[requested].load())(program);
} else {
  for (const [name, { description }] of Object.entries(COMMANDS)) program.command(name).description(description);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Expected failures (an API's 4xx, a missing file) are one line for a person, not a stack.
  process.stderr.write(`ami-factory: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
