/**
 * A model of EC2's latencies and throttling, as an HTTP proxy in front of moto.
 *
 * Moto answers at once: volumes are `available` and snapshots `completed` the moment they are
 * asked for, and it never throttles, so the factory's poll loops, waits and retries never run
 * locally. This proxy sits between the clients and moto and makes EC2 behave in time: it
 * forwards every call, remembers when volumes, attachments, detachments, snapshots and images
 * started (resource-clock.ts), rewrites moto's Describe answers to the transitional states AWS
 * shows until the profile's latency has passed (response-rewrite.ts), refuses what AWS refuses
 * in those states, and answers RequestLimitExceeded from EC2's documented token buckets
 * (token-buckets.ts). Everything that is not an EC2 Query call (SQS, Step Functions, S3, STS,
 * EventBridge, moto-api) is streamed through untouched.
 *
 * A proxy rather than a change to moto: the model stays ours, in TypeScript, and works with an
 * unmodified pinned moto. Moto's own state machine interpreter calls its aws-sdk integrations
 * back at `http://localhost:$MOTO_PORT`; starting moto with MOTO_PORT set to this proxy's port
 * (index.ts) sends the workflow's EC2 calls through the model too, as the workflow's calls on
 * AWS are subject to the same latencies and limits.
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filtersOf, isEc2QueryRequest, isFilteredOrPaginated, parseEc2Request, withoutFilters, type Ec2Request } from './ec2-query.ts';
import type { AwsModelProfile } from './profile.ts';
import { ResourceClock, type ChangedGiB } from './resource-clock.ts';
import { ec2ErrorBody, observeAnswer, refusalFor, rewriteAnswer, STRIPPED_FILTERS, THROTTLED, type Ec2Error } from './response-rewrite.ts';
import { bucketFamilyOf, TokenBuckets } from './token-buckets.ts';

export interface AwsModelStats {
  /** EC2 calls answered RequestLimitExceeded, by action. */
  throttled: Record<string, number>;
  /** EC2 calls received (throttled or not), by action. */
  calls: Record<string, number>;
}

export interface AwsModelProxy {
  endpoint: string;
  port: number;
  stats(): AwsModelStats;
  stop(): Promise<void>;
}

export interface AwsModelProxyOptions {
  /** Moto's endpoint, e.g. http://127.0.0.1:5000. */
  upstream: string;
  profile: AwsModelProfile;
  /** GiB a volume changed since its last snapshot; default: an eighth of its size. */
  changedGiB?: ChangedGiB;
  /** Loopback port to listen on; a free one when absent or 0. */
  port?: number;
  /** Milliseconds clock, for tests. */
  now?: () => number;
}

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => {
      resolveBody(Buffer.concat(chunks));
    });
    stream.once('error', reject);
  });
}

/** Raw header pairs without the ones a changed body invalidates. */
function headersFor(rawHeaders: string[], body: Buffer): string[] {
  const kept: string[] = [];
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    const name = rawHeaders[index] ?? '';
    if (/^(content-length|transfer-encoding)$/i.test(name)) continue;
    kept.push(name, rawHeaders[index + 1] ?? '');
  }
  kept.push('content-length', String(body.length));
  return kept;
}

export async function startAwsModelProxy(options: AwsModelProxyOptions): Promise<AwsModelProxy> {
  const upstream = new URL(options.upstream);
  const now = options.now ?? Date.now;
  const clock = new ResourceClock({ profile: options.profile, changedGiB: options.changedGiB, now });
  const buckets = new TokenBuckets(options.profile.buckets, now);
  const calls: Record<string, number> = {};
  const throttled: Record<string, number> = {};

  /** Sends a request on to moto; the caller reads or pipes the answer. */
  const forward = (incoming: IncomingMessage, body?: Buffer, changed = false): Promise<IncomingMessage> =>
    new Promise((resolveAnswer, reject) => {
      const outgoing = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          // As received, byte for byte: SigV4 signs some of them. A body the model changed
          // (moto checks no signature) gets its own length.
          headers: changed && body !== undefined ? headersFor(incoming.rawHeaders, body) : incoming.rawHeaders,
        },
        resolveAnswer,
      );
      outgoing.once('error', reject);
      if (body === undefined) incoming.pipe(outgoing);
      else outgoing.end(body);
    });

  const answerError = (response: ServerResponse, error: Ec2Error): void => {
    const body = Buffer.from(ec2ErrorBody(error));
    response.writeHead(error.status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': String(body.length),
      'x-amzn-requestid': randomUUID(),
    });
    response.end(body);
  };

  const passThrough = async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    const answer = await forward(incoming);
    response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
    answer.pipe(response);
  };

  const modelEc2 = async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    const body = await readBody(incoming);
    const call: Ec2Request = parseEc2Request(body.toString('utf8'), incoming.headers.authorization);
    calls[call.action] = (calls[call.action] ?? 0) + 1;
    const family = bucketFamilyOf(call.action, isFilteredOrPaginated(call.params));
    // AWS meters a call before it looks at it: a throttled call changes nothing.
    if (!buckets.take({ accessKeyId: call.accessKeyId, region: call.region, family })) {
      throttled[call.action] = (throttled[call.action] ?? 0) + 1;
      answerError(response, THROTTLED);
      return;
    }
    const refusal = refusalFor(call, clock);
    if (refusal !== undefined) {
      answerError(response, refusal);
      return;
    }
    const stripped = STRIPPED_FILTERS[call.action]?.filter((name) => filtersOf(call.params).some((filter) => filter.name === name)) ?? [];
    const answer = stripped.length === 0 ? await forward(incoming, body) : await forward(incoming, Buffer.from(withoutFilters(call.params, stripped).toString()), true);
    const answerBody = await readBody(answer);
    const status = answer.statusCode ?? 502;
    if (status !== 200) {
      response.writeHead(status, answer.statusMessage, answer.rawHeaders);
      response.end(answerBody);
      return;
    }
    const xml = answerBody.toString('utf8');
    await observeAnswer(call, xml, clock);
    const rewritten = rewriteAnswer(call, xml, clock);
    if (rewritten === xml) {
      response.writeHead(status, answer.statusMessage, answer.rawHeaders);
      response.end(answerBody);
      return;
    }
    const rewrittenBody = Buffer.from(rewritten, 'utf8');
    response.writeHead(status, answer.statusMessage, headersFor(answer.rawHeaders, rewrittenBody));
    response.end(rewrittenBody);
  };

  const server = createServer((incoming, response) => {
    const handle = isEc2QueryRequest(incoming.method, incoming.url, incoming.headers) ? modelEc2 : passThrough;
    handle(incoming, response).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const body = Buffer.from(`aws model proxy: ${String(error)}\n`);
      response.writeHead(502, { 'content-type': 'text/plain', 'content-length': String(body.length) });
      response.end(body);
    });
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    // Loopback only: the model holds no secrets, but nothing beyond this machine should use it.
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats: () => ({ throttled: { ...throttled }, calls: { ...calls } }),
    async stop() {
      const closed = new Promise<void>((resolveClose) => server.close(() => {
        resolveClose();
      }));
      server.closeAllConnections();
      await closed;
    },
  };
}
