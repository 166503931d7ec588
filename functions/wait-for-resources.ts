/**
 * The resource-waits function (contract/resource-wait.ts): checks every wait of a batch with
 * one filtered describe per kind of resource, answers the waits that are over through their
 * task tokens, and puts each of the others back on the queue until its next check
 * (ChangeMessageVisibility, paced by wait-pacing.ts) by reporting it as a batch item failure.
 * The queue has no dead-letter queue: a wait ends when its resource is ready, can never be,
 * or its bound (checks after the first, SQS's receive count) is reached.
 *
 * Triggered by the resource-waits queue; the local factory feeds it the same events from the
 * same queue.
 */
import { ChangeMessageVisibilityCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { INVALID_RESOURCE_WAIT, RESOURCE_WAIT_ERRORS, ResourceWaitTaskSchema, type ResourceWaitTask } from '../contract/resource-wait.ts';
import { sendFailure, sendSuccess } from '../contract/task-token.ts';
import { ec2, sfn, sqs } from './lib/aws.ts';
import { logger } from './lib/log.ts';
import { describeState, judge, observe, pendingSnapshotCount, RESOURCE_OF, waitSubject, type Observation } from './lib/resource-checks.ts';
import { admit, pendingSnapshotLimit } from './lib/snapshot-admission.ts';
import { nextCheckInSeconds } from './lib/wait-pacing.ts';
import { readTaskMessage } from './lib/task-message.ts';

interface Waiting {
  record: SQSRecord;
  wait: ResourceWaitTask;
  /** Checks before this one. */
  checksSoFar: number;
  /** When the workflow asked. */
  since: Date;
}

/** The wait a record carries, with its checks so far; undefined once refused. */
async function waitingOf(record: SQSRecord): Promise<Waiting | undefined> {
  const wait = await readTaskMessage(record, ResourceWaitTaskSchema, { error: INVALID_RESOURCE_WAIT, what: 'resource wait' });
  if (wait === undefined) return undefined;
  // Lambda always passes both; a hand-made event may not (NaN then).
  const attributes: Partial<SQSRecord['attributes']> = record.attributes;
  const received = Number.parseInt(attributes.ApproximateReceiveCount ?? '1', 10);
  const sent = Number.parseInt(attributes.SentTimestamp ?? '', 10);
  return { record, wait, checksSoFar: Math.max(0, (Number.isFinite(received) ? received : 1) - 1), since: new Date(Number.isFinite(sent) ? sent : Date.now()) };
}

const queueUrls = new Map<string, Promise<string>>();

/** The queue's URL from its ARN (arn:aws:sqs:region:account:name), looked up once. */
function queueUrlOf(queueArn: string): Promise<string> {
  let url = queueUrls.get(queueArn);
  if (url === undefined) {
    const [, , , , account, name] = queueArn.split(':');
    url = sqs()
      .send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }))
      .then((answer) => answer.QueueUrl ?? Promise.reject(new Error(`no URL for ${queueArn}`)));
    url.catch(() => queueUrls.delete(queueArn));
    queueUrls.set(queueArn, url);
  }
  return url;
}

/** Answers one wait, or schedules its next check; true when the message is done with. */
async function settle(waiting: Waiting, seen: Observation | undefined, now: Date): Promise<boolean> {
  const { wait, checksSoFar } = waiting;
  const log = logger.child({ buildId: wait.buildId, kind: wait.kind, resourceId: wait.resourceId });
  const verdict = judge(wait.kind, wait.resourceId, seen);
  const waitedSeconds = Math.round((now.getTime() - waiting.since.getTime()) / 1000);
  if (verdict.outcome === 'ready') {
    const outcome = await sendSuccess(sfn(), wait.taskToken, { state: seen?.state, checks: checksSoFar + 1, waitedSeconds });
    log.info({ checks: checksSoFar + 1, waitedSeconds, outcome }, 'wait over');
    return true;
  }
  const errors = RESOURCE_WAIT_ERRORS[wait.kind];
  if (verdict.outcome === 'failed') {
    await sendFailure(sfn(), wait.taskToken, { error: errors.failed, cause: verdict.reason });
    log.warn({ reason: verdict.reason }, 'wait failed');
    return true;
  }
  if (checksSoFar >= wait.maxAttempts) {
    const cause = `${waitSubject(wait.kind, wait.resourceId)} is still ${describeState(seen)} after ${checksSoFar} check${checksSoFar === 1 ? '' : 's'} over ${waitedSeconds} s`;
    await sendFailure(sfn(), wait.taskToken, { error: errors.timedOut, cause });
    log.warn({ cause }, 'wait gave up');
    return true;
  }
  const pauseSeconds = nextCheckInSeconds({ seen, checksSoFar, intervalSeconds: wait.intervalSeconds, now });
  await sqs().send(
    new ChangeMessageVisibilityCommand({
      QueueUrl: await queueUrlOf(waiting.record.eventSourceARN),
      ReceiptHandle: waiting.record.receiptHandle,
      VisibilityTimeout: pauseSeconds,
    }),
  );
  return false;
}

export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  const waitings: Waiting[] = [];
  for (const record of event.Records) {
    try {
      const waiting = await waitingOf(record);
      if (waiting !== undefined) waitings.push(waiting);
    } catch (error) {
      // An invalid wait whose task could not be failed: only this message comes back.
      logger.error({ err: error, messageId: record.messageId }, 'could not fail an invalid resource wait; SQS delivers it again');
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  const byResource = Map.groupBy(waitings, (waiting) => RESOURCE_OF[waiting.wait.kind]);
  await Promise.all(
    [...byResource].map(async ([resource, group]) => {
      let seenBy: (waiting: Waiting) => Observation | undefined;
      try {
        if (resource === 'account') {
          const decided = admit(group, await pendingSnapshotCount(ec2()), pendingSnapshotLimit());
          seenBy = (waiting) => decided.get(waiting);
        } else {
          const seen = await observe(ec2(), resource, [...new Set(group.map((waiting) => waiting.wait.resourceId))]);
          seenBy = (waiting) => seen.get(waiting.wait.resourceId);
        }
      } catch (error) {
        // Throttled or EC2 unavailable (after the client's own retries): check again on the
        // next delivery, which SQS makes after the queue's visibility timeout.
        logger.warn({ err: error, resource, waits: group.length }, 'could not check; SQS delivers the waits again');
        for (const waiting of group) batchItemFailures.push({ itemIdentifier: waiting.record.messageId });
        return;
      }
      const now = new Date();
      await Promise.all(
        group.map(async (waiting) => {
          try {
            if (!(await settle(waiting, seenBy(waiting), now))) batchItemFailures.push({ itemIdentifier: waiting.record.messageId });
          } catch (error) {
            logger.error({ err: error, messageId: waiting.record.messageId }, 'could not answer a resource wait; SQS delivers it again');
            batchItemFailures.push({ itemIdentifier: waiting.record.messageId });
          }
        }),
      );
    }),
  );
  return { batchItemFailures };
}
