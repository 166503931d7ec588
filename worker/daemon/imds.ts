/**
 * Who and where this host is, from the EC2 instance metadata service (IMDSv2: a session
 * token first, then reads that carry it). Every request has a timeout: off EC2, or with the
 * hop limit too low in a container, the service does not answer at all, and the daemon must
 * say so instead of hanging at start-up.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface InstanceIdentity {
  instanceId: string;
  availabilityZone: string;
}

export interface ImdsOptions {
  /** Default: the link-local address EC2 serves it on. */
  endpoint?: string;
  /** Per request. */
  timeoutMs?: number;
  /** A host that has just booted may not serve metadata for a moment. */
  attempts?: number;
}

export const DEFAULT_IMDS_ENDPOINT = 'http://169.254.169.254';
const TOKEN_TTL_SECONDS = 300;

export class ImdsError extends Error {
  override name = 'ImdsError';
  /** The HTTP status, when the service answered with an error. */
  readonly status: number | undefined;

  constructor(message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.status = options?.status;
  }
}

export async function readInstanceIdentity(options: ImdsOptions = {}): Promise<InstanceIdentity> {
  const attempts = options.attempts ?? 3;
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await readOnce(options);
    } catch (err) {
      last = err;
      if (attempt < attempts) await sleep(200 * attempt);
    }
  }
  const endpoint = options.endpoint ?? DEFAULT_IMDS_ENDPOINT;
  throw new ImdsError(
    `instance metadata at ${endpoint} could not be read (${attempts} attempts): ${last instanceof Error ? last.message : String(last)}; ` +
      'off EC2, give "identity": { "instanceId", "availabilityZone" } in the worker config',
    { cause: last },
  );
}

/**
 * One metadata item (`autoscaling/target-lifecycle-state`, ...), with a fresh session token;
 * undefined when the service has no such item (404: an instance outside an Auto Scaling group).
 */
export async function readMetadata(path: string, options: ImdsOptions = {}): Promise<string | undefined> {
  const { base, timeoutMs, token } = await session(options);
  try {
    return await request(`${base}/latest/meta-data/${path}`, timeoutMs, { headers: { 'X-aws-ec2-metadata-token': token } });
  } catch (err) {
    if (err instanceof ImdsError && err.status === 404) return undefined;
    throw err;
  }
}

async function session(options: ImdsOptions): Promise<{ base: string; timeoutMs: number; token: string }> {
  const base = (options.endpoint ?? DEFAULT_IMDS_ENDPOINT).replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 2_000;
  const token = await request(`${base}/latest/api/token`, timeoutMs, {
    method: 'PUT',
    headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
  });
  return { base, timeoutMs, token };
}

async function readOnce(options: ImdsOptions): Promise<InstanceIdentity> {
  const { base, timeoutMs, token } = await session(options);
  const get = (path: string): Promise<string> =>
    request(`${base}/latest/meta-data/${path}`, timeoutMs, { headers: { 'X-aws-ec2-metadata-token': token } });
  const [instanceId, availabilityZone] = await Promise.all([get('instance-id'), get('placement/availability-zone')]);
  if (!/^i-[0-9a-f]+$/.test(instanceId)) throw new ImdsError(`unexpected instance id ${JSON.stringify(instanceId)}`);
  if (availabilityZone === '') throw new ImdsError('empty availability zone');
  return { instanceId, availabilityZone };
}

async function request(url: string, timeoutMs: number, init: RequestInit): Promise<string> {
  const what = `${init.method ?? 'GET'} ${url}`;
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.text()).trim();
    if (!response.ok) throw new ImdsError(`${what}: HTTP ${response.status}`, { status: response.status });
    return body;
  } catch (err) {
    if (err instanceof Error && err.name === 'TimeoutError') throw new ImdsError(`${what}: no answer within ${timeoutMs} ms`);
    throw err;
  }
}
