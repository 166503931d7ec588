/**
 * The whole factory on this machine (local/factory.ts), driven through its real API: each
 * build goes API -> submit handler -> workflow (moto's Step Functions) -> worker daemons on
 * two chroot hosts in different zones -> chroot engine on loop devices over the local EBS
 * store, and back. One factory serves the whole file: its start packages the deployment.
 *
 * Besides the happy paths, builds that end badly must end with a useful error and leave
 * nothing behind: no volume or snapshot tagged with the build id in EC2, and on the hosts
 * no mount, no loop device over a volume file, no undo journal, no claimed slot.
 */
import {
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type Filter,
} from '@aws-sdk/client-ec2';
import { GetExecutionHistoryCommand, ListExecutionsCommand, SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execa, type ResultPromise } from 'execa';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FactoryClient } from '../../cli/api-client.ts';
import { followBuild } from '../../cli/follow.ts';
import type { BuildDetails } from '../../contract/api.ts';
import { launchLocalHost, localWorkerConfig, startLocalFactory, type LocalFactory } from '../../local/factory.ts';
import { withImageMounted } from '../../local/image-mount.ts';
import { localAwsClientConfig } from '../../local/moto-server.ts';
import { repoRoot } from '../../local/paths.ts';
import type { BuildBundle } from '../../contract/bundle.ts';
import { bundleTemplateFile } from '../../model/bundle.ts';
import { isAtOrUnder, mountsAtOrUnder } from '../../worker/chroot/mount-table.ts';
import { recoverHost } from '../../worker/chroot/recovery.ts';
import type { ClaimAnswer, ProvisionAnswer, ProvisionTask } from '../../contract/worker-tasks.ts';
import { listLoopDevices } from '../../worker/devices/loop-device.ts';
import { makeBusyboxImage } from '../support/base-images.ts';
import { describeIfRoot } from '../support/root.ts';
import { runsInBuildSandboxBelow } from '../support/host-state.ts';
import { BUILD_FAILED } from '../../statemachine/asl.ts';

/** How a worker daemon runs in a process of its own: its output read as it comes. */
const DAEMON_OPTIONS = { cwd: repoRoot, reject: false, stdin: 'ignore', all: true, buffer: false } as const;

interface Daemon {
  process: ResultPromise<typeof DAEMON_OPTIONS>;
  output: string[];
}

const BUILD_ID_TAG = 'ami-factory:build-id';
/**
 * A missed heartbeat: Step Functions raises States.HeartbeatTimeout, which the workflow
 * renames AmiFactory.HeartbeatTimeout; moto raises States.Timeout for it.
 */
const HEARTBEAT_TIMEOUT = /^AmiFactory\.(Heartbeat)?Timeout$/;
/** A build's resources disappear within this long of its end (the watcher polls every second). */
const CLEAN_WITHIN_MS = 30_000;

describeIfRoot('local factory: builds through the real API, workflow and workers', () => {
  let dir: string;
  let workDir: string;
  let factory: LocalFactory;
  let api: FactoryClient;
  let sfn: SFNClient;
  let sqs: SQSClient;
  let baseImageName: string;

  beforeAll(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'ami-factory-local-')));
    workDir = join(dir, 'factory');
    factory = await startLocalFactory({ apiPort: 0, hosts: 2, workDir, maxConcurrentBuilds: 2, logLevel: 'error' });
    api = new FactoryClient(factory.api.endpoint);
    sfn = new SFNClient(localAwsClientConfig(factory.moto.endpoint));
    sqs = new SQSClient(localAwsClientConfig(factory.moto.endpoint));
    baseImageName = `local-test-base-${randomUUID().slice(0, 8)}`;
    await factory.store.importImage(await makeBusyboxImage(join(dir, 'images')), baseImageName);
  }, 180_000);

  afterAll(async () => {
    sfn.destroy();
    sqs.destroy();
    await factory.stop();
    // A test that failed half-way may have left a dead worker's build mounted: undo it as
    // the next worker on the host would, and delete nothing while anything is mounted.
    const hostsDir = join(workDir, 'hosts');
    for (const host of await readdir(hostsDir).catch(() => [])) {
      await recoverHost({ stateDir: join(hostsDir, host, 'state'), mountRoot: join(hostsDir, host, 'mnt') });
    }
    if ((await mountsAtOrUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true });
  }, 120_000);

  // ---------------------------------------------------------------------------------------
  // Helpers: templates, the API, the execution history, what is left behind.

  /** Bundles a small template (busybox base, the given provisioners and files) as the CLI does. */
  async function bundleFor(label: string, provisioners: unknown[], files: Record<string, string> = {}): Promise<BuildBundle> {
    const templateDir = join(dir, 'templates', `${label}-${randomUUID().slice(0, 8)}`);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(templateDir, path)), { recursive: true });
      await writeFile(join(templateDir, path), content);
    }
    await mkdir(templateDir, { recursive: true });
    const template = {
      builders: [
        {
          type: 'amazon-chroot',
          ami_name: `local-test-${label}-{{timestamp}}`,
          // No ami_description: Packer's default (""), which the workflow must register as is.
          source_ami_filter: { filters: { name: baseImageName }, owners: ['self'], most_recent: true },
          mount_partition: '1',
          tags: { Purpose: 'local-test', Label: label },
        },
      ],
      provisioners,
    };
    const path = join(templateDir, 'template.json');
    await writeFile(path, JSON.stringify(template, null, 2));
    return bundleTemplateFile(path);
  }

  async function submit(bundle: BuildBundle): Promise<string> {
    const { buildId } = await api.request<{ buildId: string }>('POST', 'builds', { body: { bundle } });
    return buildId;
  }

  /** POST /builds seen from the wire: status and headers matter for idempotent retries. */
  async function post(bundle: BuildBundle, idempotencyKey: string): Promise<{ status: number; replayed: boolean; body: { buildId?: string; error?: string } }> {
    const response = await api.send('POST', 'builds', { headers: { 'idempotency-key': idempotencyKey }, body: { bundle } });
    return {
      status: response.status,
      replayed: response.headers.get('idempotent-replayed') === 'true',
      body: response.body as { buildId?: string; error?: string },
    };
  }

  async function waitForBuild(buildId: string, timeoutMs = 90_000): Promise<BuildDetails> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const build = await api.request<BuildDetails>('GET', `builds/${buildId}`);
      if (build.status !== 'RUNNING') return build;
      if (Date.now() > deadline) throw new Error(`build ${buildId} still RUNNING (${build.currentStep ?? '?'}) after ${timeoutMs} ms`);
      await sleep(200);
    }
  }

  /** Polls `probe` until `done` holds or time runs out; returns the last value for the assertion. */
  async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = CLEAN_WITHIN_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (done(value) || Date.now() > deadline) return value;
      await sleep(250);
    }
  }

  const executionArnOf = (buildId: string): string =>
    `${factory.resources.stateMachineArn.replace(':stateMachine:', ':execution:')}:${buildId}`;

  async function historyEvents(buildId: string): Promise<HistoryEvent[]> {
    const events: HistoryEvent[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new GetExecutionHistoryCommand({ executionArn: executionArnOf(buildId), includeExecutionData: true, maxResults: 1000, nextToken }),
      );
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    return events;
  }

  interface BuildHistory {
    claim: ClaimAnswer | undefined;
    claimedAt: number;
    createVolume: { AvailabilityZone?: string; SnapshotId?: string } | undefined;
    volumeId: string | undefined;
    attach: { VolumeId?: string; InstanceId?: string; Device?: string } | undefined;
    provisionTask: { QueueUrl: string; MessageBody: ProvisionTask } | undefined;
    provisionAnswer: ProvisionAnswer | undefined;
    /** When the workflow first sent the host the release: the device is held until then. */
    releasedAt: number;
  }

  const parse = (text: string | undefined): Record<string, unknown> => {
    try {
      const value: unknown = JSON.parse(text ?? '');
      return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };

  /** What the workflow asked of EC2 and the hosts, and what the hosts answered. */
  async function historyOf(buildId: string): Promise<BuildHistory> {
    const found: BuildHistory = {
      claim: undefined,
      claimedAt: Number.NaN,
      createVolume: undefined,
      volumeId: undefined,
      attach: undefined,
      provisionTask: undefined,
      provisionAnswer: undefined,
      releasedAt: Number.NaN,
    };
    for (const event of await historyEvents(buildId)) {
      const at = event.timestamp?.getTime() ?? Number.NaN;
      const scheduled = event.taskScheduledEventDetails;
      if (scheduled !== undefined) {
        const parameters = parse(scheduled.parameters);
        const body = parameters.MessageBody as { task?: string } | undefined;
        if (scheduled.resource === 'createVolume') found.createVolume = parameters;
        if (scheduled.resource === 'attachVolume') found.attach = parameters;
        if (body?.task === 'provision') found.provisionTask = parameters as unknown as BuildHistory['provisionTask'];
        if (body?.task === 'release' && Number.isNaN(found.releasedAt)) found.releasedAt = at;
      }
      const succeeded = event.taskSucceededEventDetails;
      if (succeeded !== undefined) {
        const output = parse(succeeded.output);
        if (typeof output.instanceId === 'string' && typeof output.hostQueueUrl === 'string') {
          found.claim = output as unknown as ClaimAnswer;
          found.claimedAt = at;
        }
        if (typeof output.timings === 'object') found.provisionAnswer = output as unknown as ProvisionAnswer;
        if (succeeded.resource === 'createVolume' && typeof output.VolumeId === 'string') found.volumeId = output.VolumeId;
      }
    }
    return found;
  }

  const byBuild = (buildId: string): Filter[] => [{ Name: `tag:${BUILD_ID_TAG}`, Values: [buildId] }];

  /** Every volume, snapshot and image EC2 still holds with the build's id tag. */
  async function taggedResources(buildId: string): Promise<{ volumes: string[]; snapshots: string[]; images: string[] }> {
    const volumes = (await factory.ec2.send(new DescribeVolumesCommand({ Filters: byBuild(buildId) }))).Volumes ?? [];
    const snapshots = (await factory.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: byBuild(buildId) }))).Snapshots ?? [];
    const images = (await factory.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: byBuild(buildId) }))).Images ?? [];
    return {
      volumes: volumes.filter((v) => v.State !== 'deleted').map((v) => `${v.VolumeId ?? '?'} (${v.State ?? '?'})`),
      snapshots: snapshots.map((s) => s.SnapshotId ?? '?'),
      images: images.map((i) => i.ImageId ?? '?'),
    };
  }

  const nothing = { volumes: [], snapshots: [], images: [] };
  const isEmpty = (left: Record<string, unknown[]>): boolean => Object.values(left).every((list) => list.length === 0);

  async function expectNothingTaggedLeft(buildId: string): Promise<void> {
    expect(await eventually(() => taggedResources(buildId), isEmpty)).toEqual(nothing);
  }

  /**
   * What the hosts still hold: mounts below their mount roots, loop devices over the local
   * EBS store's files, undo journals, and (for the factory's running workers) claimed or
   * running builds.
   */
  async function hostLeftovers(options: { workers?: boolean } = {}): Promise<Record<string, string[]>> {
    const hostsDir = join(workDir, 'hosts');
    const journals: string[] = [];
    for (const host of await readdir(hostsDir)) {
      for (const journal of await readdir(join(hostsDir, host, 'state', 'runs')).catch(() => [])) journals.push(`${host}/${journal}`);
    }
    const workers = options.workers ?? true;
    return {
      mounts: (await mountsAtOrUnder(hostsDir)).map((m) => m.mountPoint),
      loopDevices: (await listLoopDevices())
        .filter((loop) => isAtOrUnder(loop.backingFile, join(workDir, 'ebs')))
        .map((loop) => `${loop.device} -> ${loop.backingFile}`),
      journals,
      claimedBuilds: workers ? factory.workers.flatMap((w) => w.status.claimedBuilds) : [],
      runningBuilds: workers ? factory.workers.flatMap((w) => w.status.runningBuilds) : [],
    };
  }

  const clean = { mounts: [], loopDevices: [], journals: [], claimedBuilds: [], runningBuilds: [] };

  async function expectHostsClean(options: { workers?: boolean; timeoutMs?: number } = {}): Promise<void> {
    expect(await eventually(() => hostLeftovers(options), isEmpty, options.timeoutMs)).toEqual(clean);
  }

  /** Pids of processes running `argv` in a chroot below `root`, or in the sandbox of a build of a host there. */
  async function processesInChroot(argv: string[], root: string): Promise<number[]> {
    const wanted = `${argv.join('\0')}\0`;
    const pids: number[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')) !== wanted) continue;
        const inChroot = isAtOrUnder(await readlink(`/proc/${entry}/root`), root);
        if (inChroot || (await runsInBuildSandboxBelow(Number(entry), root))) pids.push(Number(entry));
      } catch {
        // The process ended while we looked.
      }
    }
    return pids;
  }

  /** Waits until a provisioner's `argv` runs in a chroot on one of the hosts. */
  async function waitForProvisioner(argv: string[], root = join(workDir, 'hosts'), timeoutMs = 60_000): Promise<void> {
    const found = await eventually(() => processesInChroot(argv, root), (pids) => pids.length > 0, timeoutMs);
    if (found.length === 0) throw new Error(`"${argv.join(' ')}" did not start in a chroot below ${root} within ${timeoutMs} ms`);
  }

  /** Sets TIMEOUTS for the submit handler (read at each call) while `fn` runs. */
  async function withTimeouts<T>(timeouts: Record<string, number>, fn: () => Promise<T>): Promise<T> {
    const before = process.env.TIMEOUTS;
    process.env.TIMEOUTS = JSON.stringify(timeouts);
    try {
      return await fn();
    } finally {
      if (before === undefined) delete process.env.TIMEOUTS;
      else process.env.TIMEOUTS = before;
    }
  }

  // ---------------------------------------------------------------------------------------

  it('starts two hosts in different zones', () => {
    const zones = factory.workers.map((w) => w.identity?.availabilityZone);
    expect(zones).toHaveLength(2);
    expect(new Set(zones).size).toBe(2);
  });

  it('builds an AMI end to end: shell and file provisioners, timeline, log, tagged AMI holding their work', async () => {
    const bundle = await bundleFor(
      'e2e',
      [
        { type: 'shell', inline: ['mkdir -p /etc/ami-factory', 'echo "written by the shell provisioner" > /etc/ami-factory/shell.txt', 'echo "e2e-provisioner-output uid=$(id -u)"'] },
        { type: 'file', source: 'files/motd', destination: '/etc/motd' },
        { type: 'file', content: 'inline content\n', destination: '/etc/ami-factory/content.txt' },
      ],
      { 'files/motd': 'uploaded by the file provisioner\n' },
    );
    const started = performance.now();
    const buildId = await submit(bundle);
    await followBuild(api, buildId, { firstMs: 100, maxMs: 100 });
    const wallMs = performance.now() - started;
    const build = await api.request<BuildDetails>('GET', `builds/${buildId}`);

    expect(build, `${build.error ?? ''} ${build.cause ?? ''}`).toMatchObject({ buildId, status: 'SUCCEEDED', error: null, currentStep: null });
    const steps = build.timeline.map((entry) => entry.step);
    for (const step of ['Claim a host', 'Create volume', 'Attach volume', 'Provision on the host', 'Detach volume', 'Release the device', 'Create snapshot', 'Register image']) {
      expect(steps).toContain(step);
    }
    expect(steps).not.toContain('Clean up');
    expect(build.timeline.every((entry) => entry.exitedAt !== null)).toBe(true);
    expect(build.amis).toHaveLength(1);
    const ami = build.amis[0];
    if (ami?.imageId == null) throw new Error('no AMI');
    expect(ami).toMatchObject({ region: 'us-east-1', accountId: '123456789012' });
    expect(ami.snapshotIds).toHaveLength(1);

    // The AMI and its snapshot carry the build id; the scratch volume is gone.
    const images = (await factory.ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: byBuild(buildId) }))).Images ?? [];
    expect(images.map((image) => image.ImageId)).toEqual([ami.imageId]);
    expect(images[0]?.Tags).toEqual(expect.arrayContaining([{ Key: 'Purpose', Value: 'local-test' }, { Key: BUILD_ID_TAG, Value: buildId }]));
    expect(await taggedResources(buildId)).toEqual({ volumes: [], snapshots: ami.snapshotIds, images: [ami.imageId] });

    const log = await api.request<string>('GET', `builds/${buildId}/log`);
    expect(log).toContain(`==> worker: build ${buildId}`);
    expect(log).toContain('e2e-provisioner-output uid=0');
    expect(log).toMatch(/provisioners\[1\] \(file\)/);

    const exported = join(dir, `${ami.imageId}.img`);
    await factory.store.exportImage(ami.imageId, exported);
    await withImageMounted(exported, async (root) => {
      expect(await readFile(join(root, 'etc/ami-factory/shell.txt'), 'utf8')).toBe('written by the shell provisioner\n');
      expect(await readFile(join(root, 'etc/motd'), 'utf8')).toBe('uploaded by the file provisioner\n');
      expect(await readFile(join(root, 'etc/ami-factory/content.txt'), 'utf8')).toBe('inline content\n');
      // The build's own changes are undone: no policy-rc.d left in the image.
      await expect(readFile(join(root, 'usr/sbin/policy-rc.d'))).rejects.toThrow();
    });
    await rm(exported);
    await expectHostsClean();

    // Where the time goes, for the team's notes.
    const timings = (await historyOf(buildId)).provisionAnswer?.timings ?? {};
    const provisionMs = timings.provision ?? Number.NaN;
    const workerMs = Object.values(timings).reduce((sum, ms) => sum + ms, 0);
    const executionMs = Date.parse(build.stoppedAt ?? '') - Date.parse(build.startedAt ?? '');
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `local build end to end (POST to SUCCEEDED seen): ${s(wallMs)} = provisioners ${s(provisionMs)} + everything else ${s(wallMs - provisionMs)}\n` +
        `  everything else: worker outside the provisioners ${s(workerMs - provisionMs)} (${JSON.stringify(timings)}), ` +
        `workflow/EC2/queues ${s(executionMs - workerMs)}, submit + status polling ${s(wallMs - executionMs)}`,
    );
  });

  it('runs four builds at once across both hosts: each volume in its host\'s zone, no device used twice at once', async () => {
    const labels = ['one', 'two', 'three', 'four'];
    const buildIds = await Promise.all(
      labels.map(async (label) => submit(await bundleFor(`many-${label}`, [{ type: 'shell', inline: [`echo ${label} > /etc/which-build`, 'sleep 3'] }]))),
    );
    const builds = await Promise.all(buildIds.map((id) => waitForBuild(id)));
    for (const build of builds) expect(build.status, `${build.buildId}: ${build.error ?? ''} ${build.cause ?? ''}`).toBe('SUCCEEDED');

    const zoneOf = new Map(factory.workers.map((w) => [w.identity?.instanceId, w.identity?.availabilityZone]));
    const histories = await Promise.all(buildIds.map(historyOf));
    for (const history of histories) {
      const claim = history.claim;
      if (claim === undefined) throw new Error('a build has no claim answer');
      expect(zoneOf.get(claim.instanceId)).toBe(claim.availabilityZone);
      expect(history.createVolume?.AvailabilityZone).toBe(claim.availabilityZone);
      expect(history.attach).toEqual({ VolumeId: history.volumeId, InstanceId: claim.instanceId, Device: claim.deviceName });
      expect(history.provisionTask?.QueueUrl).toBe(claim.hostQueueUrl);
      expect(history.provisionTask?.MessageBody.deviceName).toBe(claim.deviceName);
    }
    const hostsUsed = new Set(histories.map((h) => h.claim?.instanceId));
    expect(hostsUsed.size, 'both hosts provisioned builds').toBe(2);

    // Builds on one host whose device leases overlapped in time held different devices.
    let overlapping = 0;
    for (const [i, a] of histories.entries()) {
      for (const b of histories.slice(i + 1)) {
        if (a.claim?.instanceId !== b.claim?.instanceId) continue;
        if (a.claimedAt < b.releasedAt && b.claimedAt < a.releasedAt) {
          overlapping++;
          expect(a.claim?.deviceName).not.toBe(b.claim?.deviceName);
        }
      }
    }
    expect(overlapping, 'builds overlapped on a host').toBeGreaterThan(0);

    // No cross-talk: each AMI holds its own build's file.
    for (const [index, build] of builds.entries()) {
      const imageId = build.amis[0]?.imageId ?? '';
      const exported = join(dir, `${imageId}.img`);
      await factory.store.exportImage(imageId, exported);
      expect(await withImageMounted(exported, (root) => readFile(join(root, 'etc/which-build'), 'utf8'))).toBe(`${labels[index] ?? ''}\n`);
      await rm(exported);
    }
    await expectHostsClean();
  });

  it('a failing provisioner fails the build naming it and its exit code; nothing is left', async () => {
    const failures = new Map<string, { error: string; cause: string }>();
    const onFinished = (event: { buildId: string; failure: { error: string; cause: string } | undefined }): void => {
      if (event.failure !== undefined) failures.set(event.buildId, event.failure);
    };
    for (const worker of factory.workers) worker.on('build_finished', onFinished);
    let buildId: string;
    let build: BuildDetails;
    try {
      buildId = await submit(await bundleFor('fails', [{ type: 'shell', inline: ['echo about to fail', 'exit 3'] }]));
      build = await waitForBuild(buildId);
    } finally {
      for (const worker of factory.workers) worker.off('build_finished', onFinished);
    }

    expect(build.status).toBe('FAILED');
    expect(build.error).toBe('ProvisionerError');
    // What the worker sent with SendTaskFailure names the provisioner and its exit code.
    const sent = failures.get(buildId);
    expect(sent?.error).toBe('ProvisionerError');
    expect(sent?.cause).toMatch(/provisioners\[0\]/);
    expect(sent?.cause).toMatch(/\b3\b/);
    // moto drops SendTaskFailure's cause (its response handler passes only the error on), so
    // the workflow's placeholder stands in for it here; Step Functions passes it through.
    expect([sent?.cause, 'the failing step gave no cause']).toContain(build.cause);
    expect(build.timeline.map((entry) => entry.step)).toContain(BUILD_FAILED);
    const log = await api.request<string>('GET', `builds/${buildId}/log`);
    expect(log).toContain('about to fail');
    expect(log).toMatch(/provisioners\[0\].*\b3\b/);
    await expectNothingTaggedLeft(buildId);
    await expectHostsClean();
  });

  it('a host whose heartbeats stop coming fails the build with a heartbeat timeout; the build is aborted and nothing is left', async () => {
    // The factory's workers beat every 5 s: a 2 s heartbeat timeout sees them as dead.
    const buildId = await withTimeouts({ heartbeatSeconds: 2 }, async () => submit(await bundleFor('silent', [{ type: 'shell', inline: ['sleep 32'] }])));
    const build = await waitForBuild(buildId);

    expect(build.status).toBe('FAILED');
    expect(build.error).toMatch(HEARTBEAT_TIMEOUT);
    expect(build.cause).toEqual(expect.any(String));
    // The heartbeat, not the provisioning timeout (an hour), ended it.
    expect(Date.parse(build.stoppedAt ?? '') - Date.parse(build.startedAt ?? '')).toBeLessThan(20_000);
    expect(build.timeline.map((entry) => entry.step)).toContain(BUILD_FAILED);
    await expectNothingTaggedLeft(buildId);
    // The release from the clean-up function (run by the factory's watcher, as EventBridge
    // would) aborts the build still running on the host.
    await expectHostsClean();
    expect(await processesInChroot(['sleep', '32'], join(workDir, 'hosts'))).toEqual([]);
  });

  it('a build cancelled mid-provision stops, is cleaned up by the clean-up function, and its host is clean', async () => {
    const buildId = await submit(await bundleFor('cancel', [{ type: 'shell', inline: ['echo started', 'sleep 30'] }]));
    await waitForProvisioner(['sleep', '30']);
    expect((await api.request<BuildDetails>('GET', `builds/${buildId}`)).currentStep).toBe('Provision on the host');

    const cancelledAt = performance.now();
    const response = await api.send('DELETE', `builds/${buildId}`);
    const answer = response.body as { status?: string; message?: string };
    expect(response.status).toBe(202);
    // ABORTING while the stop has not taken effect: moto takes it only when the task waiting
    // for the worker wakes up (its next heartbeat); AWS usually answers ABORTED at once.
    expect(answer).toMatchObject({ buildId });
    expect(['ABORTED', 'ABORTING']).toContain(answer.status);
    const build = await waitForBuild(buildId);
    if (build.status === 'ABORTED') {
      expect(build).toMatchObject({ error: 'Cancelled' });
      expect(build.cause).toContain('cancelled through the API');
    } else {
      // moto: a stopped execution waiting for a task token ends FAILED (States.Timeout)
      // when the waiting task wakes up, without running the workflow's Catch either.
      expect(build).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    }
    // No Catch ran, so the failure path was not entered; the clean-up function (run by the
    // factory's watcher, as EventBridge would) removes the volume and releases the host.
    expect(build.timeline.map((entry) => entry.step)).not.toContain(BUILD_FAILED);
    await expectNothingTaggedLeft(buildId);
    await expectHostsClean();
    expect(await processesInChroot(['sleep', '30'], join(workDir, 'hosts'))).toEqual([]);
    console.log(`cancelled build ended ${build.status} and was cleaned up (EC2 and host) ${((performance.now() - cancelledAt) / 1000).toFixed(1)} s after DELETE`);
    // A second cancel is refused: the build is over.
    await expect(api.request('DELETE', `builds/${buildId}`)).rejects.toMatchObject({ status: 409 });
  });

  it('an EC2 call that fails (the volume was detached behind the workflow\'s back) fails the build with EC2\'s error; nothing is left', async () => {
    const buildId = await submit(await bundleFor('ec2-fails', [{ type: 'shell', inline: ['sleep 4'] }]));
    await waitForProvisioner(['sleep', '4']);
    const volume = (await factory.ec2.send(new DescribeVolumesCommand({ Filters: byBuild(buildId) }))).Volumes?.[0];
    const attachment = volume?.Attachments?.[0];
    expect(attachment?.State).toBe('attached');
    await factory.ec2.send(new DetachVolumeCommand({ VolumeId: volume?.VolumeId, InstanceId: attachment?.InstanceId, Device: attachment?.Device }));
    const build = await waitForBuild(buildId);

    expect(build.status).toBe('FAILED');
    // The workflow's own Detach is refused by EC2 and its error reaches the build
    // (Ec2.Ec2Exception on AWS, ec2.ec2Exception in moto, with EC2's message as the cause).
    expect(build.error).toMatch(/^ec2\.ec2exception$/i);
    expect(build.cause).toContain(volume?.VolumeId ?? '?');
    expect(build.cause).toContain('not attached');
    const steps = build.timeline.map((entry) => entry.step);
    expect(steps[steps.indexOf(BUILD_FAILED) - 1]).toBe('Detach volume');
    await expectNothingTaggedLeft(buildId);
    await expectHostsClean();
  });

  it('an idempotent retry of POST /builds returns the same build and starts one execution; a duplicate provision task is not run again', async () => {
    const bundle = await bundleFor('idempotent', [{ type: 'shell', inline: ['echo once >> /etc/provisioned-times'] }]);
    const key = `local-test-${randomUUID()}`;
    const first = await post(bundle, key);
    const retry = await post(bundle, key);
    expect(first).toMatchObject({ status: 202, replayed: false });
    expect(retry).toMatchObject({ status: 200, replayed: true, body: { buildId: first.body.buildId } });
    // Two retries that race settle on one build too. Another build, so another ami_name: a
    // name is claimed by one build at a time.
    const racingKey = `local-test-${randomUUID()}`;
    const racingBundle = await bundleFor('idempotent-race', [{ type: 'shell', inline: ['echo once >> /etc/provisioned-times'] }]);
    const racing = await Promise.all([post(racingBundle, racingKey), post(racingBundle, racingKey)]);
    // Either may answer 202: StartExecution with the same name and input as a running
    // execution returns that execution (one build, one execution either way).
    for (const answer of racing) expect([200, 202]).toContain(answer.status);
    expect(racing[0].body.buildId).toBeDefined();
    expect(racing[0].body.buildId).toBe(racing[1].body.buildId);
    // The same key with another body is refused.
    const changed = await post(await bundleFor('idempotent-changed', [{ type: 'shell', inline: ['true'] }]), key);
    expect(changed).toMatchObject({ status: 422, body: { error: 'IdempotencyKeyReused' } });

    const buildIds = [first.body.buildId ?? '', racing[0].body.buildId ?? ''];
    const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn: factory.resources.stateMachineArn, maxResults: 1000 }));
    for (const buildId of buildIds) expect(executions.filter((e) => e.name === buildId)).toHaveLength(1);
    const builds = await Promise.all(buildIds.map((id) => waitForBuild(id)));
    expect(builds.map((b) => b.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);

    // The provision task delivered again after the build: answered from the host's ledger.
    const buildId = buildIds[0] ?? '';
    const { provisionTask } = await historyOf(buildId);
    if (provisionTask === undefined) throw new Error('no provision task in the history');
    const repeated: string[] = [];
    const started: string[] = [];
    const onRepeated = (event: { buildId: string; detail: string }): void => {
      if (event.buildId === buildId) repeated.push(event.detail);
    };
    const onStarted = (event: { buildId: string }): void => {
      if (event.buildId === buildId) started.push(event.buildId);
    };
    for (const worker of factory.workers) worker.on('task_repeated', onRepeated).on('build_started', onStarted);
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: provisionTask.QueueUrl, MessageBody: JSON.stringify(provisionTask.MessageBody) }));
      await eventually(() => Promise.resolve(repeated.length), (count) => count > 0, 20_000);
    } finally {
      for (const worker of factory.workers) worker.off('task_repeated', onRepeated).off('build_started', onStarted);
    }
    // Released already, normally; succeeded already if the release were still on its way.
    expect(repeated).toHaveLength(1);
    expect(['the build was released already', 'the build succeeded already']).toContain(repeated[0]);
    expect(started).toEqual([]);
    const ami = builds[0]?.amis[0]?.imageId ?? '';
    const exported = join(dir, `${ami}.img`);
    await factory.store.exportImage(ami, exported);
    expect(await withImageMounted(exported, (root) => readFile(join(root, 'etc/provisioned-times'), 'utf8'))).toBe('once\n');
    await rm(exported);
    await expectHostsClean();
  });

  // Last: it stops the factory's own workers, so that the killed worker is the one that claims.
  it('a worker killed mid-provision: the heartbeat expires, the build fails and is cleaned up; the restarted worker recovers its host', async () => {
    await Promise.all(factory.workers.map((worker) => worker.stop()));
    const availabilityZone = 'us-east-1c';
    const instanceId = await launchLocalHost(factory.ec2, availabilityZone);
    const hostDir = join(workDir, 'hosts', instanceId);
    const configPath = join(dir, 'killed-worker.json');
    await writeFile(
      configPath,
      JSON.stringify({
        ...localWorkerConfig({ endpoint: factory.moto.endpoint, resources: factory.resources, workDir, storeDir: factory.store.dir, instanceId, availabilityZone }),
        heartbeatSeconds: 1,
        // A test that fails with a build still running must not wait half an hour on SIGTERM.
        drainTimeoutSeconds: 5,
        logLevel: 'info',
      }),
    );
    // The daemon as systemd runs it, in a process of its own that can be killed outright.
    const startDaemon = async (): Promise<Daemon> => {
      const output: string[] = [];
      const daemon = execa(process.execPath, [join(repoRoot, 'cli', 'main.ts'), 'worker', '--config', configPath], DAEMON_OPTIONS);
      let exited = false;
      void daemon.then(() => (exited = true));
      daemon.all.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
      const started = '"msg":"worker started"';
      const up = await eventually(() => Promise.resolve(output.join('')), (text) => text.includes(started) || exited, 60_000);
      if (!up.includes(started)) throw new Error(`the worker daemon did not start:\n${up}`);
      return { process: daemon, output };
    };

    let daemon = await startDaemon();
    try {
      // The daemon beats every second; the workflow waits 4 s for a beat.
      const buildId = await withTimeouts({ heartbeatSeconds: 4 }, async () =>
        submit(await bundleFor('killed', [{ type: 'shell', inline: ['echo started', 'sleep 61'] }])),
      );
      await waitForProvisioner(['sleep', '61'], hostDir);
      const killedAt = performance.now();
      daemon.process.kill('SIGKILL');
      await daemon.process;

      const build = await waitForBuild(buildId);
      expect(build.status).toBe('FAILED');
      expect(build.error).toMatch(HEARTBEAT_TIMEOUT);
      expect(build.cause).toEqual(expect.any(String));
      expect((await historyOf(buildId)).claim?.instanceId).toBe(instanceId);
      await expectNothingTaggedLeft(buildId);
      console.log(`killed worker: build FAILED and EC2 cleaned ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`);

      // Nobody was left to unmount: the dead worker's build is still mounted on its host...
      expect((await mountsAtOrUnder(join(hostDir, 'mnt'))).length).toBeGreaterThan(0);
      // ...until the daemon starts again, recovers the host and takes the pending releases.
      daemon = await startDaemon();
      await expectHostsClean({ workers: false });
      expect(await processesInChroot(['sleep', '61'], hostDir)).toEqual([]);
      expect(daemon.output.join('')).toContain(buildId);
    } finally {
      daemon.process.kill('SIGTERM');
      await daemon.process;
    }
    expect((await daemon.process).exitCode, daemon.output.join('')).toBe(0);
    await expectHostsClean({ workers: false });
    const locks = await readdir(join(hostDir, 'state', 'locks')).catch(() => []);
    expect(locks.filter((name) => name.endsWith('.lock'))).toEqual([]);
  });
});
