/**
 * The factory's build events (docs/architecture.md, "Events"), as a team receives them: an
 * EventBridge rule on the factory's bus matching source `ami-factory`, with a queue as its
 * target, gets Build Started and Build Succeeded from the workflow, and Build Failed from the
 * clean-up function once it cleaned. Each detail is checked against its contract schema.
 */
import { DeleteRuleCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUILD_FAILED,
  BUILD_STARTED,
  BUILD_SUCCEEDED,
  BuildFailedDetailSchema,
  BuildStartedDetailSchema,
  BuildSucceededDetailSchema,
  FACTORY_EVENT_SOURCE,
} from '../../contract/events.ts';
import { ExecutionOutputSchema, type ExecutionInput } from '../../contract/execution.ts';
import { callsTo } from '../support/executions.ts';
import { createQueue, LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../support/local-aws.ts';
import { buildImageInput } from './support/build-input.ts';
import { cleanUpAfter, runBuild, startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

const RULE = 'ami-factory-test-build-events';
const OWNER = { team: 'platform', principal: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/alice` };

let local: LocalBuildImage;
/** Undefined until the rule exists: afterAll removes only what beforeAll made. */
let events: EventBridgeClient | undefined;
let queueUrl: string;

/** One delivered event, as the rule's queue holds it. */
interface Delivered {
  source: string;
  'detail-type': string;
  detail: { buildId?: string } & Record<string, unknown>;
}

/** Every event seen so far, by build id: the queue is shared by the file's builds. */
const received = new Map<string, Delivered[]>();

beforeAll(async () => {
  local = await startLocalBuildImage();
  const { aws } = local;
  const client = new EventBridgeClient(aws.clientConfig);
  queueUrl = await createQueue(aws.clients.sqs, 'ami-factory-test-team-events', {});
  const { Attributes } = await aws.clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const Rule = RULE;
  const EventBusName = aws.resources.eventBusName;
  await client.send(new PutRuleCommand({ Name: Rule, EventBusName, EventPattern: JSON.stringify({ source: [FACTORY_EVENT_SOURCE] }) }));
  await client.send(new PutTargetsCommand({ Rule, EventBusName, Targets: [{ Id: 'team-queue', Arn: Attributes?.QueueArn }] }));
  events = client;
});

afterAll(async () => {
  if (events !== undefined) {
    const EventBusName = local.aws.resources.eventBusName;
    await events.send(new RemoveTargetsCommand({ Rule: RULE, EventBusName, Ids: ['team-queue'] }));
    await events.send(new DeleteRuleCommand({ Name: RULE, EventBusName }));
    events.destroy();
  }
  await local.stop();
});

/** The build's events once `count` arrived, in the order published, or what arrived within `waitMs`. */
async function eventsOf(buildId: string, count: number, waitMs = 10_000): Promise<Delivered[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const seen = received.get(buildId) ?? [];
    if (seen.length >= count || Date.now() > deadline) return seen;
    const { Messages } = await local.aws.clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: 10 }));
    for (const message of Messages ?? []) {
      const event = JSON.parse(message.Body ?? '{}') as Delivered;
      const id = event.detail.buildId ?? '';
      received.set(id, [...(received.get(id) ?? []), event]);
      await local.aws.clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }
}

function input(owner: ExecutionInput['owner']): ExecutionInput {
  return { ...buildImageInput({ sourceSnapshotId: local.sourceSnapshotId }), owner };
}

describe('a successful build', () => {
  it('publishes Build Started after the claim and Build Succeeded with the output\'s images', async () => {
    const build = input(OWNER);

    const result = await runBuild(local, build);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    // The output is unchanged by the announcements: still { buildId, amis } alone.
    const output = ExecutionOutputSchema.strict().parse(result.output);
    const delivered = await eventsOf(build.buildId, 2);
    expect(delivered.map((event) => [event.source, event['detail-type']])).toEqual([
      [FACTORY_EVENT_SOURCE, BUILD_STARTED],
      [FACTORY_EVENT_SOURCE, BUILD_SUCCEEDED],
    ]);
    expect(BuildStartedDetailSchema.strict().parse(delivered[0]?.detail)).toEqual({
      buildId: build.buildId,
      team: OWNER.team,
      amiName: build.registerImage.Name,
      targets: [{ region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }],
    });
    expect(BuildSucceededDetailSchema.strict().parse(delivered[1]?.detail)).toEqual({
      buildId: build.buildId,
      team: OWNER.team,
      amiName: build.registerImage.Name,
      amis: output.amis,
    });
    expect(output.amis[0]?.imageId).toMatch(/^ami-/);
    // Sent to the factory's own bus, which the definition names through its substitution.
    const published = callsTo(result.events, 'events:putEvents').map((call) => call.Entries as { EventBusName: string }[]);
    expect(published.map((entries) => entries.map((entry) => entry.EventBusName))).toEqual([
      [local.aws.resources.eventBusName],
      [local.aws.resources.eventBusName],
    ]);
  });
});

describe('a failing build', () => {
  it('publishes Build Failed with the error once the clean-up function cleaned, team null without an owner', async () => {
    const build = input(null);
    local.worker.script(build.buildId, { provision: { fail: { error: 'ProvisionerFailed', cause: 'shell provisioner exited with 3' } } });

    const result = await runBuild(local, build);
    expect(result.status).toBe('FAILED');
    // Only the start: the workflow announces no failure itself.
    expect(await eventsOf(build.buildId, 2, 2_000)).toHaveLength(1);

    const report = await cleanUpAfter(result);

    const delivered = await eventsOf(build.buildId, 2);
    expect(delivered.map((event) => event['detail-type'])).toEqual([BUILD_STARTED, BUILD_FAILED]);
    expect(BuildStartedDetailSchema.parse(delivered[0]?.detail).team).toBeNull();
    const failed = BuildFailedDetailSchema.strict().parse(delivered[1]?.detail);
    expect(failed).toEqual({
      buildId: build.buildId,
      team: null,
      amiName: build.registerImage.Name,
      status: 'FAILED',
      error: 'ProvisionerFailed',
      cause: result.cause ?? null,
      cleanedUp: true,
    });
    expect(report.publishedFailure).toEqual(failed);
    // Published after the volume was gone, not before.
    expect(report.deletedVolumes).toHaveLength(1);
  });
});
