/**
 * How long the CLI takes to answer the commands a person types most: `--help` and `validate`
 * of a JSON template (issue 10: under 300 ms). Each runs N times after one warm-up run (which
 * fills Node's compile cache, as a person's first run does); the median is printed with its
 * ratio to `node -e ""`, the floor every Node program pays on this machine. `npx` adds npm's
 * own start-up, so it is measured too: that is what the README's commands cost.
 *
 *   npm run bench:cli [-- --runs 15]
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
const runs = Number(values.runs);
const root = join(import.meta.dirname, '..');
const template = join('examples', 'hello', 'template.json');

const cases: readonly (readonly [string, string, readonly string[]])[] = [
  ['node -e ""', process.execPath, ['-e', '']],
  ['ami-factory --help', process.execPath, ['cli/ami-factory.js', '--help']],
  ['ami-factory validate', process.execPath, ['cli/ami-factory.js', 'validate', template]],
  ['node cli/main.ts --help', process.execPath, ['cli/main.ts', '--help']],
  ['node cli/main.ts validate', process.execPath, ['cli/main.ts', 'validate', template]],
  ['npx ami-factory --help', 'npx', ['ami-factory', '--help']],
  ['npx ami-factory validate', 'npx', ['ami-factory', 'validate', template]],
];

function timeOnce(command: string, args: readonly string[]): number {
  const start = performance.now();
  const result = spawnSync(command, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${result.stderr.toString()}`);
  return elapsed;
}

const median = (times: number[]): number => {
  const sorted = [...times].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] ?? 0 : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

let baseline = 0;
for (const [label, command, args] of cases) {
  timeOnce(command, args);
  const times = Array.from({ length: runs }, () => timeOnce(command, args));
  const ms = median(times);
  if (baseline === 0) baseline = ms;
  process.stdout.write(`${label.padEnd(28)} ${ms.toFixed(0).padStart(5)} ms  ${(ms / baseline).toFixed(1).padStart(5)}x\n`);
}
