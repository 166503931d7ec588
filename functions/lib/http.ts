/**
 * The HTTP side of the thin handlers (API Gateway REST API, Lambda proxy integration):
 * reading requests, JSON responses, and errors as problem details
 * `{ error, message, errors? }`, where `error` is a stable code for programs, `message` is
 * for people, and `errors` lists field problems as `{ path, message }`.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { Problem } from '../../contract/api.ts';
import type { FieldError } from '../../contract/field-errors.ts';
import { awsErrorName } from './aws.ts';
import { ConfigError } from './config.ts';
import { logger, type Logger } from './log.ts';


/** Thrown anywhere below a handler to answer with this status and problem. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  readonly status: number;
  readonly code: string;
  readonly errors: readonly FieldError[] | undefined;

  constructor(status: number, code: string, message: string, errors?: readonly FieldError[]) {
    super(message);
    this.status = status;
    this.code = code;
    this.errors = errors;
  }

  toProblem(): Problem {
    return { error: this.code, message: this.message, ...(this.errors ? { errors: [...this.errors] } : {}) };
  }
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

export function problem(statusCode: number, body: Problem, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return json(statusCode, body, headers);
}

/** The AWS conditions that mean "try again shortly", not "the factory is broken". */
const THROTTLED = new Set(['ThrottlingException', 'Throttling', 'RequestLimitExceeded', 'TooManyRequestsException', 'SlowDown']);

export type HttpHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * Wraps a route: expected failures become their problem response, throttling a 503 the
 * caller may retry, and anything else a 500 whose details stay in the log, not the answer.
 */
export function httpHandler(route: (event: APIGatewayProxyEvent, log: Logger) => Promise<APIGatewayProxyResult>): HttpHandler {
  return async (event, context) => {
    const log = logger.child({ requestId: context.awsRequestId, route: `${event.httpMethod} ${event.resource}` });
    try {
      return await route(event, log);
    } catch (error) {
      if (error instanceof ProblemError) {
        log.info({ status: error.status, error: error.code }, error.message);
        return problem(error.status, error.toProblem());
      }
      const name = awsErrorName(error);
      if (name !== undefined && THROTTLED.has(name)) {
        log.warn({ err: error }, 'throttled by AWS');
        return problem(503, { error: 'Throttled', message: 'AWS is throttling the factory; retry in a few seconds' }, { 'retry-after': '5' });
      }
      log.error({ err: error }, error instanceof ConfigError ? 'function misconfigured' : 'unexpected failure');
      return problem(500, { error: 'InternalError', message: `internal error; quote request id ${context.awsRequestId} to the operators` });
    }
  };
}

/** Header lookup ignoring case: API Gateway passes headers as the client spelled them. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  // API Gateway sends null, not {}, for a request without headers.
  const headers = event.headers as APIGatewayProxyEvent['headers'] | null;
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

export function pathParameter(event: APIGatewayProxyEvent, name: string): string {
  const value = event.pathParameters?.[name];
  // API Gateway only routes here with the parameter present; a direct invoke may not.
  if (value === undefined || value === '') throw new ProblemError(400, 'InvalidRequest', `the path parameter ${name} is missing`);
  return value;
}

export function queryParameter(event: APIGatewayProxyEvent, name: string): string | undefined {
  const value = event.queryStringParameters?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Who signed the request (IAM authorisation): the principal's ARN, as API Gateway verified
 * it. Idempotency keys are scoped by it, so two callers cannot collide on a key.
 */
export function callerIdentity(event: APIGatewayProxyEvent): string {
  const identity = event.requestContext.identity;
  return identity.userArn ?? identity.caller ?? identity.accountId ?? 'anonymous';
}

/** The body as bytes: API Gateway base64-encodes bodies of binary media types. */
export function bodyBytes(event: APIGatewayProxyEvent): Buffer {
  if (event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}
