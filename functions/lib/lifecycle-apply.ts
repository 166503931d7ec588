/**
 * Applies a lifecycle plan: EnableImageDeprecation for each image to deprecate, DeregisterImage
 * then DeleteSnapshot of the snapshots the plan names for each image to deregister. A failure
 * is reported on its image (the AWS error's name and message) and the others go on: one image
 * that cannot be deregistered (protected, say) must not keep the rest of the family.
 *
 * Images of one account and region are handled in the plan's order, one at a time: a snapshot
 * two deregistered images map is deleted with the last of them (lifecycle-plan.ts). Places are
 * handled side by side.
 */
import { DeleteSnapshotCommand, DeregisterImageCommand, EnableImageDeprecationCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { LifecycleImage } from '../../contract/lifecycle.ts';
import { isAwsError } from './aws.ts';
import type { PlannedImage } from './lifecycle-plan.ts';

/** The client for an account and region; it may fail (a role that cannot be assumed). */
export type ClientFor = (place: { accountId: string; region: string }) => Promise<EC2Client>;

/**
 * `Name: message`, how the report names an AWS error: one line, with the HTTP status when the
 * answer was not one EC2 gives (a proxy's error page, an action the endpoint does not implement).
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const line = error.message.split('\n')[0]?.trim() ?? '';
  const status = (error as { $response?: { statusCode?: number } }).$response?.statusCode;
  return `${error.name}: ${line}${error.name === 'Error' && status !== undefined ? ` (HTTP ${status})` : ''}`;
}

/**
 * "Now" as EC2 takes it: it refuses a deprecation time in the past and rounds seconds to the
 * nearest minute, so the next whole minute at least a minute ahead.
 */
export function deprecationTimeFrom(now: number): Date {
  return new Date(Math.ceil((now + 60_000) / 60_000) * 60_000);
}

/** The report's entry of an image as the plan has it: nothing done (yet). */
export function unapplied(entry: PlannedImage, dryRun: boolean): LifecycleImage {
  const acts = entry.action === 'deprecate' || entry.action === 'deregister';
  return { ...entry, outcome: acts ? (dryRun ? 'planned' : 'failed') : 'none', error: null };
}

async function deregister(ec2: EC2Client, entry: PlannedImage): Promise<string | null> {
  try {
    await ec2.send(new DeregisterImageCommand({ ImageId: entry.imageId }));
  } catch (error) {
    // Gone already (deregistered by someone else since it was listed): its snapshots still go.
    if (!isAwsError(error, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable')) return describeError(error);
  }
  const failures: string[] = [];
  for (const snapshotId of entry.deleteSnapshots) {
    try {
      await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    } catch (error) {
      if (!isAwsError(error, 'InvalidSnapshot.NotFound')) failures.push(`DeleteSnapshot ${snapshotId}: ${describeError(error)}`);
    }
  }
  return failures.length === 0 ? null : `deregistered, but ${failures.join('; ')}`;
}

async function applyOne(ec2: EC2Client, entry: PlannedImage, clock: () => number): Promise<LifecycleImage> {
  let error: string | null = null;
  if (entry.action === 'deprecate') {
    try {
      await ec2.send(new EnableImageDeprecationCommand({ ImageId: entry.imageId, DeprecateAt: deprecationTimeFrom(clock()) }));
    } catch (caught) {
      error = describeError(caught);
    }
  } else if (entry.action === 'deregister') {
    error = await deregister(ec2, entry);
  } else {
    return unapplied(entry, false);
  }
  return { ...entry, outcome: error === null ? 'done' : 'failed', error };
}

/** Applies the plan; every entry comes back with its outcome, in the plan's order. */
export async function applyLifecyclePlan(plan: readonly PlannedImage[], clientFor: ClientFor, clock: () => number = Date.now): Promise<LifecycleImage[]> {
  const byPlace = new Map<string, number[]>();
  plan.forEach((entry, index) => {
    const key = `${entry.accountId}/${entry.region}`;
    byPlace.set(key, [...(byPlace.get(key) ?? []), index]);
  });
  const results: LifecycleImage[] = plan.map((entry) => unapplied(entry, false));
  await Promise.all(
    [...byPlace.values()].map(async (indexes) => {
      const first = plan[indexes[0] ?? 0];
      const acting = indexes.filter((index) => plan[index]?.action === 'deprecate' || plan[index]?.action === 'deregister');
      if (first === undefined || acting.length === 0) return;
      let ec2: EC2Client;
      try {
        ec2 = await clientFor(first);
      } catch (error) {
        for (const index of acting) results[index] = { ...(results[index] as LifecycleImage), error: describeError(error) };
        return;
      }
      for (const index of indexes) {
        const entry = plan[index];
        if (entry !== undefined) results[index] = await applyOne(ec2, entry, clock);
      }
    }),
  );
  return results;
}
