/**
 * The regional-call function: makes the EC2 calls the workflow cannot make itself, in another
 * region or account (contract/regional-call.ts), and answers each through its task token.
 * Triggered by the regional-calls queue (in batches); the local factory feeds it the same
 * events from the same queue.
 *
 * A call's own failure (an EC2 error) is the task's failure, named as EC2 names it, for the
 * workflow's Retry and Catch to judge. Only a failure to answer makes the message fail, so
 * SQS delivers it again: the call is then repeated, which the workflow makes safe (CopyImage
 * carries a ClientToken; the other actions are idempotent).
 */
import {
  CopyImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  EnableImageDeprecationCommand,
  EnableImageDeregistrationProtectionCommand,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  type CopyImageRequest,
  type CreateTagsRequest,
  type DeleteSnapshotRequest,
  type DeregisterImageRequest,
  type EC2Client,
  type Image,
  type EnableImageDeprecationRequest,
  type EnableImageDeregistrationProtectionRequest,
  type ModifyImageAttributeRequest,
  type ModifySnapshotAttributeRequest,
} from '@aws-sdk/client-ec2';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { INVALID_REGIONAL_CALL, RegionalCallTaskSchema, type RegionalAction, type RegionalCall } from '../contract/regional-call.ts';
import { failureOf, sendFailure, sendSuccess } from '../contract/task-token.ts';
import { sfn } from './lib/aws.ts';
import { stateMachine } from './lib/config.ts';
import { logger } from './lib/log.ts';
import { ec2For } from './lib/target-clients.ts';
import { readTaskMessage } from './lib/task-message.ts';

type Send = (client: EC2Client, parameters: Record<string, unknown>) => Promise<object>;

/** Each accepted action and its command; the request is EC2's to judge, so it is passed as given. */
const COMMANDS: Record<RegionalAction, Send> = {
  CopyImage: (client, parameters) => client.send(new CopyImageCommand(parameters as unknown as CopyImageRequest)),
  DescribeImages: (client, parameters) => client.send(new DescribeImagesCommand(parameters)),
  CreateTags: (client, parameters) => client.send(new CreateTagsCommand(parameters as unknown as CreateTagsRequest)),
  ModifyImageAttribute: (client, parameters) => client.send(new ModifyImageAttributeCommand(parameters as unknown as ModifyImageAttributeRequest)),
  ModifySnapshotAttribute: (client, parameters) => client.send(new ModifySnapshotAttributeCommand(parameters as unknown as ModifySnapshotAttributeRequest)),
  EnableImageDeprecation: (client, parameters) => client.send(new EnableImageDeprecationCommand(parameters as unknown as EnableImageDeprecationRequest)),
  EnableImageDeregistrationProtection: (client, parameters) =>
    client.send(new EnableImageDeregistrationProtectionCommand(parameters as unknown as EnableImageDeregistrationProtectionRequest)),
  DeregisterImage: (client, parameters) => client.send(new DeregisterImageCommand(parameters as unknown as DeregisterImageRequest)),
  DeleteSnapshot: (client, parameters) => client.send(new DeleteSnapshotCommand(parameters as unknown as DeleteSnapshotRequest)),
};

/**
 * Each image of a DescribeImages answer also carries its snapshot ids (`SnapshotIds`) and its
 * root device's (`RootSnapshotId`, or null): a JSONPath wildcard over the mappings reads as a
 * list in some engines and a scalar in others when there is one, so the workflow never uses one.
 */
function withSnapshotIds(answer: Record<string, unknown>): Record<string, unknown> {
  const images = answer.Images as Image[] | undefined;
  if (images === undefined) return answer;
  return {
    ...answer,
    Images: images.map((image) => {
      const mappings = image.BlockDeviceMappings ?? [];
      const snapshotIds = mappings.flatMap((mapping) => (mapping.Ebs?.SnapshotId === undefined ? [] : [mapping.Ebs.SnapshotId]));
      const root = mappings.find((mapping) => mapping.DeviceName === image.RootDeviceName)?.Ebs?.SnapshotId ?? null;
      return { ...image, SnapshotIds: snapshotIds, RootSnapshotId: root };
    }),
  };
}

/** EC2's answer without the SDK's `$metadata`, as the SDK integrations answer. */
async function call(buildId: string, request: RegionalCall): Promise<unknown> {
  const machine = stateMachine();
  const client = await ec2For(
    { factoryAccountId: machine.accountId, partition: machine.partition, sessionName: `ami-factory-${buildId}` },
    { accountId: request.accountId, region: request.region },
  );
  try {
    const answer: Record<string, unknown> = { ...(await COMMANDS[request.action](client, request.parameters)) };
    delete answer.$metadata;
    return request.action === 'DescribeImages' ? withSnapshotIds(answer) : answer;
  } finally {
    client.destroy();
  }
}

async function handle(record: SQSRecord): Promise<void> {
  const task = await readTaskMessage(record, RegionalCallTaskSchema, { error: INVALID_REGIONAL_CALL, what: 'regional call' });
  if (task === undefined) return;
  const { taskToken, buildId, call: request } = task;
  const log = logger.child({ buildId, action: request.action, region: request.region, accountId: request.accountId });
  let outcome;
  try {
    const answer = await call(buildId, request);
    log.info('regional call made');
    outcome = await sendSuccess(sfn(), taskToken, answer);
  } catch (error) {
    const failure = failureOf(error);
    log.warn({ error: failure.error, cause: failure.cause }, 'regional call failed');
    outcome = await sendFailure(sfn(), taskToken, failure);
  }
  if (outcome === 'task-gone') log.warn('the workflow no longer waits for this call (stopped or timed out)');
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  // One at a time: a batch is a handful of calls of one or a few builds, each a short request.
  for (const record of event.Records) {
    try {
      await handle(record);
    } catch (error) {
      logger.error({ err: error, messageId: record.messageId }, 'could not answer a regional call; SQS delivers it again');
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
