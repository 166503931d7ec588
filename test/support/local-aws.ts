/**
 * The local AWS the suites share: an engine (moto, or LocalStack when chosen: engine.ts) that
 * runs state machine executions, holding the factory's resources as serverless.yml deploys
 * them. The claims queue (with its dead-letter redrive), the artifacts bucket, the event bus and the build-image state machine, whose definition is the
 * real one from statemachine/, filled in by `loadBuildImageDefinition` as the deployment's
 * DefinitionSubstitutions fill it. Executions run for real, so a worker (real or fake) gets
 * real task tokens and the workflow makes real (local) volumes, snapshots and images.
 *
 * The resources are made directly rather than from a packaged template (as the local factory
 * does): packaging runs the Serverless Framework, which takes longer than most suites.
 */
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_REGION } from '../../local/factory-resources.ts';
import { useAwsClientConfig } from '../../functions/lib/aws.ts';
import { logger } from '../../functions/lib/log.ts';
import { watchExecutions } from '../../local/execution-events.ts';
import { LAMBDA_POLLERS, QUEUE_FUNCTIONS, triggerFromQueue } from '../../local/queue-trigger.ts';
import { loadBuildImageDefinition, loadDistributeImageDefinition } from '../../statemachine/definition.ts';
import { createAwsClients, type AwsClients } from '../../worker/daemon/context.ts';
import { LOCAL_ACCOUNT_ID, startEngine, type Engine } from './engine.ts';
import type { AwsModelProfile } from '../../local/aws-model/index.ts';

export { LOCAL_ACCOUNT_ID, LOCAL_REGION };

/** The clients a worker takes, all on the local AWS. */
export type LocalAwsClients = AwsClients;

/** What the deployment's stack outputs name (serverless.yml, Outputs), here in the local AWS. */
export interface LocalFactoryResources {
  claimsQueueUrl: string;
  claimsDeadLetterQueueUrl: string;
  /** What the regional-call function reads: the workflow's EC2 calls in other regions and accounts. */
  regionalCallsQueueUrl: string;
  /** What the resource-waits function reads: the workflow's waits for volumes, snapshots and images. */
  resourceWaitsQueueUrl: string;
  /** The volume pool tender's queue (builds that took a pooled volume ask for a refill). */
  volumePoolsQueueUrl: string;
  /** Hosts name their own queue `<prefix>-host-<instanceId>`. */
  hostQueuePrefix: string;
  artifactsBucket: string;
  /** The build-image state machine, with the real definition. */
  stateMachineArn: string;
  /** The distribute-image state machine, with the real definition. */
  distributeStateMachineArn: string;
  /**
   * The bus the factory publishes its events on: a bus of its own here rather than the
   * deployment's default one, so an event that reaches it proves the bus name is honoured.
   */
  eventBusName: string;
}

export interface LocalAws {
  /** Which engine runs it, for the few answers in which the engines differ. */
  engine: Engine;
  endpoint: string;
  region: string;
  accountId: string;
  /** Settings for any further client on the local AWS. */
  clientConfig: Engine['clientConfig'];
  clients: LocalAwsClients;
  resources: LocalFactoryResources;
  /** Another state machine next to the factory's, e.g. a stand-in that ends at once. */
  createStateMachine(name: string, definition: string | object): Promise<string>;
  /**
   * Starts an execution named after the build id, as the submit function does; on the
   * factory's state machine unless another is given. Returns its ARN.
   */
  startExecution(input: { buildId: string }, stateMachineArn?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface LocalAwsOptions {
  /** Stands for the deployment's stage: every name starts with `ami-factory-<stage>`. */
  stage?: string;
  /**
   * Runs the clean-up function when an execution of the factory's state machine ends FAILED,
   * TIMED_OUT or ABORTED, as the deployment's EventBridge rule does (the local factory's
   * watcher): the workflow itself undoes nothing.
   */
  cleanUpFailedBuilds?: boolean;
  /** Runs moto behind the model of EC2's latencies and throttling (local/aws-model). */
  awsModel?: AwsModelProfile;
}

/** The clean-up function's environment, as the deployment gives it, pointed at the local AWS. */
export function useCleanUpFunction(aws: Pick<LocalAws, 'clientConfig' | 'resources'>): void {
  useAwsClientConfig(aws.clientConfig);
  logger.level = 'silent';
  process.env.HOST_QUEUE_PREFIX = aws.resources.hostQueuePrefix;
  process.env.STATE_MACHINE_ARN = aws.resources.stateMachineArn;
  process.env.EVENT_BUS_NAME = aws.resources.eventBusName;
  // The local engines detach at once: a second is plenty before a forced detach.
  process.env.DETACH_WAIT_SECONDS = '1';
  process.env.DETACH_POLL_SECONDS = '0';
}

/** Neither engine checks the role; the ARN only has to look like one. */
const roleArn = (name: string): string => `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${name}`;

export async function startLocalAws(options: LocalAwsOptions = {}): Promise<LocalAws> {
  const prefix = `ami-factory-${options.stage ?? 'test'}`;
  const engine = await startEngine(LOCAL_REGION, options.awsModel === undefined ? {} : { awsModel: options.awsModel });
  const { clientConfig } = engine;
  const clients: LocalAwsClients = createAwsClients(clientConfig);
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const step of stops) await step();
    clients.ec2.destroy();
    clients.s3.destroy();
    clients.sfn.destroy();
    clients.sqs.destroy();
    await engine.stop();
  };
  try {
    const createStateMachine = async (name: string, definition: string | object): Promise<string> => {
      const { stateMachineArn } = await clients.sfn.send(
        new CreateStateMachineCommand({
          name,
          definition: typeof definition === 'string' ? definition : JSON.stringify(definition),
          roleArn: roleArn(`${prefix}-state-machine`),
          type: 'STANDARD',
        }),
      );
      if (stateMachineArn === undefined) throw new Error(`CreateStateMachine ${name} returned no ARN`);
      return stateMachineArn;
    };
    const resources = await createFactoryResources(clients, clientConfig, prefix, createStateMachine);
    // The regional-call function answers every suite's copies, and the resource-waits function
    // its waits, as their queues' triggers would.
    useAwsClientConfig(clientConfig);
    process.env.STATE_MACHINE_ARN = resources.stateMachineArn;
    const regionalCalls = triggerFromQueue(clients.sqs, resources.regionalCallsQueueUrl, QUEUE_FUNCTIONS.regionalCall, (error) => {
      process.stderr.write(`regional call: ${String(error)}\n`);
    });
    stops.unshift(() => regionalCalls.stop());
    // Under the AWS model many builds wait at once (the benchmark): as many pollers as Lambda starts with.
    const pollers = options.awsModel === undefined ? 1 : LAMBDA_POLLERS;
    const resourceWaits = triggerFromQueue(
      clients.sqs,
      resources.resourceWaitsQueueUrl,
      QUEUE_FUNCTIONS.waitForResources,
      (error) => {
        process.stderr.write(`resource wait: ${String(error)}\n`);
      },
      { pollers },
    );
    stops.unshift(() => resourceWaits.stop());
    if (options.cleanUpFailedBuilds === true) {
      useCleanUpFunction({ clientConfig, resources });
      const watcher = watchExecutions(clients.sfn, resources.stateMachineArn, (error) => {
        process.stderr.write(`clean-up after a failed build: ${String(error)}\n`);
      }, 250);
      stops.unshift(async () => {
        await watcher.stop();
        useAwsClientConfig(undefined);
      });
    }
    return {
      engine,
      endpoint: engine.endpoint,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      clientConfig,
      clients,
      resources,
      createStateMachine,
      async startExecution(input, stateMachineArn = resources.stateMachineArn) {
        const { executionArn } = await clients.sfn.send(
          new StartExecutionCommand({ stateMachineArn, name: input.buildId, input: JSON.stringify(input) }),
        );
        if (executionArn === undefined) throw new Error(`StartExecution ${input.buildId} returned no ARN`);
        return executionArn;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The queues, bucket and state machine, with serverless.yml's names and queue settings. */
async function createFactoryResources(
  clients: LocalAwsClients,
  clientConfig: Engine['clientConfig'],
  prefix: string,
  createStateMachine: (name: string, definition: string) => Promise<string>,
): Promise<LocalFactoryResources> {
  const claimsDeadLetterQueueUrl = await createQueue(clients.sqs, `${prefix}-claims-dlq`, { MessageRetentionPeriod: '1209600' });
  const deadLetterArn = await queueArn(clients.sqs, claimsDeadLetterQueueUrl);
  const claimsQueueUrl = await createQueue(clients.sqs, `${prefix}-claims`, {
    VisibilityTimeout: '60',
    MessageRetentionPeriod: '345600',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: 5 }),
  });
  const regionalCallsQueueUrl = await createQueue(clients.sqs, `${prefix}-regional-calls`, { VisibilityTimeout: '60' });
  const resourceWaitsQueueUrl = await createQueue(clients.sqs, `${prefix}-resource-waits`, { VisibilityTimeout: '30' });
  const volumePoolsQueueUrl = await createQueue(clients.sqs, `${prefix}-volume-pools`, { VisibilityTimeout: '30' });
  const artifactsBucket = `${prefix}-artifacts`;
  await clients.s3.send(new CreateBucketCommand({ Bucket: artifactsBucket }));
  const eventBusName = `${prefix}-events`;
  const events = new EventBridgeClient(clientConfig);
  await events.send(new CreateEventBusCommand({ Name: eventBusName }));
  events.destroy();
  const stateMachineArn = await createStateMachine(
    `${prefix}-build-image`,
    loadBuildImageDefinition({ ClaimsQueueUrl: claimsQueueUrl, RegionalCallsQueueUrl: regionalCallsQueueUrl, ResourceWaitsQueueUrl: resourceWaitsQueueUrl, VolumePoolsQueueUrl: volumePoolsQueueUrl, EventBusName: eventBusName }),
  );
  const distributeStateMachineArn = await createStateMachine(
    `${prefix}-distribute-image`,
    loadDistributeImageDefinition({ RegionalCallsQueueUrl: regionalCallsQueueUrl, EventBusName: eventBusName }),
  );
  return { claimsQueueUrl, claimsDeadLetterQueueUrl, regionalCallsQueueUrl, resourceWaitsQueueUrl, volumePoolsQueueUrl, hostQueuePrefix: prefix, artifactsBucket, stateMachineArn, distributeStateMachineArn, eventBusName };
}

/** A queue with these attributes; its URL. */
export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (QueueUrl === undefined) throw new Error(`CreateQueue ${name} returned no URL`);
  return QueueUrl;
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }));
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`${queueUrl} has no QueueArn`);
  return arn;
}
