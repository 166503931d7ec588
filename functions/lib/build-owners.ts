/**
 * Whose build is whose. The owner is recorded twice, each where a reader finds it cheaply:
 * - in the execution input (`owner`), which DescribeExecution returns: get, log and cancel
 *   read the owner from the call they make anyway;
 * - as an empty marker `owners/<team>/<newest-first time>-<buildId>` in the artifacts
 *   bucket, so a team's builds are listed by prefix, newest first, without reading every
 *   team's executions.
 */
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DescribeExecutionOutput, SFNClient } from '@aws-sdk/client-sfn';
import type { BuildOwner } from '../../contract/execution.ts';
import { maySee, type Caller } from './access.ts';
import { buildNotFound, describeBuild, ownerOf } from './builds.ts';
import type { StateMachine } from './config.ts';

/**
 * The build's execution if the caller may see it. Another team's build is answered exactly
 * as a build that does not exist, so build ids do not leak across teams.
 */
export async function describeVisibleBuild(sfn: SFNClient, machine: StateMachine, buildId: string, caller: Caller): Promise<DescribeExecutionOutput> {
  const execution = await describeBuild(sfn, machine, buildId);
  if (!maySee(caller, ownerOf(execution))) throw buildNotFound(buildId);
  return execution;
}

/** Sorts newest first under a team's prefix: 13 digits of milliseconds left until 2286. */
const MAX_MILLIS = 9_999_999_999_999;

export function ownerMarkerPrefix(team: string): string {
  return `owners/${team}/`;
}

export function ownerMarkerKey(team: string, buildId: string, at: Date): string {
  return `${ownerMarkerPrefix(team)}${String(MAX_MILLIS - at.getTime()).padStart(13, '0')}-${buildId}`;
}

/** The build id a marker key names. */
export function buildIdOfMarker(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  return name.slice(name.indexOf('-') + 1);
}

export async function writeOwnerMarker(s3: S3Client, bucket: string, key: string, owner: BuildOwner): Promise<void> {
  // Empty: the key says it all. ContentLength, or the SDK takes the body for a stream of unknown length.
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: '', ContentLength: 0, Metadata: { principal: owner.principal } }));
}

export async function deleteOwnerMarker(s3: S3Client, bucket: string, key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
}

export interface MarkerPage {
  keys: string[];
  /** The last key returned, to continue after; undefined at the end. */
  after: string | undefined;
}

/** One page of a team's markers, newest first, after `after` (a key of an earlier page). */
export async function listOwnerMarkers(s3: S3Client, bucket: string, team: string, after: string | undefined, max: number): Promise<MarkerPage> {
  const page = await s3.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: ownerMarkerPrefix(team), MaxKeys: max, ...(after === undefined ? {} : { StartAfter: after }) }),
  );
  const keys = (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
  return { keys, after: page.IsTruncated === true ? keys.at(-1) : undefined };
}
