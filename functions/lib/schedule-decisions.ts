/**
 * Where a factory family's run decisions are kept, in the artifacts bucket:
 *
 * - `schedules/decisions/<family>/<decidedAt>-<random>.json`: every decision, oldest first by
 *   key, expiring with the bucket's rule for the prefix (the history of what the schedule did);
 * - `schedules/latest/<family>.json`: a copy of the newest, what `GET /families` reads, one
 *   object per family without listing; it does not expire.
 *
 * The latest is written after its decision, so a reader never sees a latest that is not in
 * the history. Two runs at once may both write it: the last write wins, and both decisions
 * stay in the history.
 */
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ScheduleDecisionSchema, type ScheduleDecision } from '../../contract/api.ts';
import { isAwsError } from './aws.ts';

export const DECISIONS_PREFIX = 'schedules/decisions/';
export const LATEST_PREFIX = 'schedules/latest/';

export const decisionKey = (decision: Pick<ScheduleDecision, 'family' | 'decidedAt'>): string =>
  // The random part keeps two decisions of the same millisecond (a duplicate invocation) apart.
  `${DECISIONS_PREFIX}${decision.family}/${decision.decidedAt}-${randomBytes(3).toString('hex')}.json`;

export const latestDecisionKey = (family: string): string => `${LATEST_PREFIX}${family}.json`;

export async function recordDecision(s3: S3Client, bucket: string, decision: ScheduleDecision): Promise<void> {
  const body = JSON.stringify(decision);
  for (const key of [decisionKey(decision), latestDecisionKey(decision.family)]) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  }
}

/** The family's newest decision; null before its first run (or when the record is unreadable). */
export async function latestDecision(s3: S3Client, bucket: string, family: string): Promise<ScheduleDecision | null> {
  let text: string;
  try {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: latestDecisionKey(family) }));
    text = (await object.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    if (isAwsError(error, 'NoSuchKey', 'NotFound')) return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  // A record the factory cannot read is as good as none: the next run replaces it.
  const parsed = ScheduleDecisionSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}
