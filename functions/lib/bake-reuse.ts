/**
 * What already has a bake key (bake-key.ts), for the submit function to answer with instead
 * of baking again: an available image of the team in this account and region, found by its
 * tags, or a running build of the team, found by the record its submit left.
 *
 * Both are looked up by team as well as key, so a team never reuses, nor learns of, another
 * team's image or build: the image's team tag must be the caller's, and the running-build
 * record lives under the team's own prefix.
 *
 * A build's volume carries the key only once a host claimed it, so a build still waiting
 * for a host has no EC2 trace: the record (`bake-keys/<account>/<region>/<team>/<key>`,
 * holding the latest build id with that key) is what finds it. It is a pointer, not a lock:
 * the build's execution says whether it still runs, and a record of a build that ended is
 * just overwritten by the next one. Two identical submits at the same instant may both bake;
 * nothing worse follows than a second image.
 */
import { DescribeImagesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { BAKE_KEY_TAG, BUILD_ID_TAG, TEAM_TAG } from '../../contract/execution.ts';
import { isAwsError } from './aws.ts';

export interface BakeScope {
  bucket: string;
  accountId: string;
  region: string;
  team: string;
  bakeKey: string;
}

export interface ReusableImage {
  imageId: string;
  /** The build that made it (its build-id tag). */
  buildId: string;
}

/**
 * The newest available image of the team with the key, made by a build of the factory.
 * Owner self: an image shared into the account is not the factory's to reuse.
 */
export async function findReusableImage(ec2: EC2Client, scope: BakeScope): Promise<ReusableImage | null> {
  const candidates: ReusableImage[] = [];
  const created = new Map<string, string>();
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [
          { Name: `tag:${BAKE_KEY_TAG}`, Values: [scope.bakeKey] },
          { Name: `tag:${TEAM_TAG}`, Values: [scope.team] },
          { Name: 'state', Values: ['available'] },
        ],
        NextToken,
      }),
    );
    for (const image of page.Images ?? []) {
      const tag = (key: string) => image.Tags?.find((item) => item.Key === key)?.Value;
      // The filters already say so; checked again, as a reuse across teams must never happen.
      if (tag(TEAM_TAG) !== scope.team || tag(BAKE_KEY_TAG) !== scope.bakeKey || image.State !== 'available') continue;
      const buildId = tag(BUILD_ID_TAG);
      if (image.ImageId === undefined || buildId === undefined) continue;
      candidates.push({ imageId: image.ImageId, buildId });
      created.set(image.ImageId, image.CreationDate ?? '');
    }
    NextToken = page.NextToken;
  } while (NextToken);
  // ISO 8601 creation dates sort as strings.
  candidates.sort((a, b) => ((created.get(b.imageId) ?? '') > (created.get(a.imageId) ?? '') ? 1 : -1));
  return candidates[0] ?? null;
}

export function bakeRecordKey(scope: Omit<BakeScope, 'bucket'>): string {
  return `bake-keys/${scope.accountId}/${scope.region}/${scope.team}/${scope.bakeKey}`;
}

const BakeRecordSchema = z.object({ buildId: z.string().min(1) });

/** The latest build submitted with the key by the team, or undefined when there is none. */
export async function readBakeRecord(s3: S3Client, scope: BakeScope): Promise<string | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: scope.bucket, Key: bakeRecordKey(scope) }));
    let json: unknown;
    try {
      json = JSON.parse((await object.Body?.transformToString('utf8')) ?? '');
    } catch {
      json = undefined;
    }
    // An unreadable record points nowhere: the next build overwrites it.
    const parsed = BakeRecordSchema.safeParse(json);
    return parsed.success ? parsed.data.buildId : undefined;
  } catch (error) {
    if (isAwsError(error, 'NoSuchKey', 'NotFound')) return undefined;
    throw error;
  }
}

export async function writeBakeRecord(s3: S3Client, scope: BakeScope, buildId: string): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: scope.bucket, Key: bakeRecordKey(scope), Body: JSON.stringify({ buildId }), ContentType: 'application/json' }),
  );
}
