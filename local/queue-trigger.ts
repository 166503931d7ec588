/**
 * A queue's Lambda trigger, locally (the regional-call and resource-waits functions): messages
 * are received from the same queue and handed to the same function as the SQS event source
 * mapping hands them, in batches, with the system attributes Lambda passes
 * (ApproximateReceiveCount, SentTimestamp); a message the function reports as failed stays
 * on the queue for another try, visible again when its visibility timeout says. The
 * function's settings (STATE_MACHINE_ARN, the client configuration) are the caller's to set
 * first, as for the clean-up function.
 */
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { Consumer } from 'sqs-consumer';

export interface QueueTrigger {
  stop(): Promise<void>;
}

export type QueueHandler = (event: SQSEvent) => Promise<SQSBatchResponse>;

/** The functions a queue triggers, each loaded when first needed, as Lambda would load it. */
export const QUEUE_FUNCTIONS = {
  regionalCall: async (): Promise<QueueHandler> => (await import('../functions/regional-call.ts')).handler,
  waitForResources: async (): Promise<QueueHandler> => (await import('../functions/wait-for-resources.ts')).handler,
  tendVolumePools: async (): Promise<QueueHandler> => {
    const { handler } = await import('../functions/tend-volume-pools.ts');
    return async (event) => (await handler(event, { awsRequestId: 'local' })) as SQSBatchResponse;
  },
} as const;

/** A received message as the event source mapping hands it to the function. */
export function recordOf(message: Message, queueArn: string): SQSRecord {
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: { ...message.Attributes } as SQSRecord['attributes'],
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: queueArn.split(':')[3] ?? '',
  };
}

/**
 * Lambda's SQS event source mapping starts with five pollers, each invoking the function with
 * its own batch, and scales out from there. Locally one is enough for a few builds, and each
 * idle poller costs the local AWS a request a second; a burst of builds (the benchmark) asks
 * for Lambda's five, so its waits are not handled one batch at a time.
 */
export const LAMBDA_POLLERS = 5;

export function triggerFromQueue(
  sqs: SQSClient,
  queueUrl: string,
  loadHandler: () => Promise<QueueHandler>,
  onError: (error: unknown) => void,
  options: { pollers?: number } = {},
): QueueTrigger {
  const [, , host = '', account = '', name = ''] = queueUrl.split('/');
  const queueArn = `arn:aws:sqs:${host.split('.')[1] ?? 'us-east-1'}:${account}:${name}`;
  const consumers = Array.from({ length: options.pollers ?? 1 }, () => pollerOf(sqs, queueUrl, queueArn, loadHandler));
  let stopping = false;
  for (const consumer of consumers) {
    // Stopping aborts the long poll in flight: that is not an error.
    consumer.on('error', (error) => {
      if (!stopping) onError(error);
    });
    consumer.on('processing_error', onError);
    consumer.start();
  }
  return {
    async stop() {
      stopping = true;
      for (const consumer of consumers) consumer.stop({ abort: true });
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}

function pollerOf(sqs: SQSClient, queueUrl: string, queueArn: string, loadHandler: () => Promise<QueueHandler>): Consumer {
  return Consumer.create({
    sqs,
    queueUrl,
    batchSize: 10,
    waitTimeSeconds: 1,
    pollingWaitTimeMs: 0,
    messageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
    handleMessageBatch: async (messages) => {
      const handler = await loadHandler();
      const event: SQSEvent = { Records: messages.map((message) => recordOf(message, queueArn)) };
      const { batchItemFailures } = await handler(event);
      const failed = new Set(batchItemFailures.map((failure) => failure.itemIdentifier));
      return messages.filter((message) => !failed.has(message.MessageId ?? ''));
    },
  });
}
