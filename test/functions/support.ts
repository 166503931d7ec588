/**
 * The functions' test bench: the shared local AWS (the factory's bucket, queues and real
 * build-image state machine), source images, the handlers' environment, and API Gateway
 * REST API (v1) proxy events as IAM-authorised requests produce them.
 */
import { RegisterImageCommand } from '@aws-sdk/client-ec2';
import { DescribeExecutionCommand, ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionInput } from '../../contract/execution.ts';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { useAwsClientConfig } from '../../functions/lib/aws.ts';
import { logger } from '../../functions/lib/log.ts';
import { waitForExecution } from '../support/executions.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, startLocalAws as startSharedLocalAws, type LocalAws as SharedLocalAws } from '../support/local-aws.ts';

export const ACCOUNT_ID = LOCAL_ACCOUNT_ID;
export const REGION = LOCAL_REGION;
/** A caller of the team `images`, the callers' default. */
export const CALLER = `arn:aws:iam::${ACCOUNT_ID}:user/builder`;
/** Another caller of `images`: a session of the team's CI role. */
export const TEAMMATE = `arn:aws:sts::${ACCOUNT_ID}:assumed-role/images-ci/session-1`;
/** A caller of the team `web`. */
export const OTHER_TEAM_CALLER = `arn:aws:iam::${ACCOUNT_ID}:user/web-developer`;
/** Of the team `platform`, which may run host-side commands. */
export const OPERATOR = `arn:aws:iam::${ACCOUNT_ID}:user/operator`;
/** An admin, in no team: sees and cancels every build. */
export const ADMIN = `arn:aws:iam::${ACCOUNT_ID}:role/factory-admin`;
/** Signed, but in no team. */
export const STRANGER = `arn:aws:iam::${ACCOUNT_ID}:user/stranger`;

/** The one account besides the factory's that the images team may share and copy into. */
export const IMAGES_TARGET_ACCOUNT = '222222222222';

/** The factory's access configuration in the tests (the `ACCESS` variable). */
export const ACCESS = {
  teams: {
    images: {
      principals: [CALLER, `arn:aws:iam::${ACCOUNT_ID}:user/someone-else`, `arn:aws:sts::${ACCOUNT_ID}:assumed-role/images-ci/*`],
      targetAccounts: [IMAGES_TARGET_ACCOUNT],
    },
    web: { principals: [OTHER_TEAM_CALLER] },
    platform: { principals: [OPERATOR] },
  },
  admins: [ADMIN],
  hostCommands: ['platform'],
};

export const BUILD_SECRETS_PREFIX = 'ami-factory/test/builds/';

export interface LocalAws extends SharedLocalAws {
  ec2: SharedLocalAws['clients']['ec2'];
  s3: SharedLocalAws['clients']['s3'];
  sfn: SharedLocalAws['clients']['sfn'];
  sqs: SharedLocalAws['clients']['sqs'];
  /** Points the handlers at this state machine (the factory's real one at the start). */
  useStateMachine(arn: string): void;
  registerImage(name: string): Promise<string>;
}

/** The local AWS with the handlers' clients and environment pointed at it, as a deployment sets them. */
export async function startLocalAws(): Promise<LocalAws> {
  const aws = await startSharedLocalAws();
  useAwsClientConfig(aws.clientConfig);
  logger.level = 'silent';
  process.env.ARTIFACTS_BUCKET = aws.resources.artifactsBucket;
  process.env.HOST_QUEUE_PREFIX = aws.resources.hostQueuePrefix;
  process.env.STATE_MACHINE_ARN = aws.resources.stateMachineArn;
  process.env.DISTRIBUTE_STATE_MACHINE_ARN = aws.resources.distributeStateMachineArn;
  process.env.ACCESS = JSON.stringify(ACCESS);
  process.env.BUILD_SECRETS_PREFIX = BUILD_SECRETS_PREFIX;
  process.env.DETACH_WAIT_SECONDS = '2';
  process.env.DETACH_POLL_SECONDS = '0';
  return {
    ...aws,
    ...aws.clients,
    useStateMachine(arn) {
      process.env.STATE_MACHINE_ARN = arn;
    },
    async registerImage(name) {
      // moto gives every registered image a 15 GiB EBS root at /dev/sda1.
      return (await aws.clients.ec2.send(new RegisterImageCommand({ Name: name, RootDeviceName: '/dev/sda1' }))).ImageId as string;
    },
    async stop() {
      useAwsClientConfig(undefined);
      await aws.stop();
    },
  };
}

export async function waitForStatus(sfn: SFNClient, executionArn: string, wanted: (status: string) => boolean): Promise<string> {
  return (await waitForExecution(sfn, executionArn, { wanted, timeoutMs: 20_000 })).status;
}

/** An execution's ARN from its state machine's and its name (the build id). */
export const executionArnOf = (machine: string, buildId: string): string => `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`;

/** The input a build's execution was started with: what the submit function planned. */
export async function executionInputOf(sfn: SFNClient, machine: string, buildId: string): Promise<ExecutionInput> {
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn: executionArnOf(machine, buildId) }));
  return JSON.parse(execution.input ?? '{}') as ExecutionInput;
}

/** How many executions a state machine has had. */
export async function executionCountOf(sfn: SFNClient, machine: string): Promise<number> {
  return ((await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine }))).executions ?? []).length;
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
