/**
 * POST /images/{imageId}/distributions: share or copy an existing image of the factory to more
 * regions and accounts, without a rebuild. The image must be one the factory made for the
 * caller's team (its build-id and team tags), available, in the factory's region; anything
 * else is answered 404, so image ids of other teams do not leak. The targets are planned as a
 * build's are (release-plan.ts), with the image's own name, description and tags, and the
 * distribute-image workflow runs them: sharing in the build region first, then every copy in
 * parallel. Each target's result is in GET /builds/{id} of the build that made the image.
 */
import { DescribeImagesCommand, type Image, type Tag } from '@aws-sdk/client-ec2';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as z from 'zod';
import type { DistributionAccepted } from '../contract/api.ts';
import { formatFieldErrors, type FieldError } from '../contract/field-errors.ts';
import { BUILD_ID_TAG, TEAM_TAG, type DistributionInput } from '../contract/execution.ts';
import { TargetSchema } from '../contract/targets.ts';
import { MAX_TARGETS } from '../contract/bundle.ts';
import { callerOf, maySee, refuseForeignTargets } from './lib/access.ts';
import { ec2, sfn } from './lib/aws.ts';
import { distributeStateMachineArn, pollingConfig, stateMachine } from './lib/config.ts';
import { newDistributionId } from './lib/distributions.ts';
import { bodyBytes, httpHandler, json, pathParameter, ProblemError } from './lib/http.ts';
import { parseJsonBody } from './lib/json-body.ts';
import { planRelease } from './lib/release-plan.ts';

const DistributionRequestSchema = z.strictObject({
  targets: z.array(TargetSchema).min(1, 'name at least one target').max(MAX_TARGETS, `at most ${MAX_TARGETS} targets`),
});

const EXAMPLE = '{"targets": [{"region": "us-west-2"}, {"account": "123456789012", "region": "eu-west-1", "mode": "copy"}]}';

const tagValue = (image: Image, key: string): string | undefined => image.Tags?.find((tag) => tag.Key === key)?.Value;

function imageNotFound(imageId: string): ProblemError {
  return new ProblemError(404, 'ImageNotFound', `no image ${imageId} of your team in the factory's region`);
}

/** The factory's own image of the caller's team, or 404. */
async function findImage(imageId: string, canSee: (team: string) => boolean): Promise<Image> {
  if (!/^ami-[0-9a-f]{8,17}$/.test(imageId)) throw new ProblemError(400, 'InvalidRequest', `"${imageId}" is not an AMI id`);
  let image: Image | undefined;
  try {
    const { Images = [] } = await ec2().send(new DescribeImagesCommand({ ImageIds: [imageId], Owners: ['self'] }));
    image = Images[0];
  } catch (error) {
    if (error instanceof Error && error.name.startsWith('InvalidAMIID')) throw imageNotFound(imageId);
    throw error;
  }
  const team = image === undefined ? undefined : tagValue(image, TEAM_TAG);
  if (image === undefined || tagValue(image, BUILD_ID_TAG) === undefined || team === undefined || !canSee(team)) throw imageNotFound(imageId);
  if (image.State !== 'available') throw new ProblemError(409, 'ImageNotAvailable', `image ${imageId} is ${image.State ?? 'in an unknown state'}, not available`);
  return image;
}

/** The tags a copy gets: the image's own, less AWS's reserved ones. */
function copyTags(image: Image): Tag[] {
  return (image.Tags ?? []).filter((tag) => tag.Key !== undefined && !tag.Key.startsWith('aws:'));
}

export const handler = httpHandler(async (event, log) => {
  const machine = stateMachine();
  const caller = callerOf(event);
  const imageId = pathParameter(event, 'imageId');
  const { targets } = parseJsonBody(bodyBytes(event), DistributionRequestSchema, EXAMPLE);
  const image = await findImage(imageId, (team) => maySee(caller, { team, principal: '' }));
  const team = tagValue(image, TEAM_TAG) ?? '';
  // An admin re-distributes for the image's team, within that team's accounts.
  refuseForeignTargets(team, targets, machine.accountId);
  const buildId = tagValue(image, BUILD_ID_TAG) ?? '';
  const root = image.BlockDeviceMappings?.find((mapping) => mapping.DeviceName === image.RootDeviceName)?.Ebs;
  if (root?.SnapshotId === undefined) throw new ProblemError(409, 'ImageWithoutSnapshot', `image ${imageId} has no root snapshot to share`);

  const problems: FieldError[] = [];
  const tags = copyTags(image);
  const release = planRelease({
    copies: { name: image.Name ?? imageId, description: image.Description ?? '', regions: [], regionKmsKeyIds: {}, encrypt: false, skipSaveBuildRegion: false },
    buildId,
    build: { accountId: machine.accountId, region: machine.region },
    targets,
    buildRegion: { launchPermission: null, snapshotPermission: null, productCodes: null, deprecateAt: null, deregistrationProtection: null },
    imageTags: tags,
    snapshotTags: tags,
    // The copy fails at EC2 with its own error if the key cannot be used: the image does not say which key it has.
    encryptedWithManagedKey: false,
    builderPath: (...keys) => keys.join('.'),
    add: (path, message) => problems.push({ path, message }),
  });
  if (problems.length > 0) throw new ProblemError(400, 'InvalidDistributionPlan', formatFieldErrors(problems, { separator: '; ' }), problems);

  const distributionId = newDistributionId(buildId);
  const input: DistributionInput = {
    buildId: distributionId,
    image: { ImageId: imageId },
    snapshot: { SnapshotId: root.SnapshotId },
    target: { region: machine.region, accountId: machine.accountId },
    distribution: {
      ...release.buildRegion,
      productCodes: null,
      deprecateAt: null,
      deregistrationProtection: null,
      images: release.images,
      skipSaveBuildRegion: false,
    },
    polling: pollingConfig(),
    announced: { buildId, team, amiName: image.Name ?? '' },
  };
  await sfn().send(new StartExecutionCommand({ stateMachineArn: distributeStateMachineArn(), name: distributionId, input: JSON.stringify(input) }));
  log.info({ distributionId, imageId, buildId, targets: targets.length, principal: caller.principal }, 'distribution started');
  const answer: DistributionAccepted = { distributionId, buildId, imageId, status: 'RUNNING', links: { build: `/builds/${buildId}` } };
  return json(202, answer, { location: `/builds/${buildId}` });
});
