/**
 * What the CLI loads to answer: `--help` only commander and the catalog, `validate` of a
 * JSON template neither the HCL2 parser (a WASM grammar) nor the AWS SDK. Each module it
 * loads costs start-up time (bench/cli-startup.ts measures it), so a new import that pulls
 * one of those into these paths fails here rather than quietly slowing every run.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const executable = join(root, 'cli', 'ami-factory.js');

// Records every module Node loads and prints the list on exit (stderr), one URL a line.
const RECORDER = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write(loaded.join('\\n') + '\\n'));
`)}`;

async function modulesLoadedBy(args: string[]): Promise<string[]> {
  const run = await execa(process.execPath, ['--import', RECORDER, executable, ...args], { cwd: root });
  return run.stderr.split('\n').filter((line) => line.startsWith('file:'));
}

const packageOf = (url: string): string => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? '(ours)';

describe('what the CLI loads', () => {
  it('--help: commander and the catalog, nothing else', async () => {
    const loaded = await modulesLoadedBy(['--help']);
    expect(new Set(loaded.map(packageOf))).toEqual(new Set(['commander', '(ours)']));
    expect(loaded.filter((url) => packageOf(url) === '(ours)').map((url) => url.slice(url.lastIndexOf('/cli/')))).toEqual([
      '/cli/ami-factory.js', '/cli/main.ts', '/cli/command-catalog.ts',
    ]);
  });

  it('validate of a JSON template: no HCL2 parser, no AWS SDK', async () => {
    const loaded = await modulesLoadedBy(['validate', join('examples', 'hello', 'template.json')]);
    expect(loaded.filter((url) => url.includes('/model/hcl2/') && !url.endsWith('/model/hcl2/detect.ts'))).toEqual([]);
    const packages = new Set(loaded.map(packageOf));
    for (const heavy of ['web-tree-sitter', '@tree-sitter-grammars/tree-sitter-hcl', 'yaml', '@aws-sdk/client-sfn', '@smithy/core', '@aws-sdk/credential-provider-node']) {
      expect(packages, heavy).not.toContain(heavy);
    }
  });
});
