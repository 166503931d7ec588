/** IMDSv2 against a tiny metadata server on loopback: token first, reads with it, timeouts. */
import { createServer, type Server } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { ImdsError, readInstanceIdentity } from '../../../worker/daemon/imds.ts';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Serves IMDSv2 as EC2 does; `hang` never answers, like an address nobody listens on. */
async function metadataServer(options: { hang?: boolean } = {}): Promise<{ endpoint: string; requests: string[] }> {
  const requests: string[] = [];
  const token = 'session-token-123';
  server = createServer((req, res) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? '?'}`);
    if (options.hang === true) return;
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      res.writeHead(ttl > 0 ? 200 : 400).end(ttl > 0 ? token : '');
      return;
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) {
      res.writeHead(401).end();
      return;
    }
    const values: Record<string, string> = {
      '/latest/meta-data/instance-id': 'i-0abc123def4567890',
      '/latest/meta-data/placement/availability-zone': 'eu-west-1b',
    };
    const value = values[req.url ?? ''];
    res.writeHead(value === undefined ? 404 : 200).end(value ?? '');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { endpoint: `http://127.0.0.1:${address.port}`, requests };
}

it('reads the instance id and zone with a session token', async () => {
  const { endpoint, requests } = await metadataServer();
  expect(await readInstanceIdentity({ endpoint })).toEqual({ instanceId: 'i-0abc123def4567890', availabilityZone: 'eu-west-1b' });
  expect(requests[0]).toBe('PUT /latest/api/token');
  expect(requests.slice(1).sort()).toEqual(['GET /latest/meta-data/instance-id', 'GET /latest/meta-data/placement/availability-zone']);
});

it('gives up after its timeout when nobody answers, saying what to configure instead', async () => {
  const { endpoint } = await metadataServer({ hang: true });
  const started = Date.now();
  const error = await readInstanceIdentity({ endpoint, timeoutMs: 200, attempts: 2 }).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ImdsError);
  expect(String(error)).toMatch(/could not be read \(2 attempts\).*no answer within 200 ms.*"identity"/);
  expect(Date.now() - started).toBeLessThan(2_000);
});

it('fails on an error status', async () => {
  const { endpoint } = await metadataServer();
  const error = await readInstanceIdentity({ endpoint: `${endpoint}/nowhere`, attempts: 1 }).catch((err: unknown) => err);
  expect(String(error)).toContain('/nowhere/latest/api/token: HTTP 401');
});
