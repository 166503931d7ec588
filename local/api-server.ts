/**
 * The factory's API on loopback, served by the real Lambda handlers: each request becomes
 * the API Gateway (REST) proxy event the deployed API would deliver. Routes come from the
 * same OpenAPI document that describes the deployed API (functions/openapi.yaml): an
 * operation `submitBuild` is served by functions/submit-build.ts.
 *
 * Like API Gateway with IAM authorisation, it answers 403 to a request that is not signed
 * with SigV4 by a caller it knows (request-signature.ts), and the handlers see the signer
 * as the caller.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { parse } from 'yaml';
import { LOCAL_CREDENTIALS } from './moto-server.ts';
import { repoRoot } from './paths.ts';
import { checkSignature, type LocalCaller } from './request-signature.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

interface Route {
  method: string;
  resource: string;
  pattern: RegExp;
  parameterNames: string[];
  handler: Handler;
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

async function loadRoutes(): Promise<Route[]> {
  const document = parse(await readFile(join(repoRoot, 'functions', 'openapi.yaml'), 'utf8')) as {
    paths: Record<string, Record<string, { operationId?: string }>>;
  };
  const routes: Route[] = [];
  for (const [resource, operations] of Object.entries(document.paths)) {
    const parameterNames = [...resource.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
    const pattern = new RegExp(`^${resource.replace(/\{\w+\}/g, '([^/]+)')}$`);
    for (const [method, operation] of Object.entries(operations)) {
      if (!operation.operationId) continue;
      const module = (await import(join(repoRoot, 'functions', `${kebab(operation.operationId)}.ts`))) as { handler: Handler };
      routes.push({ method: method.toUpperCase(), resource, pattern, parameterNames, handler: module.handler });
    }
  }
  return routes;
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The caller a request signed with the local credentials acts as. */
export const LOCAL_CALLER = 'arn:aws:iam::123456789012:user/local';

const DEFAULT_CALLERS: ReadonlyMap<string, LocalCaller> = new Map([
  [LOCAL_CREDENTIALS.accessKeyId, { secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey, principalArn: LOCAL_CALLER }],
]);

function headersOf(request: IncomingMessage): Record<string, string> {
  return Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
}

/** A path parameter as API Gateway passes it: decoded; undefined for a malformed escape. */
function decodedParameter(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function eventFor(
  route: Route,
  request: { url: URL; headers: Record<string, string>; body: string; pathParameters: Record<string, string> },
  caller: { accessKeyId: string; principalArn: string },
): APIGatewayProxyEvent {
  const { url, headers, body, pathParameters } = request;
  const query = Object.fromEntries(url.searchParams);
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: route.method,
    headers,
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length > 0 ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: route.parameterNames.length > 0 ? pathParameters : null,
    stageVariables: null,
    body: body === '' ? null : body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      authorizer: undefined,
      protocol: 'HTTP/1.1',
      httpMethod: route.method,
      path: url.pathname,
      stage: 'local',
      requestId: crypto.randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: route.resource,
      identity: {
        accessKey: caller.accessKeyId, accountId: '123456789012', apiKey: null, apiKeyId: null, caller: caller.principalArn,
        clientCert: null, cognitoAuthenticationProvider: null, cognitoAuthenticationType: null,
        cognitoIdentityId: null, cognitoIdentityPoolId: null, principalOrgId: null, sourceIp: '127.0.0.1',
        user: caller.principalArn.split('/').pop() ?? null, userAgent: headers['user-agent'] ?? null, userArn: caller.principalArn,
      },
    },
  };
}

const lambdaContext = (name: string): Context =>
  ({ awsRequestId: crypto.randomUUID(), functionName: name, getRemainingTimeInMillis: () => 30_000 }) as unknown as Context;

export interface LocalApi {
  endpoint: string;
  close(): Promise<void>;
}

export interface ApiServerOptions {
  /** The keys the API accepts, by access key id; by default the local credentials only. */
  callers?: ReadonlyMap<string, LocalCaller>;
}

const problemAnswer = (status: number, error: string, message: string, headers: Record<string, string> = {}) =>
  [status, { 'content-type': 'application/json', ...headers }, JSON.stringify({ error, message })] as const;

export async function startApiServer(port: number, options: ApiServerOptions = {}): Promise<LocalApi> {
  const routes = await loadRoutes();
  const callers = options.callers ?? DEFAULT_CALLERS;
  const server: Server = createServer((request, response) => {
    const answer = (status: number, headers: Record<string, string>, body: string | Buffer): void => {
      response.writeHead(status, headers).end(body);
    };
    void (async () => {
      // Parsed against a fixed origin: the Host header is the client's to write, and it is
      // checked as part of the signature, not trusted to form a URL.
      const url = URL.parse(request.url ?? '/', 'http://local');
      if (url === null) {
        answer(...problemAnswer(400, 'InvalidPath', 'the request target is not a path'));
        return;
      }
      const candidates = routes.filter((r) => r.pattern.test(url.pathname));
      const route = candidates.find((r) => r.method === request.method);
      if (!route) {
        if (candidates.length === 0) {
          answer(...problemAnswer(404, 'NotFound', `no route ${url.pathname}`));
          return;
        }
        const allow = candidates.map((r) => r.method).join(', ');
        answer(...problemAnswer(405, 'MethodNotAllowed', `${request.method ?? ''} is not allowed on ${url.pathname}; allowed: ${allow}`, { allow }));
        return;
      }
      const match = route.pattern.exec(url.pathname) as RegExpExecArray;
      const decoded = route.parameterNames.map((_, i) => decodedParameter(match[i + 1] ?? ''));
      if (decoded.some((value) => value === undefined)) {
        answer(...problemAnswer(400, 'InvalidPath', `the path ${url.pathname} has a malformed percent-encoding`));
        return;
      }
      const headers = headersOf(request);
      const body = await bodyOf(request);
      const signature = await checkSignature({ method: route.method, url, headers, body }, callers);
      // API Gateway's own answer to an unsigned or mis-signed request: 403 with a message.
      if (!signature.ok) {
        answer(403, { 'content-type': 'application/json' }, JSON.stringify({ message: signature.reason }));
        return;
      }
      const pathParameters = Object.fromEntries(route.parameterNames.map((name, i) => [name, decoded[i] ?? '']));
      const event = eventFor(route, { url, headers, body, pathParameters }, { accessKeyId: signature.accessKeyId, principalArn: signature.caller.principalArn });
      const result = await route.handler(event, lambdaContext(route.resource));
      answer(result.statusCode, result.headers as Record<string, string>, result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body);
    })().catch((error: unknown) => {
      answer(...problemAnswer(500, 'InternalError', String(error)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  return {
    endpoint: `http://127.0.0.1:${actualPort}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
