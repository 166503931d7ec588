/**
 * `npm start`: the main job on this machine. Brings up the local factory, imports the
 * example base image (a busybox root in an ext4 partition) as an AMI, builds the example
 * template through the API with progress shown step by step, prints the AMI id, exports
 * the new AMI's root image and shows what the build put in it, then stops everything it
 * started. `npm start -- --serve` keeps the factory up for more builds
 * (`npx ami-factory build TEMPLATE --wait`), and runs the factory configuration's schedules
 * (factory.yml) on a local clock, printing each decision.
 */
import { execa } from 'execa';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BuildAccepted } from '../contract/api.ts';
import { startLocalFactory } from '../local/factory.ts';
import { withImageMounted } from '../local/image-mount.ts';
import { startScheduleClock } from '../local/schedule-clock.ts';
import { cacheDir, repoRoot } from '../local/paths.ts';
import { bundleTemplateFile } from '../model/bundle.ts';
import { buildPath, FactoryClient } from './api-client.ts';
import { followBuild } from './commands/builds.ts';
import { describeDecision } from './commands/schedules.ts';

const { values } = parseArgs({ options: { serve: { type: 'boolean', default: false }, hosts: { type: 'string', default: '1' } } });
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const outDir = join(cacheDir, 'hello');
await mkdir(outDir, { recursive: true });

say('==> starting the local factory (local AWS, API, chroot host)');
const started = performance.now();
const factory = await startLocalFactory({ apiPort: values.serve ? 8745 : 0, hosts: Number(values.hosts) });
let failed = false;
try {
  say(`    API ${factory.api.endpoint}; local AWS ${factory.moto.endpoint}; ${factory.workers.length} chroot host(s)`);
  say('==> importing the example base image as an AMI');
  const baseImage = join(outDir, 'base.img');
  await execa('bash', [join(repoRoot, 'examples/make-base-image.sh'), baseImage]);
  const base = await factory.store.importImage(baseImage, 'ami-factory-example-base');
  say(`    ${base.imageId} (root snapshot ${base.snapshotId})`);

  say('==> building examples/hello/template.json');
  const api = new FactoryClient(factory.api.endpoint);
  const bundle = await bundleTemplateFile(join(repoRoot, 'examples/hello/template.json'), { env: process.env });
  const { buildId } = await api.request<BuildAccepted>('POST', 'builds', { body: { bundle } });
  say(`    build ${buildId}`);
  const build = await followBuild(api, buildId, 250);
  const ami = build.amis[0];
  if (build.status !== 'SUCCEEDED' || !ami?.imageId) {
    say(`==> the build ${build.status}: ${build.error ?? ''} ${build.cause ?? ''}`);
    say(await api.request<string>('GET', buildPath(buildId, 'log')).catch(() => '(no log)'));
    failed = true;
  } else {
    say(`==> built ${ami.imageId} in ${ami.region} (${ami.accountId})`);
    const exported = join(outDir, `${ami.imageId}.img`);
    await factory.store.exportImage(ami.imageId, exported);
    say(`==> exported its root image to ${exported}; /etc/motd in it:`);
    say(await withImageMounted(exported, (root) => readFile(join(root, 'etc/motd'), 'utf8')));
    say(`    took ${((performance.now() - started) / 1000).toFixed(1)} s in all`);
  }
  if (values.serve) {
    say("==> running factory.yml's schedules on a local clock (the scheduler function, in this process)");
    const clock = await startScheduleClock({
      onDecision: (decision) => {
        say(`==> ${decision.decidedAt} family ${decision.family}: ${describeDecision(decision)}`);
      },
      onError: (family, error) => {
        say(`==> family ${family}: the scheduled run failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    });
    for (const { family, cron, timezone, nextRun } of clock.families) say(`    ${family}: ${cron} (${timezone}), next at ${nextRun?.toISOString() ?? 'never'}`);
    say(`==> serving at ${factory.api.endpoint} until Ctrl-C (npx ami-factory schedules run-now FAMILY runs one now)`);
    try {
      await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
    } finally {
      await clock.stop();
    }
  }
} finally {
  say('==> stopping the local factory');
  await factory.stop();
}
if (failed) process.exitCode = 1;
