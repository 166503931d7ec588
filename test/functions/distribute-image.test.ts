/**
 * POST /images/{imageId}/distributions against the local AWS: an image of a finished build
 * is copied into a second region and shared with a target account of its team, without a
 * rebuild; the results show in GET /builds/{id} and in a Build Distributed event on a rule's
 * queue. Images of other teams, images the factory did not make, and accounts outside the
 * team's targetAccounts are refused.
 */
import { CreateSnapshotCommand, CreateTagsCommand, CreateVolumeCommand, DescribeImageAttributeCommand, DescribeImagesCommand, EC2Client, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { DeleteRuleCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_DISTRIBUTED, BuildDistributedDetailSchema, FACTORY_EVENT_SOURCE } from '../../contract/events.ts';
import { BUILD_ID_TAG, DistributionOutputSchema, TEAM_TAG } from '../../contract/execution.ts';
import { handler as distribute } from '../../functions/distribute-image.ts';
import { handler as getBuild } from '../../functions/get-build.ts';
import { handler as submit } from '../../functions/submit-build.ts';
import { createQueue } from '../support/local-aws.ts';
import { FINISHING_WORKFLOW } from './stand-in-workflows.ts';
import {
  ACCOUNT_ID, apiEvent, bundle, call, IMAGES_TARGET_ACCOUNT, OTHER_TEAM_CALLER, REGION, startLocalAws, submitEvent, waitForStatus, type LocalAws,
} from './support.ts';

const SECOND_REGION = 'us-west-2';
const RULE = 'ami-factory-test-distributions';

let aws: LocalAws;
let events: EventBridgeClient;
let eventsQueueUrl: string;
let buildId: string;
let imageId: string;
let otherTeamImage: string;
const west = (): EC2Client => new EC2Client({ ...aws.clientConfig, region: SECOND_REGION });

/** An image as a build of the team makes it: tagged with the build id and the team, with a root snapshot. */
async function factoryImage(name: string, tags: Record<string, string>): Promise<string> {
  const { VolumeId } = await aws.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8 }));
  const { SnapshotId } = await aws.ec2.send(new CreateSnapshotCommand({ VolumeId }));
  const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const { ImageId } = await aws.ec2.send(
    new RegisterImageCommand({
      Name: name,
      RootDeviceName: '/dev/xvda',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId, VolumeSize: 8 } }],
    }),
  );
  // As the workflow does: the local AWS drops RegisterImage's TagSpecifications.
  await aws.ec2.send(new CreateTagsCommand({ Resources: [ImageId ?? ''], Tags }));
  return ImageId ?? '';
}

function distributionEvent(image: string, body: unknown, caller?: string) {
  return apiEvent('POST', '/images/{imageId}/distributions', { pathParameters: { imageId: image }, body: JSON.stringify(body), ...(caller === undefined ? {} : { caller }) });
}

beforeAll(async () => {
  aws = await startLocalAws();
  const finishing = await aws.createStateMachine('build-image-finishing-distribution', FINISHING_WORKFLOW);
  aws.useStateMachine(finishing);
  const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: await aws.registerImage('debian-12-base'), ami_name: 'web-base' }) }));
  buildId = answer.body.buildId as string;
  await waitForStatus(aws.sfn, `${finishing.replace(':stateMachine:', ':execution:')}:${buildId}`, (status) => status === 'SUCCEEDED');
  imageId = await factoryImage('web-base', { [BUILD_ID_TAG]: buildId, [TEAM_TAG]: 'images', os: 'debian' });
  otherTeamImage = await factoryImage('web-team-image', { [BUILD_ID_TAG]: 'b-0000000000otherteam000000', [TEAM_TAG]: 'web' });

  events = new EventBridgeClient(aws.clientConfig);
  eventsQueueUrl = await createQueue(aws.sqs, 'ami-factory-test-distribution-events', {});
  const { Attributes } = await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: eventsQueueUrl, AttributeNames: ['QueueArn'] }));
  const EventBusName = aws.resources.eventBusName;
  await events.send(new PutRuleCommand({ Name: RULE, EventBusName, EventPattern: JSON.stringify({ source: [FACTORY_EVENT_SOURCE], 'detail-type': [BUILD_DISTRIBUTED] }) }));
  await events.send(new PutTargetsCommand({ Rule: RULE, EventBusName, Targets: [{ Id: 'team-queue', Arn: Attributes?.QueueArn }] }));
});

afterAll(async () => {
  await events.send(new RemoveTargetsCommand({ Rule: RULE, EventBusName: aws.resources.eventBusName, Ids: ['team-queue'] }));
  await events.send(new DeleteRuleCommand({ Name: RULE, EventBusName: aws.resources.eventBusName }));
  events.destroy();
  await aws.stop();
});

describe('POST /images/{imageId}/distributions', () => {
  it('copies the image into a second region and shares it with a target account, without a rebuild', async () => {
    const answer = await call(distribute, distributionEvent(imageId, { targets: [{ region: SECOND_REGION }, { account: IMAGES_TARGET_ACCOUNT, region: REGION }] }));
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const distributionId = answer.body.distributionId as string;
    expect(answer.body).toMatchObject({ buildId, imageId, status: 'RUNNING', links: { build: `/builds/${buildId}` } });
    expect(distributionId.startsWith(`${buildId}.d-`)).toBe(true);

    const executionArn = `${aws.resources.distributeStateMachineArn.replace(':stateMachine:', ':execution:')}:${distributionId}`;
    expect(await waitForStatus(aws.sfn, executionArn, (status) => status !== 'RUNNING')).toBe('SUCCEEDED');
    const { output } = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
    const { amis } = DistributionOutputSchema.parse(JSON.parse(output ?? '{}'));
    expect(amis.map((image) => [image.accountId, image.region, image.state])).toEqual([
      [ACCOUNT_ID, REGION, 'available'],
      [ACCOUNT_ID, SECOND_REGION, 'available'],
    ]);

    // The share: a launch permission on the image in the build region.
    const permissions = await aws.ec2.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
    expect(permissions.LaunchPermissions).toEqual([{ UserId: IMAGES_TARGET_ACCOUNT }]);
    // The copy: its own image in the second region, with the image's tags.
    const copyId = amis[1]?.imageId ?? '';
    const client = west();
    const { Images = [] } = await client.send(new DescribeImagesCommand({ ImageIds: [copyId] }));
    client.destroy();
    expect(Images[0]?.Name).toBe('web-base');
    expect(Images[0]?.Tags).toEqual(expect.arrayContaining([{ Key: BUILD_ID_TAG, Value: buildId }, { Key: TEAM_TAG, Value: 'images' }, { Key: 'os', Value: 'debian' }]));

    // GET /builds/{id} of the build that made it lists the distribution with its images.
    const build = await call(getBuild, apiEvent('GET', '/builds/{id}', { pathParameters: { id: buildId } }));
    expect(build.body.distributions).toEqual([{ distributionId, status: 'SUCCEEDED', startedAt: expect.any(String) as string, amis }]);

    // Build Distributed, on a rule's queue.
    const { Messages = [] } = await aws.sqs.send(new ReceiveMessageCommand({ QueueUrl: eventsQueueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 }));
    const delivered = Messages.map((message) => JSON.parse(message.Body ?? '{}') as { source: string; 'detail-type': string; detail: unknown });
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ source: FACTORY_EVENT_SOURCE, 'detail-type': BUILD_DISTRIBUTED });
    expect(BuildDistributedDetailSchema.parse(delivered[0]?.detail)).toEqual({ buildId, team: 'images', amiName: 'web-base', amis });
  });

  it('refuses accounts outside the team\'s targetAccounts, naming each target', async () => {
    const answer = await call(distribute, distributionEvent(imageId, { targets: [{ region: SECOND_REGION }, { account: '999999999999', region: REGION, mode: 'copy' }] }));
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: 'TargetAccountNotAllowed', errors: [{ path: 'targets[1].account' }] });
  });

  it('names every bad field of the body at once', async () => {
    const answer = await call(distribute, distributionEvent(imageId, { targets: [{ region: 'mars' }, { account: '12', region: REGION, mode: 'lend' }] }));
    expect(answer.status).toBe(400);
    expect((answer.body.errors as { path: string }[]).map((error) => error.path).sort()).toEqual(['targets[0].region', 'targets[1].account', 'targets[1].mode']);
  });

  it('answers 404 for another team\'s image, an image the factory did not make, and an unknown one', async () => {
    const foreign = await aws.registerImage('not-from-the-factory');
    for (const image of [otherTeamImage, foreign, 'ami-0123456789abcdef0']) {
      const answer = await call(distribute, distributionEvent(image, { targets: [{ region: SECOND_REGION }] }));
      expect(answer.status, image).toBe(404);
      expect(answer.body.error).toBe('ImageNotFound');
    }
    // The other team itself may.
    const theirs = await call(distribute, distributionEvent(otherTeamImage, { targets: [{ region: SECOND_REGION }] }, OTHER_TEAM_CALLER));
    expect(theirs.status).toBe(202);
  });
});
