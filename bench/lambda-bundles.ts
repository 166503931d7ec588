/**
 * The size of each Lambda function's bundle and what makes it up, by package: where to look
 * when a bundle grows. Bundles as serverless.yml's custom.esbuild does (keep the two in step),
 * without packaging or zipping; the deployed .mjs is the same code.
 *
 *   npm run bench:bundles [-- --top 8] [-- functions/submit-build.ts]
 */
import { build } from 'esbuild';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import plugins from '../scripts/esbuild-plugins.js';

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '6' } }, allowPositionals: true });
const root = join(import.meta.dirname, '..');

async function handlers(): Promise<string[]> {
  const dir = join(root, 'functions');
  const files = (await readdir(dir)).filter((name) => name.endsWith('.ts')).map((name) => join(dir, name));
  const found: string[] = [];
  for (const file of files) if (/^export (const|async function|function) \w*[hH]andler\b/m.test(await readFile(file, 'utf8'))) found.push(file);
  return found.sort();
}

const entries = positionals.length > 0 ? positionals.map((path) => join(root, path)) : await handlers();
for (const entry of entries) {
  const result = await build({
    entryPoints: [entry], bundle: true, platform: 'node', target: 'node24', format: 'esm', mainFields: ['module', 'main'],
    keepNames: true, minifySyntax: true, plugins, metafile: true, write: false, outfile: join(root, '.cache', 'bundle.mjs'),
  });
  const output = Object.values(result.metafile.outputs)[0];
  if (output === undefined) continue;
  const byPackage = new Map<string, number>();
  for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  const top = [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
  const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;
  process.stdout.write(`${relative(root, entry).padEnd(36)} ${kb(output.bytes).padStart(8)}  ${top.map(([name, bytes]) => `${name} ${kb(bytes)}`).join(', ')}\n`);
}
