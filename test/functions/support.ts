/**
 * The functions' test bench: a real moto server holding what a deployment would (artifacts
 * bucket, state machines, source images), the handlers' environment, and API Gateway REST
 * API (v1) proxy events as IAM-authorised requests produce them.
 */
import { EC2Client, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { useAwsClientConfig } from '../../functions/lib/aws.ts';
import { logger } from '../../functions/lib/log.ts';
import { localAwsClientConfig, startMotoServer, type MotoServer } from '../../local/moto-server.ts';

export const ACCOUNT_ID = '123456789012';
export const REGION = 'us-east-1';
export const BUCKET = 'ami-factory-artifacts';
export const HOST_QUEUE_PREFIX = 'ami-factory';
const ROLE_ARN = `arn:aws:iam::${ACCOUNT_ID}:role/ami-factory-workflow`;
export const CALLER = `arn:aws:iam::${ACCOUNT_ID}:user/builder`;

/** Ends at once with an output shaped as the real workflow's. */
export const FINISHING_MACHINE = {
  StartAt: 'PlanVolume',
  States: {
    PlanVolume: { Type: 'Pass', Next: 'RegisterImage' },
    RegisterImage: {
      Type: 'Pass',
      Parameters: {
        'buildId.$': '$.buildId',
        amis: [{ 'region.$': '$.target.region', 'accountId.$': '$.target.accountId', imageId: 'ami-0fac70e5000000001', snapshotIds: ['snap-0fac70e5000000001'] }],
      },
      End: true,
    },
  },
};

/** Stays running until stopped. */
export const HOLDING_MACHINE = {
  StartAt: 'WaitForHost',
  States: { WaitForHost: { Type: 'Wait', Seconds: 3600, End: true } },
};

export interface LocalAws {
  moto: MotoServer;
  ec2: EC2Client;
  s3: S3Client;
  sfn: SFNClient;
  sqs: SQSClient;
  createStateMachine(name: string, definition: object): Promise<string>;
  /** Points the handlers at this state machine. */
  useStateMachine(arn: string): void;
  registerImage(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startLocalAws(): Promise<LocalAws> {
  const moto = await startMotoServer();
  const config = localAwsClientConfig(moto.endpoint, REGION);
  useAwsClientConfig(config);
  logger.level = 'silent';
  const ec2 = new EC2Client(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const sfn = new SFNClient(config);
  const sqs = new SQSClient(config);
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  process.env.ARTIFACTS_BUCKET = BUCKET;
  process.env.HOST_QUEUE_PREFIX = HOST_QUEUE_PREFIX;
  process.env.DETACH_WAIT_SECONDS = '2';
  process.env.DETACH_POLL_SECONDS = '0';
  return {
    moto,
    ec2,
    s3,
    sfn,
    sqs,
    async createStateMachine(name, definition) {
      const created = await sfn.send(new CreateStateMachineCommand({ name, definition: JSON.stringify(definition), roleArn: ROLE_ARN }));
      return created.stateMachineArn as string;
    },
    useStateMachine(arn) {
      process.env.STATE_MACHINE_ARN = arn;
    },
    async registerImage(name) {
      // moto gives every registered image a 15 GiB EBS root at /dev/sda1.
      return (await ec2.send(new RegisterImageCommand({ Name: name, RootDeviceName: '/dev/sda1' }))).ImageId as string;
    },
    async stop() {
      useAwsClientConfig(undefined);
      await moto.stop();
    },
  };
}

export async function waitForStatus(sfn: SFNClient, executionArn: string, wanted: (status: string) => boolean): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status ?? '';
    if (wanted(status)) return status;
    if (Date.now() > deadline) throw new Error(`execution ${executionArn} stayed ${status}`);
    await sleep(50);
  }
}

export interface RequestOptions {
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | null;
  base64?: boolean;
  caller?: string;
}

/** A REST API (v1) Lambda proxy event for an IAM-authorised (SigV4) request. */
export function apiEvent(method: string, resource: string, options: RequestOptions = {}): APIGatewayProxyEvent {
  const path = resource.replace(/\{(\w+)\}/g, (_, name: string) => options.pathParameters?.[name] ?? '');
  const caller = options.caller ?? CALLER;
  return {
    httpMethod: method,
    resource,
    path,
    headers: { 'Content-Type': 'application/json', ...options.headers },
    multiValueHeaders: {},
    pathParameters: options.pathParameters ?? null,
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: 'api0000001',
      authorizer: undefined,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      path: `/v1${path}`,
      stage: 'v1',
      requestId: 'request-1',
      requestTimeEpoch: Date.now(),
      resourceId: 'resource1',
      resourcePath: resource,
      identity: {
        accessKey: 'ASIAEXAMPLEEXAMPLE00',
        accountId: ACCOUNT_ID,
        apiKey: null,
        apiKeyId: null,
        caller: 'AIDAEXAMPLEEXAMPLE00',
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '192.0.2.1',
        user: 'AIDAEXAMPLEEXAMPLE00',
        userAgent: 'ami-factory-cli',
        userArn: caller,
      },
    },
  };
}

export function lambdaContext(name = 'test-function'): Context {
  // Without the deprecated callback-style members (done, fail, succeed): handlers are async.
  const context: Omit<Context, 'done' | 'fail' | 'succeed'> = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${name}`,
    memoryLimitInMB: '256',
    awsRequestId: 'aws-request-1',
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 30_000,
  };
  return context as Context;
}

export type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  text: string;
}

export async function call(handler: Handler, event: APIGatewayProxyEvent): Promise<Answer> {
  const result = await handler(event, lambdaContext());
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  let body: Record<string, unknown> = {};
  if (headers['content-type']?.startsWith('application/json')) body = JSON.parse(result.body) as Record<string, unknown>;
  return { status: result.statusCode, headers, body, text: result.body };
}

export const RENDERED_AT = '2024-05-06T07:08:09Z';

/** A bundle as `ami-factory build` sends it, with a script file to materialise. */
export function bundle(builder: Record<string, unknown>, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    template: {
      variables: { label: 'test' },
      builders: [{ type: 'amazon-chroot', ami_name: 'factory-{{user `label`}}-{{timestamp}}', ...builder }],
      provisioners: [
        { type: 'shell', inline: ['echo hello'] },
        { type: 'shell', script: 'scripts/setup.sh' },
      ],
      ...rest,
    },
    variables: {},
    files: { 'scripts/setup.sh': Buffer.from('#!/bin/sh\necho set up\n').toString('base64') },
    renderedAt: RENDERED_AT,
  };
}

export function submitEvent(body: unknown, headers: Record<string, string> = {}, caller?: string): APIGatewayProxyEvent {
  return apiEvent('POST', '/builds', { body: typeof body === 'string' ? body : JSON.stringify(body), headers, ...(caller ? { caller } : {}) });
}
