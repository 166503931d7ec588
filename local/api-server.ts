/**
 * The factory's API on loopback, served by the real Lambda handlers: each request becomes
 * the API Gateway (REST) proxy event the deployed API would deliver. Routes come from the
 * same OpenAPI document that describes the deployed API (functions/openapi.yaml): an
 * operation `submitBuild` is served by functions/submit-build.ts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { parse } from 'yaml';
import { repoRoot } from './paths.ts';

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

const LOCAL_CALLER = 'arn:aws:iam::123456789012:user/local';

function eventFor(route: Route, request: IncomingMessage, url: URL, match: RegExpExecArray, body: string): APIGatewayProxyEvent {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]));
  const query = Object.fromEntries(url.searchParams);
  const pathParameters = Object.fromEntries(route.parameterNames.map((name, i) => [name, decodeURIComponent(match[i + 1] ?? '')]));
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
        accessKey: null, accountId: '123456789012', apiKey: null, apiKeyId: null, caller: LOCAL_CALLER,
        clientCert: null, cognitoAuthenticationProvider: null, cognitoAuthenticationType: null,
        cognitoIdentityId: null, cognitoIdentityPoolId: null, principalOrgId: null, sourceIp: '127.0.0.1',
        user: 'local', userAgent: headers['user-agent'] ?? null, userArn: LOCAL_CALLER,
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

export async function startApiServer(port: number): Promise<LocalApi> {
  const routes = await loadRoutes();
  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://local');
      const candidates = routes.filter((r) => r.pattern.test(url.pathname));
      const route = candidates.find((r) => r.method === request.method);
      if (!route) {
        const status = candidates.length > 0 ? 405 : 404;
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: status === 405 ? 'MethodNotAllowed' : 'NotFound', message: `${request.method ?? ''} ${url.pathname}` }));
        return;
      }
      const match = route.pattern.exec(url.pathname) as RegExpExecArray;
      const result = await route.handler(eventFor(route, request, url, match, await bodyOf(request)), lambdaContext(route.resource));
      const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
      response.writeHead(result.statusCode, result.headers as Record<string, string>).end(body);
    })().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InternalError', message: String(error) }));
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
