/**
 * AWS clients, made once per Lambda container and reused by every invocation it serves
 * (connection reuse is most of a warm handler's speed).
 *
 * `AWS_ENDPOINT_URL` points every client at one endpoint, the local AWS; in-process callers
 * such as the tests and the local factory hand over a whole client configuration instead.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';

export interface AwsClientConfig {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

let override: AwsClientConfig | undefined;
const clients = new Map<string, unknown>();

/** Replaces the configuration of every client made from now on (local AWS, tests). */
export function useAwsClientConfig(config: AwsClientConfig | undefined): void {
  override = config;
  clients.clear();
}

/** The configuration clients are made with, for a client made elsewhere (another region or account). */
export function awsClientConfig(): AwsClientConfig {
  const config = clientConfig();
  delete config.forcePathStyle;
  return config;
}

function clientConfig(): AwsClientConfig & { forcePathStyle?: boolean } {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  const config: AwsClientConfig = { ...(endpoint ? { endpoint } : {}), ...override };
  // A local endpoint has no bucket subdomains.
  return config.endpoint === undefined ? config : { ...config, forcePathStyle: true };
}

function cached<T>(name: string, make: (config: ReturnType<typeof clientConfig>) => T): T {
  let client = clients.get(name) as T | undefined;
  if (client === undefined) {
    client = make(clientConfig());
    clients.set(name, client);
  }
  return client;
}

/**
 * EC2's request buckets are the account's, shared by every build and host: a throttled call
 * is retried more than the SDK's default 3 times (its backoff is exponential and jittered).
 */
export const EC2_MAX_ATTEMPTS = 8;

export const ec2 = (): EC2Client => cached('ec2', ({ forcePathStyle: _, ...config }) => new EC2Client({ maxAttempts: EC2_MAX_ATTEMPTS, ...config }));
export const eventBridge = (): EventBridgeClient => cached('eventbridge', ({ forcePathStyle: _, ...config }) => new EventBridgeClient(config));
export const s3 = (): S3Client => cached('s3', (config) => new S3Client(config));
export const sfn = (): SFNClient => cached('sfn', ({ forcePathStyle: _, ...config }) => new SFNClient(config));
export const secretsManager = (): SecretsManagerClient =>
  cached('secretsmanager', ({ forcePathStyle: _, ...config }) => new SecretsManagerClient(config));
export const sqs = (): SQSClient => cached('sqs', ({ forcePathStyle: _, ...config }) => new SQSClient(config));

/** The SDK's error name (`ExecutionDoesNotExist`, `InvalidAMIID.NotFound`, ...), if any. */
export function awsErrorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function isAwsError(error: unknown, ...names: string[]): boolean {
  const name = awsErrorName(error);
  return name !== undefined && names.includes(name);
}
