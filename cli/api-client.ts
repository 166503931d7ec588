/**
 * The factory's HTTP API as the CLI sees it. A deployed API (API Gateway, IAM
 * authorisation) gets every request signed with SigV4 from the standard AWS credential
 * chain; the local factory on loopback needs no signature.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { formatFieldErrors } from '../contract/field-errors.ts';
import type { Problem } from '../contract/api.ts';

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

/** `abc.execute-api.eu-west-1.amazonaws.com` -> eu-west-1. */
const regionOf = (url: URL): string | undefined => /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];

export class FactoryClient {
  readonly endpoint: URL;
  readonly #signer: SignatureV4 | undefined;

  constructor(endpoint: string, options: { region?: string } = {}) {
    this.endpoint = new URL(endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
    if (!isLoopback(this.endpoint)) {
      const region = options.region ?? regionOf(this.endpoint) ?? process.env.AWS_REGION;
      if (!region) throw new Error(`cannot tell the AWS region of ${endpoint}: pass --region`);
      this.#signer = new SignatureV4({ service: 'execute-api', region, credentials: defaultProvider(), sha256: Sha256 });
    }
  }

  async request<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.endpoint);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    let headers: Record<string, string> = {
      host: url.host,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    };
    if (this.#signer) {
      const query = Object.fromEntries(url.searchParams);
      const signed = await this.#signer.sign(
        new HttpRequest({ method, protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined, path: url.pathname, query, headers, body }),
      );
      headers = signed.headers;
    }
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    const parsed: unknown = (response.headers.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : text;
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed as T;
  }
}
