/**
 * `npm run package:worker`: the chroot hosts' artifact, which `serverless deploy` hosts
 * install from S3 (serverless.yml, the launch template's user data), never from a git
 * checkout. One gzipped tarball, `.cache/worker/ami-factory-worker-<version>.tgz`, and its
 * `.sha256` (sha256sum's format), holding:
 *
 *   bin/node                       Node.js 24 from the `node` package (the one the tests run):
 *                                  hosts need no Node.js of their own, nor a third-party apt
 *                                  repository. Linux x86-64, as this machine: hosts must be x86-64.
 *   lib/worker.mjs                 cli/worker-host.ts and every dependency, one ES module (esbuild)
 *   lib/*.wasm                     the HCL2 parser's WASM files, beside the bundle where it looks
 *   ami-factory-worker.service     the systemd unit (paths below /opt/ami-factory)
 *   VERSION
 *
 * The sandbox's tools are the distribution's packages (bubblewrap, python3-seccomp, nftables,
 * iproute2, util-linux, fdisk): the user data installs them. The seccomp filter is compiled
 * by an inline Python script, so no helper file travels.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, chmod, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { PARSER_WASM_FILES } from '../model/hcl2/parser.ts';

const ROOT = resolve(import.meta.dirname, '..');
export const DEFAULT_OUT_DIR = join(ROOT, '.cache', 'worker');
/** Where the tarball's folder is unpacked on a host (the unit's paths). */
export const HOST_INSTALL_DIR = '/opt/ami-factory';

export interface WorkerArtifact {
  version: string;
  tarball: string;
  sha256: string;
}

/**
 * The local factory's worker is composed from a checkout (cli/worker-daemon.ts loads
 * local/local-worker.ts and local/moto-server.ts only for a config with an endpoint); a host
 * never runs it, so the artifact carries a stub in their place.
 */
const LOCAL_ONLY = 'the worker artifact runs on chroot hosts: the local factory runs `ami-factory worker` from a checkout';
const withoutLocalFactory: Plugin = {
  name: 'without-local-factory',
  setup(context) {
    context.onResolve({ filter: /\/local\/(local-worker|moto-server)\.ts$/ }, () => ({ path: 'local-factory', namespace: 'host-stub' }));
    context.onLoad({ filter: /.*/, namespace: 'host-stub' }, () => ({
      contents: ['createLocalWorker', 'localAwsClientConfig'].map((name) => `export function ${name}() { throw new Error(${JSON.stringify(LOCAL_ONLY)}); }`).join('\n'),
      loader: 'js',
    }));
  },
};

export async function packageWorker(options: { outDir?: string } = {}): Promise<WorkerArtifact> {
  const outDir = options.outDir ?? DEFAULT_OUT_DIR;
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the artifact carries this machine's Node.js binary; package it on linux-x64 (this is ${process.platform}-${process.arch})`);
  }
  const name = `ami-factory-worker-${version}`;
  const stage = join(outDir, `${name}.stage`);
  await rm(stage, { recursive: true, force: true });
  await mkdir(join(stage, 'bin'), { recursive: true });
  await mkdir(join(stage, 'lib'), { recursive: true });

  await build({
    entryPoints: [join(ROOT, 'cli/worker-host.ts')],
    outfile: join(stage, 'lib/worker.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    mainFields: ['module', 'main'],
    // CommonJS dependencies bundled into an ES module still call require().
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    // Readable stack traces in the journal, as the Lambda bundles (serverless.yml custom.esbuild).
    minify: false,
    keepNames: true,
    logLevel: 'warning',
    plugins: [withoutLocalFactory],
  });
  for (const file of PARSER_WASM_FILES) await copyFile(join(ROOT, file), join(stage, 'lib', basename(file)));
  // The `node` package's bin/node is a link into its platform package.
  await copyFile(await realpath(join(ROOT, 'node_modules/node/bin/node')), join(stage, 'bin/node'));
  await chmod(join(stage, 'bin/node'), 0o755);
  await copyFile(join(ROOT, 'worker/daemon/ami-factory-worker.service'), join(stage, 'ami-factory-worker.service'));
  await writeFile(join(stage, 'VERSION'), `${version}\n`);

  const tarball = join(outDir, `${name}.tgz`);
  // Owner, order and times fixed: the same tree gives the same listing on every machine.
  execFileSync(
    'tar',
    ['--create', '--gzip', '--file', tarball, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--directory', stage, '.'],
    { stdio: 'inherit' },
  );
  await rm(stage, { recursive: true, force: true });
  const sha256 = createHash('sha256').update(await readFile(tarball)).digest('hex');
  await writeFile(`${tarball}.sha256`, `${sha256}  ${basename(tarball)}\n`);
  return { version, tarball, sha256 };
}

if (import.meta.main) {
  const artifact = await packageWorker();
  process.stdout.write(`${artifact.tarball}\nsha256 ${artifact.sha256}\n`);
}
