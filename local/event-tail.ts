/**
 * The factory's events as a team would receive them, shown as they are published: an
 * EventBridge rule on the factory's bus matching source `ami-factory`, with a queue of its own
 * as the target (what a team sets up to route events to SNS, chat or a pipeline), read here
 * and handed to `onEvent`. The local AWS delivers to the queue as EventBridge does.
 */
import { DeleteRuleCommand, EventBridgeClient, PutRuleCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { FACTORY_EVENT_SOURCE } from '../contract/events.ts';

export interface FactoryEvent {
  'detail-type': string;
  time: string;
  detail: Record<string, unknown>;
}

export interface EventTail {
  stop(): Promise<void>;
}

const RULE = 'ami-factory-local-event-tail';
const TARGET = 'event-tail';

export async function tailFactoryEvents(options: {
  sqs: SQSClient;
  events: EventBridgeClient;
  eventBusName: string;
  onEvent: (event: FactoryEvent) => void;
  onError: (error: unknown) => void;
}): Promise<EventTail> {
  const { sqs, events, eventBusName } = options;
  const { QueueUrl: queueUrl = '' } = await sqs.send(new CreateQueueCommand({ QueueName: 'ami-factory-local-event-tail' }));
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  await events.send(new PutRuleCommand({ Name: RULE, EventBusName: eventBusName, EventPattern: JSON.stringify({ source: [FACTORY_EVENT_SOURCE] }) }));
  await events.send(new PutTargetsCommand({ Rule: RULE, EventBusName: eventBusName, Targets: [{ Id: TARGET, Arn: Attributes?.QueueArn }] }));
  let stopping = false;
  const consumer = Consumer.create({
    sqs,
    queueUrl,
    waitTimeSeconds: 1,
    pollingWaitTimeMs: 0,
    handleMessage: (message) => {
      options.onEvent(JSON.parse(message.Body ?? '{}') as FactoryEvent);
      return Promise.resolve(message);
    },
  });
  consumer.on('error', (error) => {
    if (!stopping) options.onError(error);
  });
  consumer.start();
  return {
    async stop() {
      stopping = true;
      consumer.stop({ abort: true });
      await events.send(new RemoveTargetsCommand({ Rule: RULE, EventBusName: eventBusName, Ids: [TARGET] }));
      await events.send(new DeleteRuleCommand({ Name: RULE, EventBusName: eventBusName }));
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    },
  };
}

/** One line for an event: its type, build, and the images it reports. */
export function describeEvent(event: FactoryEvent): string {
  const { detail } = event;
  const amis = Array.isArray(detail.amis)
    ? (detail.amis as { imageId?: string | null; region?: string; accountId?: string; state?: string }[])
        .map((ami) => `${ami.imageId ?? '-'} ${ami.accountId ?? ''}/${ami.region ?? ''} ${ami.state ?? ''}`.trim())
        .join(', ')
    : '';
  const error = typeof detail.error === 'string' ? ` ${detail.error}` : '';
  return `${event['detail-type']} ${String(detail.buildId)}${error}${amis === '' ? '' : `: ${amis}`}`;
}
