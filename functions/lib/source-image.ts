/**
 * The EC2 look-ups before a build starts, as Packer's pre-validate and source-AMI steps do
 * them: find the source image (source_ami, or source_ami_filter), insist on an EBS root, and
 * make sure ami_name is free in the target account unless force_deregister replaces it.
 */
import { DescribeImagesCommand, type EC2Client, type Filter, type Image } from '@aws-sdk/client-ec2';
import type { AmazonChrootConfig } from '../../model/index.ts';
import { joinPath } from '../../contract/field-errors.ts';
import { isAwsError } from './aws.ts';
import { TEAM_TAG, type ExistingImage } from '../../contract/execution.ts';
import { ProblemError } from './http.ts';

async function describeAll(ec2: EC2Client, input: { Owners?: string[]; Filters?: Filter[]; IncludeDeprecated?: boolean }): Promise<Image[]> {
  const images: Image[] = [];
  let NextToken: string | undefined;
  do {
    const page = await ec2.send(new DescribeImagesCommand({ ...input, NextToken }));
    images.push(...(page.Images ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return images;
}

function notFound(path: string, message: string): ProblemError {
  return new ProblemError(404, 'SourceImageNotFound', message, [{ path, message }]);
}

/** The source image, or null for from_scratch. `builderPath` prefixes error paths. */
export async function resolveSourceImage(ec2: EC2Client, builder: AmazonChrootConfig, builderPath: string): Promise<Image | null> {
  if (builder.from_scratch) return null;
  let image: Image;
  let path: string;
  if (builder.source_ami !== undefined) {
    path = joinPath(builderPath, 'source_ami');
    let images: Image[];
    try {
      images = (await ec2.send(new DescribeImagesCommand({ ImageIds: [builder.source_ami] }))).Images ?? [];
    } catch (error) {
      if (isAwsError(error, 'InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed')) images = [];
      else throw error;
    }
    // A recently deregistered image is answered with an empty list rather than an error.
    const found = images[0];
    if (found === undefined) throw notFound(path, `source image ${builder.source_ami} does not exist, or this account cannot use it`);
    image = found;
  } else if (builder.source_ami_filter !== undefined) {
    path = joinPath(builderPath, 'source_ami_filter');
    const filter = builder.source_ami_filter;
    const images = await describeAll(ec2, {
      Owners: filter.owners,
      Filters: Object.entries(filter.filters).map(([Name, value]) => ({ Name, Values: [value] })),
      IncludeDeprecated: filter.include_deprecated,
    });
    const described = `owners ${filter.owners.join(', ')} and filters ${JSON.stringify(filter.filters)}`;
    if (images.length === 0) throw notFound(path, `no image matches source_ami_filter (${described})`);
    if (images.length > 1 && !filter.most_recent) {
      const message = `${images.length} images match source_ami_filter (${described}): narrow the filters or set most_recent`;
      throw new ProblemError(400, 'AmbiguousSourceImage', message, [{ path, message }]);
    }
    // ISO 8601 creation dates sort as strings.
    image = images.reduce((newest, candidate) => ((candidate.CreationDate ?? '') > (newest.CreationDate ?? '') ? candidate : newest));
  } else {
    // The model insists on one of the two; this guards a model change, not a user mistake.
    throw new Error('the build request names no source image and is not from_scratch');
  }
  checkEbsRoot(image, path);
  return image;
}

/** Snapshotting an attached copy of the root volume is the whole method: the root must be EBS. */
function checkEbsRoot(image: Image, path: string): void {
  const root = image.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === image.RootDeviceName);
  const problem =
    image.RootDeviceType === 'instance-store'
      ? 'its root device is instance-store'
      : root?.Ebs?.SnapshotId === undefined
        ? `its root device ${image.RootDeviceName ?? '(unnamed)'} has no EBS snapshot`
        : image.State !== undefined && image.State !== 'available'
          ? `it is ${image.State}, not available`
          : undefined;
  if (problem !== undefined) {
    const message = `source image ${image.ImageId ?? ''} cannot be used: ${problem}; the factory builds from an EBS-backed image`;
    throw new ProblemError(400, 'UnsupportedSourceImage', message, [{ path, message }]);
  }
}

/**
 * The image already holding ami_name in the target account. Without force_deregister that
 * is a 409 naming it; with it, the workflow deregisters it first (and deletes its snapshots
 * with force_delete_snapshot), but only an image a build of the caller's own team made: its
 * `ami-factory:team` tag is the team (403 otherwise, also for an image the factory did not make).
 */
export async function findExistingImage(ec2: EC2Client, builder: AmazonChrootConfig, builderPath: string, team: string): Promise<ExistingImage | null> {
  const images = await describeAll(ec2, { Owners: ['self'], Filters: [{ Name: 'name', Values: [builder.ami_name] }] });
  const existing = images.find((image) => image.Name === builder.ami_name);
  if (existing?.ImageId === undefined) return null;
  const path = joinPath(builderPath, 'ami_name');
  if (!builder.force_deregister) {
    const message = `an image named "${builder.ami_name}" already exists: ${existing.ImageId}; choose another ami_name or set force_deregister`;
    throw new ProblemError(409, 'ImageNameExists', message, [{ path, message }]);
  }
  const imageTeam = existing.Tags?.find((tag) => tag.Key === TEAM_TAG)?.Value;
  if (imageTeam !== team) {
    const message = `force_deregister may replace only an image a build of your team (${team}) made; the image named "${builder.ami_name}" (${existing.ImageId}) was not`;
    throw new ProblemError(403, 'ImageOfAnotherTeam', message, [{ path: joinPath(builderPath, 'force_deregister'), message }]);
  }
  const snapshotIds = builder.force_delete_snapshot
    ? (existing.BlockDeviceMappings ?? []).flatMap((mapping) => (mapping.Ebs?.SnapshotId ? [mapping.Ebs.SnapshotId] : []))
    : [];
  return { imageId: existing.ImageId, snapshotIds };
}
