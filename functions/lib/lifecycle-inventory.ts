/**
 * What the lifecycle finds in one account and region: the family's images (by FAMILY_TAG,
 * owned by the account), the build each of their snapshots was made by, and how many
 * instances run each image. Only reads.
 */
import {
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeSnapshots,
  type EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import { BUILD_ID_TAG, ROOT_SNAPSHOT_TAG } from '../../contract/execution.ts';
import { FAMILY_TAG } from '../../contract/factory-config.ts';
import type { FoundImage } from './lifecycle-plan.ts';

/** EC2 takes at most 200 values in one filter. */
const FILTER_VALUES = 200;

/** An instance in these states still needs its image (a stopped one, to start again). */
const USING_STATES = ['pending', 'running', 'stopping', 'stopped'];

function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < values.length; start += size) out.push(values.slice(start, start + size));
  return out;
}

const tagsOf = (image: Image): Record<string, string> =>
  Object.fromEntries((image.Tags ?? []).flatMap((tag) => (tag.Key === undefined ? [] : [[tag.Key, tag.Value ?? '']])));

/**
 * The snapshots an image maps, and the one its build made (ROOT_SNAPSHOT_TAG): the same in
 * AWS, but the local AWS registers images with a snapshot of its own.
 */
function snapshotIdsOf(image: Image, tags: Record<string, string>): string[] {
  const mapped = (image.BlockDeviceMappings ?? []).flatMap((mapping) => (mapping.Ebs?.SnapshotId === undefined ? [] : [mapping.Ebs.SnapshotId]));
  const root = tags[ROOT_SNAPSHOT_TAG];
  return [...new Set([...mapped, ...(root === undefined || root === '' ? [] : [root])])];
}

/** The build id tag of each of these build ids' snapshots the account owns here. */
async function snapshotBuilds(ec2: EC2Client, buildIds: readonly string[]): Promise<Map<string, string>> {
  const builds = new Map<string, string>();
  for (const values of chunks(buildIds, FILTER_VALUES)) {
    const pages = paginateDescribeSnapshots({ client: ec2 }, { OwnerIds: ['self'], Filters: [{ Name: `tag:${BUILD_ID_TAG}`, Values: values }] });
    for await (const page of pages) {
      for (const snapshot of page.Snapshots ?? []) {
        const buildId = snapshot.Tags?.find((tag) => tag.Key === BUILD_ID_TAG)?.Value;
        if (snapshot.SnapshotId !== undefined && buildId !== undefined) builds.set(snapshot.SnapshotId, buildId);
      }
    }
  }
  return builds;
}

/** The family's images the client's account owns in the client's region, without usage. */
export async function findFamilyImages(ec2: EC2Client, place: { accountId: string; region: string }, family: string): Promise<FoundImage[]> {
  const images: Image[] = [];
  const pages = paginateDescribeImages(
    { client: ec2 },
    // An owner sees its deprecated and disabled images anyway; asked for, to say so.
    { Owners: ['self'], IncludeDeprecated: true, IncludeDisabled: true, Filters: [{ Name: `tag:${FAMILY_TAG}`, Values: [family] }] },
  );
  for await (const page of pages) images.push(...(page.Images ?? []));
  const buildIds = [...new Set(images.flatMap((image) => image.Tags?.filter((tag) => tag.Key === BUILD_ID_TAG).map((tag) => tag.Value ?? '') ?? []))];
  const makers = buildIds.length === 0 ? new Map<string, string>() : await snapshotBuilds(ec2, buildIds);
  return images.flatMap((image) => {
    if (image.ImageId === undefined) return [];
    const tags = tagsOf(image);
    return [{
      accountId: place.accountId,
      region: place.region,
      imageId: image.ImageId,
      name: image.Name ?? '',
      creationDate: image.CreationDate ?? '',
      state: image.State ?? 'unknown',
      tags,
      snapshots: snapshotIdsOf(image, tags).map((snapshotId) => ({ snapshotId, buildId: makers.get(snapshotId) ?? null })),
      deprecationTime: image.DeprecationTime ?? null,
    }];
  });
}

/** How many instances of the client's account and region were launched from each image (absent: none). */
export async function countInstancesUsing(ec2: EC2Client, imageIds: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const values of chunks(imageIds, FILTER_VALUES)) {
    const pages = paginateDescribeInstances(
      { client: ec2 },
      { Filters: [{ Name: 'image-id', Values: values }, { Name: 'instance-state-name', Values: USING_STATES }] },
    );
    for await (const page of pages) {
      for (const instance of (page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
        if (instance.ImageId !== undefined) counts.set(instance.ImageId, (counts.get(instance.ImageId) ?? 0) + 1);
      }
    }
  }
  return counts;
}
