/**
 * What one check of a resource wait finds: one describe per kind of resource for a whole
 * batch of waits, by filter rather than by id. Filtered describes draw on EC2's larger request
 * bucket, and a filter that matches nothing answers with an empty list where a list of ids
 * with one unknown id fails the whole call (a resource just made can be missing for a moment:
 * EC2's describes are eventually consistent).
 */
import { DescribeImagesCommand, DescribeSnapshotsCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { ResourceWaitKind } from '../../contract/resource-wait.ts';

/** A resource as a check saw it; `undefined` when the describe did not list it. */
export interface Observation {
  state: string;
  /** Snapshots: how far along, 0-100. */
  progressPercent?: number;
  /** Snapshots: when EC2 started it, to estimate what is left. */
  startedAt?: Date;
  /** A volume's attachments still listed (a detaching volume keeps one). */
  attachmentStates?: string[];
  /** The account: its pending snapshots, and the limit they are held to. */
  pendingSnapshots?: { count: number; limit: number };
  /** Why a wait fails, when the check that saw this decided it (snapshot-capacity). */
  failure?: string;
}

export type Verdict = { outcome: 'ready' } | { outcome: 'failed'; reason: string } | { outcome: 'not-yet' };

type Resource = 'volume' | 'snapshot' | 'image' | 'account';

export const RESOURCE_OF: Record<ResourceWaitKind, Resource> = {
  'volume-available': 'volume',
  'volume-detached': 'volume',
  'snapshot-completed': 'snapshot',
  'image-available': 'image',
  'snapshot-capacity': 'account',
};

/** What a wait waits for, for a cause. */
export function waitSubject(kind: ResourceWaitKind, resourceId: string): string {
  return kind === 'snapshot-capacity' ? `the snapshot of ${resourceId}` : `${RESOURCE_OF[kind]} ${resourceId}`;
}

/** The account's pending snapshots in this region: one filtered, paginated describe. */
export async function pendingSnapshotCount(ec2: EC2Client): Promise<number> {
  let count = 0;
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'status', Values: ['pending'] }], MaxResults: 1000, NextToken }));
    count += page.Snapshots?.length ?? 0;
    NextToken = page.NextToken;
  } while (NextToken);
  return count;
}

/** EC2's filters take at most 200 values. */
const MAX_FILTER_VALUES = 200;

/** Describes the given resources of one kind with as few calls as the filter limit allows. */
export async function observe(ec2: EC2Client, resource: Exclude<Resource, 'account'>, ids: string[]): Promise<Map<string, Observation>> {
  const seen = new Map<string, Observation>();
  for (let start = 0; start < ids.length; start += MAX_FILTER_VALUES) {
    const chunk = ids.slice(start, start + MAX_FILTER_VALUES);
    if (resource === 'volume') {
      const answer = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: chunk }] }));
      for (const volume of answer.Volumes ?? []) {
        if (volume.VolumeId === undefined) continue;
        seen.set(volume.VolumeId, { state: volume.State ?? 'unknown', attachmentStates: (volume.Attachments ?? []).map((a) => a.State ?? 'unknown') });
      }
    } else if (resource === 'snapshot') {
      const answer = await ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: chunk }] }));
      for (const snapshot of answer.Snapshots ?? []) {
        if (snapshot.SnapshotId === undefined) continue;
        const progress = Number.parseFloat(snapshot.Progress ?? '');
        seen.set(snapshot.SnapshotId, {
          state: snapshot.State ?? 'unknown',
          ...(Number.isFinite(progress) ? { progressPercent: progress } : {}),
          ...(snapshot.StartTime === undefined ? {} : { startedAt: snapshot.StartTime }),
        });
      }
    } else {
      const answer = await ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: chunk }] }));
      for (const image of answer.Images ?? []) {
        if (image.ImageId !== undefined) seen.set(image.ImageId, { state: image.State ?? 'unknown' });
      }
    }
  }
  return seen;
}

/** Whether a wait of `kind` is over, given what the check saw (undefined: not listed). */
export function judge(kind: ResourceWaitKind, resourceId: string, seen: Observation | undefined): Verdict {
  if (seen === undefined) {
    // Just made and not listed yet (EC2's describes are eventually consistent), or gone. A
    // volume being detached was listed a moment ago, so "gone" fails its wait at once; the
    // others keep checking until their bound.
    return kind === 'volume-detached' ? { outcome: 'failed', reason: `volume ${resourceId} no longer exists` } : { outcome: 'not-yet' };
  }
  const { state } = seen;
  switch (kind) {
    case 'volume-available':
      if (state === 'available') return { outcome: 'ready' };
      if (state === 'error' || state === 'deleting' || state === 'deleted') return { outcome: 'failed', reason: `volume ${resourceId} went to the ${state} state while it was created` };
      return { outcome: 'not-yet' };
    case 'volume-detached':
      if (state === 'available' && (seen.attachmentStates ?? []).length === 0) return { outcome: 'ready' };
      if (state === 'error' || state === 'deleting' || state === 'deleted') return { outcome: 'failed', reason: `volume ${resourceId} went to the ${state} state while it was detached` };
      return { outcome: 'not-yet' };
    case 'snapshot-completed':
      if (state === 'completed') return { outcome: 'ready' };
      if (state === 'error') return { outcome: 'failed', reason: `snapshot ${resourceId} went to the error state` };
      return { outcome: 'not-yet' };
    case 'image-available':
      if (state === 'available') return { outcome: 'ready' };
      if (['failed', 'invalid', 'error', 'deregistered', 'disabled'].includes(state)) return { outcome: 'failed', reason: `image ${resourceId} went to the ${state} state` };
      return { outcome: 'not-yet' };
    case 'snapshot-capacity':
      // The function decides per wait (functions/lib/snapshot-admission.ts): room, refused or full.
      if (state === 'room') return { outcome: 'ready' };
      if (state === 'refused') return { outcome: 'failed', reason: seen.failure ?? `CreateSnapshot of ${resourceId} was refused` };
      return { outcome: 'not-yet' };
  }
}

/** "pending (45%)", for a cause. */
export function describeState(seen: Observation | undefined): string {
  if (seen === undefined) return 'not listed';
  if (seen.pendingSnapshots !== undefined) return `${seen.state}: ${seen.pendingSnapshots.count} of the account's ${seen.pendingSnapshots.limit} pending snapshots in use`;
  if (seen.attachmentStates !== undefined && seen.attachmentStates.length > 0) return `${seen.state} (${seen.attachmentStates.join(', ')})`;
  return seen.progressPercent === undefined ? seen.state : `${seen.state} (${seen.progressPercent}%)`;
}
