/**
 * ami_name is unique per account and region, but EC2 only finds out at RegisterImage, at the
 * end of a build: two builds submitted together both pass the "is the name free?" check and
 * one of them fails after all its work (or, with force_deregister, deregisters the other's
 * new image). So the submit function claims the name at once, with a conditional write of
 * `names/<account>/<region>/<sha256(ami_name)>` holding the build id: of two submits, one
 * write wins and the other is answered 409.
 *
 * A claim stays while its image exists and is released when its build fails (clean-up-build).
 * A claim whose build no longer runs and whose image is gone is stale and may be taken over,
 * and so may the claim of the image a force_deregister build replaces (the submit function
 * has checked by then that the image is the same team's). Takeovers are conditional on the
 * claim not having changed since it was read (If-Match), so two takeovers cannot both win.
 */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { joinPath } from '../../contract/field-errors.ts';
import { isAwsError } from './aws.ts';
import { ProblemError } from './http.ts';

export interface NameTarget {
  bucket: string;
  accountId: string;
  region: string;
  amiName: string;
}

const NameClaimSchema = z.object({
  buildId: z.string(),
  team: z.string(),
  amiName: z.string(),
  /** When the submit wrote it: a claim whose build has not started yet may still be in flight. */
  claimedAt: z.iso.datetime({ offset: true }),
});
export type NameClaim = z.infer<typeof NameClaimSchema>;

export function nameClaimKey(accountId: string, region: string, amiName: string): string {
  return `names/${accountId}/${region}/${createHash('sha256').update(amiName).digest('hex')}`;
}

const CONFLICT = ['PreconditionFailed', 'ConditionalRequestConflict'];

/** The claim on a name and its ETag, or undefined when nobody holds it. */
export async function readNameClaim(s3: S3Client, target: NameTarget): Promise<{ claim: NameClaim | undefined; etag: string } | undefined> {
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: nameClaimKey(target.accountId, target.region, target.amiName) }));
    const text = (await object.Body?.transformToString('utf8')) ?? '';
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = NameClaimSchema.safeParse(json);
    // An unreadable claim holds nothing: it may be taken over like a stale one.
    return { claim: parsed.success ? parsed.data : undefined, etag: object.ETag ?? '' };
  } catch (error) {
    if (isAwsError(error, 'NoSuchKey', 'NotFound')) return undefined;
    throw error;
  }
}

/** What the submit function decides about a claim another build holds. */
export type HolderVerdict = 'running' | 'stale' | 'replaceable';

/**
 * How long a claim whose build has not started may be a submit still at work: longer than
 * any submit runs (API Gateway gives up after 29 s). Older, the submit died before starting.
 */
export const IN_FLIGHT_SECONDS = 60;

export function inFlight(claim: NameClaim, now = Date.now()): boolean {
  return now - Date.parse(claim.claimedAt) < IN_FLIGHT_SECONDS * 1000;
}

export interface ClaimOutcome {
  /** True when this request wrote the claim (and must remove it if the submit fails). */
  written: boolean;
}

function claimed(target: NameTarget, amiNamePath: string, holder: NameClaim | undefined, team: string): ProblemError {
  // Another team's build id is not this caller's business: ids do not leak across teams.
  const by = holder !== undefined && holder.team === team ? `build ${holder.buildId} of your team` : 'another build';
  const message = `ami_name "${target.amiName}" is claimed by ${by}, which is still running; choose another ami_name or wait for it to end`;
  return new ProblemError(409, 'ImageNameClaimed', message, [{ path: amiNamePath, message }]);
}

/**
 * Claims the name for `buildId`. `judge` tells whether a holder's claim may be taken over
 * (its build is over and its image gone, or its image is the one force_deregister replaces).
 */
export async function claimName(
  s3: S3Client,
  target: NameTarget,
  mine: { buildId: string; team: string },
  judge: (holder: NameClaim) => Promise<HolderVerdict>,
  builderPath: string,
): Promise<ClaimOutcome> {
  const Key = nameClaimKey(target.accountId, target.region, target.amiName);
  const Body = JSON.stringify({ buildId: mine.buildId, team: mine.team, amiName: target.amiName, claimedAt: new Date().toISOString() } satisfies NameClaim);
  const put = (condition: { IfNoneMatch: string } | { IfMatch: string }) =>
    s3.send(new PutObjectCommand({ Bucket: target.bucket, Key, Body, ContentType: 'application/json', ...condition }));
  const amiNamePath = joinPath(builderPath, 'ami_name');
  try {
    await put({ IfNoneMatch: '*' });
    return { written: true };
  } catch (error) {
    if (!isAwsError(error, ...CONFLICT)) throw error;
  }
  const current = await readNameClaim(s3, target);
  // Released between the two calls: try once more from the start, as a fresh claim.
  if (current === undefined) {
    try {
      await put({ IfNoneMatch: '*' });
      return { written: true };
    } catch (error) {
      if (isAwsError(error, ...CONFLICT)) throw claimed(target, amiNamePath, undefined, mine.team);
      throw error;
    }
  }
  // An Idempotency-Key retry of this very build, racing the first attempt.
  if (current.claim?.buildId === mine.buildId) return { written: false };
  const verdict = current.claim === undefined ? 'stale' : await judge(current.claim);
  if (verdict === 'running') throw claimed(target, amiNamePath, current.claim, mine.team);
  try {
    await put({ IfMatch: current.etag });
    return { written: true };
  } catch (error) {
    if (isAwsError(error, ...CONFLICT, 'NoSuchKey')) throw claimed(target, amiNamePath, undefined, mine.team);
    throw error;
  }
}

/**
 * Removes the claim if `buildId` still holds it: after a failed submit, and when its build
 * failed. Conditional on the claim read, so a takeover in between is left alone.
 */
export async function releaseName(s3: S3Client, target: NameTarget, buildId: string): Promise<boolean> {
  const current = await readNameClaim(s3, target);
  if (current?.claim?.buildId !== buildId) return false;
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: nameClaimKey(target.accountId, target.region, target.amiName), IfMatch: current.etag }));
    return true;
  } catch (error) {
    if (isAwsError(error, ...CONFLICT, 'NoSuchKey')) return false;
    throw error;
  }
}
