/**
 * The copies a build that did not succeed leaves in other regions and accounts: a build
 * stopped, timed out or failed while its release ran. They are found, not remembered, as
 * everything clean-up removes: by the build's tag in each region and account its input named
 * for a copy (CopyImage tags a copy as it creates it), through the same clients the
 * regional-call function uses. A copy that is gone already is not an error.
 */
import { DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeSnapshotsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { BUILD_ID_TAG, ReleaseImageSchema } from '../../contract/execution.ts';
import { targetLabel } from '../../contract/targets.ts';
import { isAwsError } from './aws.ts';
import { ec2For, type TargetClientScope } from './target-clients.ts';

const GONE = ['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidSnapshot.NotFound'];

/** The regions and accounts of the copies an execution input planned. */
export function copyTargetsOf(input: Record<string, unknown>): { accountId: string; region: string }[] {
  const images = (input.distribution as { images?: unknown } | undefined)?.images;
  if (!Array.isArray(images)) return [];
  return images.flatMap((image) => {
    const parsed = ReleaseImageSchema.safeParse(image);
    return parsed.success && parsed.data.kind === 'copy' ? [{ accountId: parsed.data.accountId, region: parsed.data.region }] : [];
  });
}

async function removeIn(client: EC2Client, buildId: string, label: string): Promise<string[]> {
  const Filters = [{ Name: `tag:${BUILD_ID_TAG}`, Values: [buildId] }];
  const removed: string[] = [];
  const { Images = [] } = await client.send(new DescribeImagesCommand({ Owners: ['self'], Filters }));
  for (const image of Images) {
    try {
      await client.send(new DeregisterImageCommand({ ImageId: image.ImageId, DeleteAssociatedSnapshots: true }));
      removed.push(`${label}/${image.ImageId ?? ''}`);
    } catch (error) {
      if (!isAwsError(error, ...GONE)) throw error;
    }
  }
  // Engines that ignore DeleteAssociatedSnapshots, and snapshots of a copy that never became an image.
  const { Snapshots = [] } = await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters }));
  for (const snapshot of Snapshots) {
    try {
      await client.send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId }));
      removed.push(`${label}/${snapshot.SnapshotId ?? ''}`);
    } catch (error) {
      if (!isAwsError(error, ...GONE)) throw error;
    }
  }
  return removed;
}

/** Removes the build's copies from every region and account; `account/region/id` of each removed. */
export async function removeCopies(scope: TargetClientScope, buildId: string, targets: readonly { accountId: string; region: string }[]): Promise<string[]> {
  const removed = await Promise.all(
    targets.map(async (target) => {
      const client = await ec2For(scope, target);
      try {
        return await removeIn(client, buildId, targetLabel(target));
      } finally {
        client.destroy();
      }
    }),
  );
  return removed.flat();
}
