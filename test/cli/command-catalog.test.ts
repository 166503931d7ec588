/**
 * The catalog the CLI starts from (only the asked-for command's module is loaded) names every
 * command the modules define, with their descriptions, so the overall help and each command's
 * own definition cannot drift apart.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/command-catalog.ts';

const main = join(import.meta.dirname, '..', '..', 'cli', 'main.ts');

describe('the command catalog', () => {
  it.each(Object.entries(COMMANDS))('%s is defined by the module the catalog loads, with the catalog\'s description', async (name, entry) => {
    const program = new Command();
    (await entry.load())(program);
    expect(program.commands.find((command) => command.name() === name)?.description()).toBe(entry.description);
  });

  it('lists every command in the overall help, and runs the one asked for', async () => {
    const help = await execa(process.execPath, [main, '--help']);
    for (const name of Object.keys(COMMANDS)) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    const validate = await execa(process.execPath, [main, 'validate', '--help']);
    expect(validate.stdout).toContain('Usage: ami-factory validate');
  });
});
