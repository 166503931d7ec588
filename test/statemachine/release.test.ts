/**
 * The release: copies of the image in other regions and accounts, made by regional calls
 * (the regional-call function answering from the regional-calls queue, as in a deployment),
 * in parallel, each tagged with its own ids, shared and deprecated as the input asks; a copy
 * that fails is removed and reported while the others stand; skip_save_build_region removes
 * the build region's image once every copy is available.
 *
 * The local AWS makes real copies in another region of the same account, and honours
 * AssumeRole into another account. It cannot copy across accounts: its CopyImage looks for the
 * source image in the calling account, so a copy-mode target fails there with
 * InvalidAMIID.NotFound; for those the test checks the call that reached the target account
 * (its parameters and the account and region it was made in) and that the failure is reported
 * per target (README, "What the local AWS cannot show").
 */
import { DescribeImageAttributeCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_ID_TAG, type ExecutionInput, type ImageCopy } from '../../contract/execution.ts';
import type { RegionalCallTask } from '../../contract/regional-call.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../support/local-aws.ts';
import { buildImageInput, buildIdTag } from './support/build-input.ts';
import { runBuild, startLocalBuildImage, type BuildResult, type LocalBuildImage } from './support/local-aws.ts';

const SECOND_REGION = 'us-west-2';
const THIRD_REGION = 'eu-west-1';
const TARGET_ACCOUNT = '222222222222';
const OTHER_TARGET_ACCOUNT = '333333333333';
const SHARE_ACCOUNT = '210987654321';

let local: LocalBuildImage;
const regional = new Map<string, EC2Client>();

beforeAll(async () => {
  local = await startLocalBuildImage();
});

afterAll(async () => {
  for (const client of regional.values()) client.destroy();
  await local.stop();
});

function ec2In(region: string): EC2Client {
  let client = regional.get(region);
  if (client === undefined) {
    client = new EC2Client({ ...local.aws.clientConfig, region });
    regional.set(region, client);
  }
  return client;
}

function copy(buildId: string, region: string, accountId = LOCAL_ACCOUNT_ID, extra: Partial<ImageCopy> = {}): ImageCopy {
  return {
    kind: 'copy',
    accountId,
    region,
    copyImage: { Name: `release-${buildId}`, Description: 'a copy', SourceRegion: LOCAL_REGION, ClientToken: `${buildId}-${accountId}-${region}` },
    imageTags: [buildIdTag(buildId), { Key: 'os', Value: 'debian' }],
    snapshotTags: [buildIdTag(buildId), { Key: 'purpose', Value: 'root' }],
    productCodes: null,
    deprecateAt: null,
    launchPermission: null,
    snapshotPermission: null,
    deregistrationProtection: null,
    ...extra,
  };
}

function input(copies: (buildId: string) => ImageCopy[], skipSaveBuildRegion = false): ExecutionInput {
  const base = buildImageInput({ sourceSnapshotId: local.sourceSnapshotId });
  return {
    ...base,
    distribution: {
      ...base.distribution,
      images: [{ kind: 'build', accountId: LOCAL_ACCOUNT_ID, region: LOCAL_REGION }, ...copies(base.buildId)],
      skipSaveBuildRegion,
    },
  };
}

interface ReportedImage {
  region: string;
  accountId: string;
  imageId: string | null;
  snapshotIds: string[];
  state: string;
  error?: string;
  cause?: string;
}

function amisOf(result: BuildResult): ReportedImage[] {
  return (result.output as { amis: ReportedImage[] }).amis;
}

function entry(result: BuildResult, accountId: string, region: string): ReportedImage {
  const found = amisOf(result).find((image) => image.accountId === accountId && image.region === region);
  if (found === undefined) throw new Error(`no entry for ${accountId}/${region} in ${JSON.stringify(amisOf(result))}`);
  return found;
}

/** The regional calls the workflow sent, as the execution history shows their messages. */
function regionalCalls(result: BuildResult): RegionalCallTask['call'][] {
  return result.events
    .filter((event) => event.type === 'TaskScheduled' && event.taskScheduledEventDetails?.resource === 'sendMessage.waitForTaskToken')
    .map((event) => (JSON.parse(event.taskScheduledEventDetails?.parameters ?? '{}') as { MessageBody: Partial<RegionalCallTask> }).MessageBody)
    .flatMap((body) => (body.task === 'regional-call' && body.call !== undefined ? [body.call] : []));
}

async function imageIn(region: string, imageId: string) {
  const { Images = [] } = await ec2In(region).send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return Images[0];
}

describe('a release to two regions and two accounts', () => {
  it('copies into the second region with its tags and sharing, reports the cross-account copies per target', async () => {
    const build = input((buildId) => [
      copy(buildId, SECOND_REGION, LOCAL_ACCOUNT_ID, {
        launchPermission: { Add: [{ UserId: SHARE_ACCOUNT }] },
        snapshotPermission: { Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [SHARE_ACCOUNT] },
      }),
      copy(buildId, LOCAL_REGION, TARGET_ACCOUNT),
      copy(buildId, THIRD_REGION, OTHER_TARGET_ACCOUNT),
    ]);

    const result = await runBuild(local, build, { timeoutMs: 60_000 });

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const amis = amisOf(result);
    expect(amis.map((image) => [image.accountId, image.region, image.state])).toEqual([
      [LOCAL_ACCOUNT_ID, LOCAL_REGION, 'available'],
      [LOCAL_ACCOUNT_ID, SECOND_REGION, 'available'],
      [TARGET_ACCOUNT, LOCAL_REGION, 'failed'],
      [OTHER_TARGET_ACCOUNT, THIRD_REGION, 'failed'],
    ]);

    // The copy in the second region: an image of its own, with its own snapshot, tagged and shared.
    const second = entry(result, LOCAL_ACCOUNT_ID, SECOND_REGION);
    const buildRegion = entry(result, LOCAL_ACCOUNT_ID, LOCAL_REGION);
    expect(second.imageId).toMatch(/^ami-/);
    expect(second.imageId).not.toBe(buildRegion.imageId);
    expect(second.snapshotIds).toHaveLength(1);
    expect(second.snapshotIds).not.toEqual(buildRegion.snapshotIds);
    const image = await imageIn(SECOND_REGION, second.imageId ?? '');
    expect(image?.State).toBe('available');
    expect(image?.Tags).toEqual(expect.arrayContaining([{ Key: BUILD_ID_TAG, Value: build.buildId }, { Key: 'os', Value: 'debian' }]));
    const permissions = await ec2In(SECOND_REGION).send(new DescribeImageAttributeCommand({ ImageId: second.imageId ?? '', Attribute: 'launchPermission' }));
    expect(permissions.LaunchPermissions).toEqual([{ UserId: SHARE_ACCOUNT }]);
    expect(regionalCalls(result)).toContainEqual({
      accountId: LOCAL_ACCOUNT_ID,
      region: SECOND_REGION,
      action: 'CreateTags',
      parameters: { Resources: second.snapshotIds, Tags: [buildIdTag(build.buildId), { Key: 'purpose', Value: 'root' }] },
    });
    expect(regionalCalls(result)).toContainEqual({
      accountId: LOCAL_ACCOUNT_ID,
      region: SECOND_REGION,
      action: 'ModifySnapshotAttribute',
      parameters: { Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [SHARE_ACCOUNT], SnapshotId: second.snapshotIds[0] },
    });

    // The copy-mode targets: CopyImage reached each target account in its region, with the
    // build region's image as the source; the local AWS looks for it in the target account.
    for (const [accountId, region] of [[TARGET_ACCOUNT, LOCAL_REGION], [OTHER_TARGET_ACCOUNT, THIRD_REGION]] as const) {
      expect(regionalCalls(result)).toContainEqual({
        accountId,
        region,
        action: 'CopyImage',
        parameters: {
          Name: `release-${build.buildId}`,
          Description: 'a copy',
          SourceRegion: LOCAL_REGION,
          ClientToken: `${build.buildId}-${accountId}-${region}`,
          SourceImageId: buildRegion.imageId,
        },
      });
      expect(entry(result, accountId, region)).toMatchObject({ imageId: null, snapshotIds: [], state: 'failed', error: 'InvalidAMIID.NotFound' });
    }
  });

  it('removes a copy that fails after it was made, and keeps the others', async () => {
    const build = input((buildId) => [
      copy(buildId, SECOND_REGION),
      // The local AWS, like EC2, refuses a launch permission for a group other than "all".
      copy(buildId, THIRD_REGION, LOCAL_ACCOUNT_ID, { launchPermission: { Add: [{ Group: 'no-such-group' as 'all' }] } }),
    ]);

    const result = await runBuild(local, build, { timeoutMs: 60_000 });

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(entry(result, LOCAL_ACCOUNT_ID, SECOND_REGION).state).toBe('available');
    const failed = entry(result, LOCAL_ACCOUNT_ID, THIRD_REGION);
    expect(failed).toMatchObject({ state: 'failed', imageId: expect.stringMatching(/^ami-/) as string });
    expect(failed.error).toBeTruthy();
    // Removed, snapshots with it: nothing of the failed copy is left in its region.
    const deregister = regionalCalls(result).filter((call) => call.action === 'DeregisterImage');
    expect(deregister).toEqual([{ accountId: LOCAL_ACCOUNT_ID, region: THIRD_REGION, action: 'DeregisterImage', parameters: { ImageId: failed.imageId, DeleteAssociatedSnapshots: true } }]);
    const { Images = [] } = await ec2In(THIRD_REGION).send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${BUILD_ID_TAG}`, Values: [build.buildId] }] }));
    expect(Images.map((found) => found.ImageId)).toEqual([]);
  });
});

describe('deprecation and protection of copies', () => {
  it('sends each copy\'s deprecation in its region; the local AWS lacks the call, so that copy is reported failed and removed', async () => {
    const deprecateAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const build = input((buildId) => [copy(buildId, SECOND_REGION, LOCAL_ACCOUNT_ID, { deprecateAt })]);

    const result = await runBuild(local, build, { timeoutMs: 60_000 });

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const second = entry(result, LOCAL_ACCOUNT_ID, SECOND_REGION);
    expect(regionalCalls(result)).toContainEqual({
      accountId: LOCAL_ACCOUNT_ID,
      region: SECOND_REGION,
      action: 'EnableImageDeprecation',
      parameters: { ImageId: second.imageId, DeprecateAt: deprecateAt },
    });
    // EC2 deprecates it; the local AWS answers with an error page, which fails the copy as any
    // EC2 refusal would, and the half-made copy is removed.
    expect(second.state).toBe('failed');
    expect(await imageIn(SECOND_REGION, second.imageId ?? '')).toBeUndefined();
  });
});

describe('skip_save_build_region', () => {
  it('deregisters the build region image once every copy is available', async () => {
    const build = input((buildId) => [copy(buildId, SECOND_REGION), copy(buildId, THIRD_REGION)], true);

    const result = await runBuild(local, build, { timeoutMs: 60_000 });

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const buildRegion = entry(result, LOCAL_ACCOUNT_ID, LOCAL_REGION);
    expect(buildRegion.state).toBe('deregistered');
    expect(await imageIn(LOCAL_REGION, buildRegion.imageId ?? '')).toBeUndefined();
    expect(entry(result, LOCAL_ACCOUNT_ID, SECOND_REGION).state).toBe('available');
    expect(entry(result, LOCAL_ACCOUNT_ID, THIRD_REGION).state).toBe('available');
  });

  it('keeps the build region image when a copy failed', async () => {
    const build = input((buildId) => [copy(buildId, SECOND_REGION), copy(buildId, LOCAL_REGION, TARGET_ACCOUNT)], true);

    const result = await runBuild(local, build, { timeoutMs: 60_000 });

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const buildRegion = entry(result, LOCAL_ACCOUNT_ID, LOCAL_REGION);
    expect(buildRegion.state).toBe('available');
    expect((await imageIn(LOCAL_REGION, buildRegion.imageId ?? ''))?.State).toBe('available');
  });
});
