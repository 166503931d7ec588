/**
 * The lifecycle against the local AWS: a family's images in two regions of the factory's
 * account and in a target account (reached through the target-account role, as in AWS), with
 * decoys it must not touch. The dry run's list is checked, then a real run must do exactly
 * what the dry run said, as DescribeImages and DescribeSnapshots show in every place.
 *
 * The images are made directly (RegisterImage, CreateSnapshot, CreateTags), tagged as builds
 * tag them, and each with a root snapshot named by its root-snapshot tag, as the local factory
 * makes them (the local AWS registers every image with a snapshot of its own, untagged).
 * EnableImageDeprecation is not implemented there: deprecations are reported failed, each
 * with the error the local AWS answers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  RegisterImageCommand,
  RunInstancesCommand,
  type EC2Client,
  type Image,
  type Tag,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { FactoryClient } from '../../cli/api-client.ts';
import { BAKE_KEY_TAG, BUILD_ID_TAG, ROOT_SNAPSHOT_TAG, TEAM_TAG } from '../../contract/execution.ts';
import { DEFAULT_KEEP_TAG, FAMILY_TAG, LifecycleSchema } from '../../contract/factory-config.ts';
import { LifecycleReportSchema, type LifecycleImage, type LifecycleReport } from '../../contract/lifecycle.ts';
import { newBuildId } from '../../functions/lib/build-id.ts';
import { runLifecycle } from '../../functions/lib/lifecycle-run.ts';
import { ec2For } from '../../functions/lib/target-clients.ts';
import { scheduledHandler } from '../../functions/lifecycle.ts';
import { startApiServer, type LocalApi } from '../../local/api-server.ts';
import { LOCAL_CREDENTIALS } from '../../local/moto-server.ts';
import { ACCOUNT_ID, CALLER, OTHER_TEAM_CALLER, startLocalAws, type LocalAws } from './support.ts';
import type { Context } from 'aws-lambda';

const CLI = join(import.meta.dirname, '..', '..', 'cli', 'main.ts');
const TARGET_ACCOUNT = '222222222222';
const BUILD_REGION = 'us-east-1';
const COPY_REGION = 'us-west-2';
const FAMILY = 'web';
const TEAM = 'images';

const targets = [{ region: COPY_REGION, mode: 'share' as const }, { account: TARGET_ACCOUNT, region: BUILD_REGION, mode: 'copy' as const }];
const lifecycle = LifecycleSchema.parse({ keep_newest: 2, deregister_after_days: 1 });
const FACTORY_YML = `
families:
  ${FAMILY}:
    template: ${FAMILY}/template.json
    team: ${TEAM}
    targets:
      - region: ${COPY_REGION}
      - { account: "${TARGET_ACCOUNT}", region: ${BUILD_REGION}, mode: copy }
    lifecycle: { keep_newest: 2, deregister_after_days: 1 }
  bare:
    template: bare/template.json
    team: ${TEAM}
`;

interface Place {
  accountId: string;
  region: string;
}

const FACTORY_EAST: Place = { accountId: ACCOUNT_ID, region: BUILD_REGION };
const FACTORY_WEST: Place = { accountId: ACCOUNT_ID, region: COPY_REGION };
const TARGET_EAST: Place = { accountId: TARGET_ACCOUNT, region: BUILD_REGION };
const PLACES = [FACTORY_EAST, FACTORY_WEST, TARGET_EAST];
const label = (place: Place): string => `${place.accountId}/${place.region}`;

let aws: LocalAws;
let configDir: string;
const clients = new Map<string, EC2Client>();
/** Every image made, by a name for the test. */
const made = new Map<string, { place: Place; imageId: string; rootSnapshotId: string | null }>();
/** The newest creation date of the images of builds 1 and 2 (ms): the rules run a day after it. */
let secondBuildMadeAt = 0;

async function ec2(place: Place): Promise<EC2Client> {
  let client = clients.get(label(place));
  if (client === undefined) {
    client = await ec2For({ factoryAccountId: ACCOUNT_ID, partition: 'aws', sessionName: 'lifecycle-test' }, place);
    clients.set(label(place), client);
  }
  return client;
}

/** An image in `place` tagged with `tags`, with a root snapshot made as a build makes one (tagged alike) unless `rootSnapshot` is false. */
async function image(key: string, place: Place, tags: Tag[], options: { rootSnapshot?: boolean } = {}): Promise<string> {
  const client = await ec2(place);
  let rootSnapshotId: string | null = null;
  if (options.rootSnapshot !== false) {
    const volume = await client.send(new CreateVolumeCommand({ AvailabilityZone: `${place.region}a`, Size: 1 }));
    const snapshot = await client.send(
      new CreateSnapshotCommand({ VolumeId: volume.VolumeId, TagSpecifications: [{ ResourceType: 'snapshot', Tags: tags }] }),
    );
    rootSnapshotId = snapshot.SnapshotId ?? null;
  }
  const { ImageId: imageId } = await client.send(new RegisterImageCommand({ Name: `${key}-${Date.now()}`, RootDeviceName: '/dev/xvda' }));
  if (imageId === undefined) throw new Error(`RegisterImage ${key} returned no id`);
  const imageTags = [...tags, ...(rootSnapshotId === null ? [] : [{ Key: ROOT_SNAPSHOT_TAG, Value: rootSnapshotId }])];
  if (imageTags.length > 0) await client.send(new CreateTagsCommand({ Resources: [imageId], Tags: imageTags }));
  made.set(key, { place, imageId, rootSnapshotId });
  return imageId;
}

const buildTags = (buildId: string, family = FAMILY): Tag[] => [
  { Key: BUILD_ID_TAG, Value: buildId },
  { Key: TEAM_TAG, Value: TEAM },
  { Key: BAKE_KEY_TAG, Value: `bk-${buildId}` },
  { Key: FAMILY_TAG, Value: family },
];

/** A build of the family: its image in each place given (the build region's first, then its copies). */
async function build(n: number, places: Place[]): Promise<void> {
  const buildId = newBuildId();
  for (const place of places) await image(`b${n}@${label(place)}`, place, buildTags(buildId));
}

const id = (key: string): string => {
  const found = made.get(key);
  if (found === undefined) throw new Error(`no image ${key}`);
  return found.imageId;
};

async function imagesIn(place: Place): Promise<string[]> {
  const { Images = [] } = await (await ec2(place)).send(new DescribeImagesCommand({ Owners: ['self'] }));
  return Images.map((found) => found.ImageId ?? '').sort();
}

async function snapshotsIn(place: Place): Promise<string[]> {
  const { Snapshots = [] } = await (await ec2(place)).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return Snapshots.map((found) => found.SnapshotId ?? '').sort();
}

async function describeImage(entry: Place & { imageId: string }): Promise<Image> {
  const { Images = [] } = await (await ec2(entry)).send(new DescribeImagesCommand({ ImageIds: [entry.imageId] }));
  const found = Images[0];
  if (found === undefined) throw new Error(`${entry.imageId} is not in ${label(entry)}`);
  return found;
}

async function everything(): Promise<Record<string, { images: string[]; snapshots: string[] }>> {
  const entries = await Promise.all(PLACES.map(async (place) => [label(place), { images: await imagesIn(place), snapshots: await snapshotsIn(place) }] as const));
  return Object.fromEntries(entries);
}

const factory = { accountId: ACCOUNT_ID, region: BUILD_REGION, partition: 'aws' };
const run = (dryRun: boolean): Promise<LifecycleReport> =>
  runLifecycle({ family: FAMILY, config: { targets, lifecycle }, dryRun, factory, now: new Date(secondBuildMadeAt + 86_400_000 + 500) });

const byImage = (report: LifecycleReport): Map<string, LifecycleImage> => new Map(report.images.map((entry) => [entry.imageId, entry]));

beforeAll(async () => {
  aws = await startLocalAws();
  configDir = await mkdtemp(join(tmpdir(), 'ami-factory-lifecycle-'));
  await writeFile(join(configDir, 'factory.yml'), FACTORY_YML);
  process.env.FACTORY_CONFIG = join(configDir, 'factory.yml');

  // Decoys, older than everything: an untagged image, another family's, one with the family
  // tag that no build made.
  await image('untagged', FACTORY_EAST, [], { rootSnapshot: false });
  await image('other-family', FACTORY_WEST, buildTags(newBuildId(), 'api'));
  await image('hand-tagged', TARGET_EAST, [{ Key: FAMILY_TAG, Value: FAMILY }], { rootSnapshot: false });
  // Five builds, each in its own second (the local AWS dates images to the second).
  const schedule: Place[][] = [PLACES, PLACES, [FACTORY_EAST, FACTORY_WEST], PLACES, [FACTORY_EAST, TARGET_EAST]];
  for (const [index, places] of schedule.entries()) {
    await build(index + 1, places);
    await sleep(1_100);
  }
  secondBuildMadeAt = Math.max(...(await Promise.all(PLACES.map(async (place) => {
    const { Images = [] } = await (await ec2(place)).send(new DescribeImagesCommand({ ImageIds: [id(`b2@${label(place)}`)] }));
    return Date.parse(Images[0]?.CreationDate ?? '');
  }))));
  // Build 2's copy in the copy region is tagged to keep, and an instance runs its target account's copy.
  await (await ec2(FACTORY_WEST)).send(new CreateTagsCommand({ Resources: [id(`b2@${label(FACTORY_WEST)}`)], Tags: [{ Key: DEFAULT_KEEP_TAG, Value: 'audit' }] }));
  await (await ec2(TARGET_EAST)).send(new RunInstancesCommand({ ImageId: id(`b2@${label(TARGET_EAST)}`), MinCount: 1, MaxCount: 1 }));
}, 120_000);

afterAll(async () => {
  for (const client of clients.values()) client.destroy();
  delete process.env.FACTORY_CONFIG;
  await rm(configDir, { recursive: true, force: true });
  await aws.stop();
});

describe('the lifecycle of a family', () => {
  let dryRun: LifecycleReport;

  it('lists in a dry run what it would do to each of the family\'s images, and nothing else', async () => {
    const before = await everything();

    dryRun = LifecycleReportSchema.parse(await run(true));

    expect(await everything()).toEqual(before);
    expect(dryRun.locations).toEqual(PLACES.map((place) => ({ ...place, images: expect.any(Number) as number, error: null })));
    const at = (build: number, place: Place) => id(`b${build}@${label(place)}`);
    expect(dryRun.images.map((entry) => [entry.imageId, entry.action, entry.reason])).toEqual([
      [at(5, FACTORY_EAST), 'keep', 'newest 2 (#1)'],
      [at(5, TARGET_EAST), 'keep', 'newest 2 (#1)'],
      [at(4, FACTORY_EAST), 'keep', 'newest 2 (#2)'],
      [at(4, FACTORY_WEST), 'keep', 'newest 2 (#2)'],
      [at(4, TARGET_EAST), 'keep', 'newest 2 (#2)'],
      [at(3, FACTORY_EAST), 'deprecate', expect.stringMatching(/^older than the newest 2; deregistered after \d{4}-\d\d-\d\d$/)],
      [at(3, FACTORY_WEST), 'deprecate', expect.stringMatching(/^older than the newest 2; /)],
      [at(2, FACTORY_EAST), 'deregister', 'older than the newest 2 and 1 days old (deregister_after_days 1)'],
      [at(2, FACTORY_WEST), 'skip', `tagged ${DEFAULT_KEEP_TAG} (would deregister)`],
      [at(2, TARGET_EAST), 'skip', 'in use by 1 instance (would deregister)'],
      [at(1, FACTORY_EAST), 'deregister', expect.stringMatching(/^older than the newest 2 and 1 days old/)],
      [at(1, FACTORY_WEST), 'deregister', expect.stringMatching(/^older than the newest 2 and 1 days old/)],
      [at(1, TARGET_EAST), 'deregister', expect.stringMatching(/^older than the newest 2 and 1 days old/)],
      [id('hand-tagged'), 'skip', `not made by the factory (no ${BUILD_ID_TAG} tag)`],
    ]);
    for (const entry of dryRun.images) expect(entry.outcome, entry.imageId).toBe(entry.action === 'deprecate' || entry.action === 'deregister' ? 'planned' : 'none');
    // A deregistration deletes the snapshot its build made, never the local AWS's own one.
    const deregistered = dryRun.images.filter((entry) => entry.action === 'deregister');
    for (const entry of deregistered) {
      const root = [...made.values()].find((image) => image.imageId === entry.imageId)?.rootSnapshotId;
      expect(entry.deleteSnapshots, entry.imageId).toEqual([root]);
      expect(entry.leftSnapshots, entry.imageId).toEqual([{ snapshotId: expect.stringMatching(/^snap-/) as string, reason: `not made by the factory (no ${BUILD_ID_TAG} tag)` }]);
    }
    expect(dryRun.images.map((entry) => entry.imageId)).not.toContain(id('untagged'));
    expect(dryRun.images.map((entry) => entry.imageId)).not.toContain(id('other-family'));
  });

  it('answers the dry run through the API and the CLI to the family\'s team, and as not found to another team', async () => {
    const keys = new Map([
      // The CLI signs for the local factory with the local credentials.
      [LOCAL_CREDENTIALS.accessKeyId, { secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey, principalArn: CALLER }],
      ['AKIALIFECYCLEIMAGES', { secretAccessKey: 'images-secret', principalArn: CALLER }],
      ['AKIALIFECYCLEWEB', { secretAccessKey: 'web-secret', principalArn: OTHER_TEAM_CALLER }],
    ]);
    const api: LocalApi = await startApiServer(0, { callers: keys });
    try {
      const team = new FactoryClient(api.endpoint, { credentials: { accessKeyId: 'AKIALIFECYCLEIMAGES', secretAccessKey: 'images-secret' } });
      const other = new FactoryClient(api.endpoint, { credentials: { accessKeyId: 'AKIALIFECYCLEWEB', secretAccessKey: 'web-secret' } });
      const before = await everything();

      const answer = await team.send('POST', `families/${FAMILY}/lifecycle`, { body: { dryRun: true } });

      expect(answer.status).toBe(200);
      const report = LifecycleReportSchema.parse(answer.body);
      expect(report).toMatchObject({ family: FAMILY, dryRun: true, settings: { keepNewest: 2, deregisterAfterDays: 1, keepTag: DEFAULT_KEEP_TAG, skipInUse: true } });
      // Now, not a day later: nothing is old enough to deregister yet.
      expect(new Set(report.images.map((entry) => entry.action))).toEqual(new Set(['keep', 'deprecate', 'skip']));
      expect(report.images.map((entry) => entry.imageId)).toEqual(dryRun.images.map((entry) => entry.imageId));
      expect(await everything()).toEqual(before);

      const cli = await execa(process.execPath, [CLI, 'lifecycle', FAMILY, '--dry-run', '--endpoint', api.endpoint], { reject: false });
      expect(cli.exitCode, cli.stderr).toBe(0);
      const lines = cli.stdout.split('\n');
      expect(lines[0]).toBe(`family ${FAMILY}: newest 2 kept, older ones deprecated and deregistered after 1 days; ${DEFAULT_KEEP_TAG} keeps an image, as do instances using it`);
      expect(lines[2]).toMatch(/^TARGET +IMAGE +NAME +CREATED +ACTION +REASON +OUTCOME$/);
      expect(lines.filter((line) => line.includes(` ${id(`b3@${label(FACTORY_EAST)}`)} `))).toEqual([expect.stringMatching(/^123456789012\/us-east-1 .* deprecate +older than the newest 2; .* planned$/)]);
      expect(lines.at(-1)).toBe('dry run: nothing was changed');

      expect(await other.send('POST', `families/${FAMILY}/lifecycle`, { body: { dryRun: true } })).toMatchObject({ status: 404, body: { error: 'FamilyNotFound' } });
      expect(await team.send('POST', 'families/nothing/lifecycle', { body: { dryRun: true } })).toMatchObject({ status: 404, body: { error: 'FamilyNotFound' } });
      expect(await team.send('POST', 'families/bare/lifecycle', { body: { dryRun: true } })).toMatchObject({ status: 409, body: { error: 'NoLifecycle' } });
      expect(await team.send('POST', `families/${FAMILY}/lifecycle`, { body: { dryrun: true } })).toMatchObject({
        status: 400,
        body: { error: 'InvalidRequest', errors: expect.arrayContaining([expect.objectContaining({ path: 'dryRun' })]) as unknown },
      });
    } finally {
      await api.close();
    }
  });

  it('does exactly what the dry run listed, in every account and region', async () => {
    const before = await everything();

    const report = LifecycleReportSchema.parse(await run(false));

    // The same decisions as the dry run.
    expect(report.images.map(({ outcome: _o, error: _e, ...entry }) => entry)).toEqual(dryRun.images.map(({ outcome: _o, error: _e, ...entry }) => entry));
    const planned = byImage(report);
    const gone = new Set(report.images.filter((entry) => entry.action === 'deregister').map((entry) => entry.imageId));
    const deleted = new Set(report.images.flatMap((entry) => entry.deleteSnapshots));
    for (const entry of report.images.filter((e) => e.action === 'deregister')) expect([entry.imageId, entry.outcome, entry.error]).toEqual([entry.imageId, 'done', null]);
    // moto does not implement EnableImageDeprecation: each deprecation fails on its own, with
    // the answer it got. An engine that does deprecates the image.
    for (const entry of report.images.filter((e) => e.action === 'deprecate')) {
      if (aws.engine.name === 'moto') expect([entry.outcome, entry.error]).toEqual(['failed', expect.stringMatching(/^Error: .* \(HTTP 500\)$/)]);
      if (entry.outcome === 'done') expect((await describeImage(entry)).DeprecationTime).toBeDefined();
      else expect(entry.error).toMatch(/^\w[\w.]*: ./);
    }
    expect(gone.size).toBe(4);
    expect(deleted.size).toBe(4);
    const after = await everything();
    for (const place of PLACES) {
      const key = label(place);
      expect(after[key]?.images, key).toEqual(before[key]?.images.filter((imageId) => !gone.has(imageId)));
      expect(after[key]?.snapshots, key).toEqual(before[key]?.snapshots.filter((snapshotId) => !deleted.has(snapshotId)));
    }
    // The decoys and the protected images are all still there.
    for (const key of ['untagged', 'other-family', 'hand-tagged', `b2@${label(FACTORY_WEST)}`, `b2@${label(TARGET_EAST)}`]) {
      const { place, imageId, rootSnapshotId } = made.get(key) ?? { place: FACTORY_EAST, imageId: '', rootSnapshotId: null };
      expect(after[label(place)]?.images, key).toContain(imageId);
      if (rootSnapshotId !== null) expect(after[label(place)]?.snapshots, key).toContain(rootSnapshotId);
      if (planned.has(imageId)) expect(planned.get(imageId)?.outcome).toBe('none');
    }
  });

  it('finds nothing left to deregister on the next run', async () => {
    const report = await run(false);
    expect(report.images.filter((entry) => entry.action === 'deregister')).toEqual([]);
    expect(report.images).toHaveLength(dryRun.images.length - 4);
  });

  it('runs on a schedule from the family\'s name alone, and refuses a schedule naming no family', async () => {
    const context = { awsRequestId: 'scheduled-1' } as Context;
    const report = await scheduledHandler({ family: FAMILY }, context);
    expect(report).toMatchObject({ family: FAMILY, dryRun: false });
    await expect(scheduledHandler({ family: 'gone' }, context)).rejects.toThrow('scheduled lifecycle of "gone": the factory configuration has no family "gone"');
    await expect(scheduledHandler({ name: FAMILY }, context)).rejects.toThrow(/schedule's input is invalid/);
  });
});
