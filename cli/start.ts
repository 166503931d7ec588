/**
 * `npm start`: the main job on this machine. Brings up the local factory, imports the
 * example base image (a busybox root in an ext4 partition) as an AMI, runs the example family
 * of factory.yml through the API as its schedule would (the example template, distributed to a
 * second region and shared with a second account), with progress shown step by step and the
 * factory's events as a team's rule receives them, prints every AMI id the release made,
 * exports the new AMI's root image and shows what the build put in it, then stops everything
 * it started. `npm start -- --serve` keeps the factory up for more builds
 * (`npx ami-factory build TEMPLATE --wait`), and runs the factory configuration's schedules
 * (factory.yml) on a local clock, printing each decision and event. `--aws-latency
 * typical|slow|FILE` runs it against the model of EC2's latencies and throttling.
 */
import { execa } from 'execa';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DescribeImageAttributeCommand } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ScheduleDecision } from '../contract/api.ts';
import { describeEvent, tailFactoryEvents } from '../local/event-tail.ts';
import { localAwsClientConfig } from '../local/moto-server.ts';
import { startLocalFactory } from '../local/factory.ts';
import { withImageMounted } from '../local/image-mount.ts';
import { startScheduleClock } from '../local/schedule-clock.ts';
import { cacheDir, repoRoot } from '../local/paths.ts';
import { buildPath, FactoryClient } from './api-client.ts';
import { printImages } from './commands/builds.ts';
import { followBuild } from './follow.ts';
import { describeDecision } from './commands/schedules.ts';

const { values } = parseArgs({
  options: { serve: { type: 'boolean', default: false }, hosts: { type: 'string', default: '1' }, 'aws-latency': { type: 'string' } },
});
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const outDir = join(cacheDir, 'hello');
await mkdir(outDir, { recursive: true });

say('==> starting the local factory (local AWS, API, chroot host)');
const started = performance.now();
const factory = await startLocalFactory({
  apiPort: values.serve ? 8745 : 0,
  hosts: Number(values.hosts),
  ...(values['aws-latency'] === undefined ? {} : { awsLatency: values['aws-latency'] }),
});
let failed = false;
let stopTail = async (): Promise<void> => {};
try {
  say(`    API ${factory.api.endpoint}; local AWS ${factory.moto.endpoint}; ${factory.workers.length} chroot host(s)`);
  // The factory's events, as a team's rule on the bus receives them.
  const eventClient = new EventBridgeClient(localAwsClientConfig(factory.moto.endpoint));
  const tail = await tailFactoryEvents({
    sqs: factory.sqs,
    events: eventClient,
    eventBusName: process.env.EVENT_BUS_NAME ?? 'default',
    onEvent: (event) => {
      say(`    event: ${describeEvent(event)}`);
    },
    onError: (error) => {
      say(`    (the event tail failed: ${String(error)})`);
    },
  });
  stopTail = async () => {
    await tail.stop();
    eventClient.destroy();
  };
  say('==> importing the example base image as an AMI');
  const baseImage = join(outDir, 'base.img');
  await execa('bash', [join(repoRoot, 'examples/make-base-image.sh'), baseImage]);
  const base = await factory.store.importImage(baseImage, 'ami-factory-example-base');
  say(`    ${base.imageId} (root snapshot ${base.snapshotId})`);
  say("==> filling factory.yml's volume pools, as the tender's schedule does");
  const tended = await factory.tendVolumePools();
  for (const pool of tended.families) say(`    ${pool.family}: ${pool.problem ?? `pool ${pool.key ?? '?'} in ${pool.zones.join(', ')}`}`);
  say(`    ${tended.created.length} volume(s) made${tended.created.length > 0 ? `: ${tended.created.join(', ')}` : ''}`);

  say('==> building the example family "hello" of factory.yml (examples/hello/template.json), as its schedule would');
  const api = new FactoryClient(factory.api.endpoint);
  const decision = await api.request<ScheduleDecision>('POST', 'families/hello/runs');
  const { buildId } = decision;
  if (decision.decision !== 'started' || buildId === null) throw new Error(`the family's run did not start a build: ${describeDecision(decision)}`);
  say(`    build ${buildId} (bake key ${decision.bakeKey ?? '?'})`);
  const build = await followBuild(api, buildId, { firstMs: 250, maxMs: 1000 });
  const ami = build.amis[0];
  if (build.status !== 'SUCCEEDED' || !ami?.imageId) {
    say(`==> the build ${build.status}: ${build.error ?? ''} ${build.cause ?? ''}`);
    say(await api.request<string>('GET', buildPath(buildId, 'log')).catch(() => '(no log)'));
    failed = true;
  } else {
    say('==> built, every image of the release (image, region, account, state):');
    printImages(build.amis);
    if (build.amis.some((image) => image.state === 'failed')) failed = true;
    const shared = await factory.ec2.send(new DescribeImageAttributeCommand({ ImageId: ami.imageId, Attribute: 'launchPermission' }));
    const accounts = (shared.LaunchPermissions ?? []).flatMap((permission) => (permission.UserId === undefined ? [] : [permission.UserId]));
    if (accounts.length > 0) say(`    ${ami.imageId} is shared with ${accounts.join(', ')} (launch and create-volume permission)`);
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
      onLifecycle: (report) => {
        const acted = report.images.filter((image) => image.action !== 'keep' && image.action !== 'skip');
        say(`==> ${report.evaluatedAt} family ${report.family}: lifecycle, ${acted.length} of ${report.images.length} image(s) deprecated or deregistered`);
      },
      onError: (family, error) => {
        say(`==> family ${family}: the scheduled run failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    });
    for (const { family, kind, cron, timezone, nextRun } of clock.families) say(`    ${family} ${kind}: ${cron} (${timezone}), next at ${nextRun?.toISOString() ?? 'never'}`);
    say(`==> serving at ${factory.api.endpoint} until Ctrl-C (npx ami-factory schedules run-now FAMILY runs one now)`);
    try {
      await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
    } finally {
      await clock.stop();
    }
  }
} finally {
  say('==> stopping the local factory');
  await stopTail();
  await factory.stop();
}
if (failed) process.exitCode = 1;
