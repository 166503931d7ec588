/**
 * The factory's HTTP API as the CLI sees it. Every request is signed with SigV4, as API
 * Gateway's IAM authorisation wants it: for a deployed API with the standard AWS credential
 * chain, for the local factory on loopback with its fixed local credentials (which its API
 * checks the same way).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { formatFieldErrors } from '../contract/field-errors.ts';
import type { Problem } from '../contract/api.ts';
import { LOCAL_CREDENTIALS } from '../local/moto-server.ts';

/** Where `npm start -- --serve` serves the local factory's API. */
export const LOCAL_FACTORY_ENDPOINT = 'http://127.0.0.1:8745';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    const problem = body as Partial<Problem> | undefined;
    const details = problem?.errors ? `\n  ${formatFieldErrors(problem.errors, { whole: '(body)', separator: '\n  ' })}` : '';
    super(`${String(status)} ${problem?.message ?? JSON.stringify(body)}${details}`);
    this.status = status;
    this.body = body;
  }
}

const isLoopback = (url: URL): boolean => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/**
 * A build's resource path: the id is encoded, so an id typed by hand can only ever name a
 * build, never another route (`../images`) or a query.
 */
export function buildPath(buildId: string, sub?: 'log' | 'manifest'): string {
  return `builds/${encodeURIComponent(buildId)}${sub === undefined ? '' : `/${sub}`}`;
}

/** `abc.execute-api.eu-west-1.amazonaws.com` -> eu-west-1. */
const regionOf = (url: URL): string | undefined => /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface FactoryClientOptions {
  region?: string;
  /** Sign as someone else than the standard chain (deployed) or the local credentials (loopback). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * The team's API key (`x-api-key`): a deployed API throttles each key on its own. Signed
   * along with the request; the local API needs none.
   */
  apiKey?: string;
}

export class FactoryClient {
  readonly endpoint: URL;
  readonly #signer: SignatureV4;
  readonly #apiKey: string | undefined;

  constructor(endpoint: string, options: FactoryClientOptions = {}) {
    this.endpoint = new URL(endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
    const local = isLoopback(this.endpoint);
    const region = options.region ?? (local ? 'us-east-1' : (regionOf(this.endpoint) ?? process.env.AWS_REGION));
    if (!region) throw new Error(`cannot tell the AWS region of ${endpoint}: pass --region`);
    const credentials = options.credentials ?? (local ? { ...LOCAL_CREDENTIALS } : defaultProvider());
    this.#signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
    this.#apiKey = options.apiKey;
  }

  /** The answer as it came: status, headers and the body (parsed when it is JSON). */
  async send(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer> {
    const url = new URL(path.replace(/^\//, ''), this.endpoint);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const unsigned: Record<string, string> = {
      host: url.host,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(this.#apiKey === undefined ? {} : { 'x-api-key': this.#apiKey }),
      ...options.headers,
    };
    const query = Object.fromEntries(url.searchParams);
    const { headers } = await this.#signer.sign(
      new HttpRequest({ method, protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined, path: url.pathname, query, headers: unsigned, body }),
    );
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    const parsed: unknown = (response.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body: parsed };
  }

  /** The body of a successful answer; an ApiError for any other. */
  async request<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const answer = await this.send(method, path, options);
    if (answer.status < 200 || answer.status > 299) throw new ApiError(answer.status, answer.body);
    return answer.body as T;
  }
}
