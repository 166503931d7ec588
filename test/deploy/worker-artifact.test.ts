/**
 * The chroot hosts' artifact (`npm run package:worker`, scripts/package-worker.ts): unpacked
 * as the user data unpacks it, its own Node.js runs the bundled worker, which answers --help
 * and checks a configuration; its checksum file is what sha256sum checks; and it carries
 * neither API nor local factory code.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { packageWorker, type WorkerArtifact } from '../../scripts/package-worker.ts';

let dir: string;
let artifact: WorkerArtifact;
let host: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'worker-artifact-'));
  artifact = await packageWorker({ outDir: join(dir, 'out') });
  host = join(dir, 'opt-ami-factory');
  await mkdir(host);
  await execa('tar', ['--extract', '--gzip', '--file', artifact.tarball, '--directory', host, '--no-same-owner']);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => execa(join(host, 'bin/node'), [join(host, 'lib/worker.mjs'), ...args], { reject: false, all: true, cwd: dir });

it('is named after the version, with a sha256 file sha256sum accepts', async () => {
  expect(basename(artifact.tarball)).toBe(`ami-factory-worker-${artifact.version}.tgz`);
  expect(createHash('sha256').update(await readFile(artifact.tarball)).digest('hex')).toBe(artifact.sha256);
  const checked = await execa('sha256sum', ['--check', '--strict', `${basename(artifact.tarball)}.sha256`], { cwd: join(dir, 'out'), reject: false, all: true });
  expect(checked.exitCode, checked.all).toBe(0);
});

it('holds Node.js 24, the bundle, the parser\'s WASM files and the unit, at the unit\'s paths', async () => {
  const listing = (await execa('tar', ['--list', '--gzip', '--file', artifact.tarball])).stdout.split('\n').map((line) => line.replace(/^\.\//, ''));
  expect(listing).toEqual(
    expect.arrayContaining(['bin/node', 'lib/worker.mjs', 'lib/tree-sitter.wasm', 'lib/tree-sitter-hcl.wasm', 'ami-factory-worker.service', 'VERSION']),
  );
  const version = await execa(join(host, 'bin/node'), ['--version']);
  expect(version.stdout).toMatch(/^v24\./);
  const unit = await readFile(join(host, 'ami-factory-worker.service'), 'utf8');
  expect(unit).toContain('ExecStart=/opt/ami-factory/bin/node /opt/ami-factory/lib/worker.mjs --config /etc/ami-factory/worker.json');
});

it('starts from the unpacked tarball: --help, and --check of a configuration', async () => {
  const help = await run('--help');
  expect(help.exitCode, help.all).toBe(0);
  expect(help.stdout).toContain('--config <file>');

  const good = join(dir, 'worker.json');
  await writeFile(
    good,
    JSON.stringify({
      region: 'eu-west-1',
      claimsQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-prod-claims',
      hostQueuePrefix: 'ami-factory-prod',
      artifactsBucket: 'ami-factory-artifacts',
      maxConcurrentBuilds: 2,
      drainTimeoutSeconds: 1800,
      autoScaling: { groupName: 'ami-factory-prod-workers', lifecycleHookName: 'ami-factory-prod-drain' },
    }),
  );
  const checked = await run('--check', '--config', good);
  expect(checked.exitCode, checked.all).toBe(0);
  expect(JSON.parse(checked.stdout)).toMatchObject({ identity: 'imds', autoScaling: { pollSeconds: 5 }, volumes: { backend: 'ec2' } });

  const bad = join(dir, 'bad.json');
  await writeFile(bad, JSON.stringify({ region: 'eu-west-1', hostQueuePrefix: 'has spaces' }));
  const refused = await run('--check', '--config', bad);
  expect(refused.exitCode).toBe(2);
  expect(refused.stderr).toMatch(/claimsQueueUrl/);
});

it('carries no API, local factory or requester code', async () => {
  const bundle = await readFile(join(host, 'lib/worker.mjs'), 'utf8');
  // esbuild marks each bundled module with a comment naming its path.
  const modules = Array.from(bundle.matchAll(/^\/\/ (\S+\.ts)$/gm), (match) => match[1] ?? '');
  expect(modules.length).toBeGreaterThan(20);
  expect(modules.filter((path) => /^(functions|local|statemachine)\//.test(path) || /^cli\/commands\/(?!worker\.ts)/.test(path))).toEqual([]);
  expect(modules).toContain('worker/daemon/lifecycle.ts');
});
