/**
 * This host's own queue, `<prefix>-host-<instanceId>`: every task of a build after the claim
 * comes through it (docs/architecture.md, Routing). The host makes it itself at start-up, so
 * adding a host to the factory needs no change elsewhere; CreateQueue with the same
 * attributes is idempotent, so a restart just gets the same URL back.
 *
 * Messages the worker cannot handle after a few receives move to `<name>-dlq` for people to
 * read; the worker acknowledges a task once it is safely in its ledger, so only a host that
 * keeps failing to read its own state ever fills it.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export function hostQueueName(prefix: string, instanceId: string): string {
  return `${prefix}-host-${instanceId}`;
}

const MAX_RECEIVES = 5;
/** SQS's maximum, and the age past which the task ledger forgets a build. */
export const RETENTION_SECONDS = 14 * 24 * 3600;

export async function ensureHostQueue(sqs: SQSClient, prefix: string, instanceId: string): Promise<string> {
  const name = hostQueueName(prefix, instanceId);
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}-dlq`, Attributes: { MessageRetentionPeriod: String(RETENTION_SECONDS) } }),
  );
  if (dlq.QueueUrl === undefined) throw new Error(`CreateQueue ${name}-dlq returned no URL`);
  const attributes = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
  const dlqArn = attributes.Attributes?.QueueArn;
  if (dlqArn === undefined) throw new Error(`GetQueueAttributes ${name}-dlq returned no QueueArn`);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        MessageRetentionPeriod: String(RETENTION_SECONDS),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: MAX_RECEIVES }),
      },
    }),
  );
  if (queue.QueueUrl === undefined) throw new Error(`CreateQueue ${name} returned no URL`);
  return queue.QueueUrl;
}
