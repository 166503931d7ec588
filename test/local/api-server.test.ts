/**
 * The local API's edges, as API Gateway draws them for the deployed one: SigV4 with a key it
 * knows (403 otherwise), 405 with Allow, 400 for a path that cannot be decoded, and ids the
 * CLI encodes so they can only ever name a build.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPath, FactoryClient } from '../../cli/api-client.ts';
import { startApiServer, type LocalApi } from '../../local/api-server.ts';
import { LOCAL_CREDENTIALS } from '../../local/moto-server.ts';
import type { BuildAccepted, BuildDetails } from '../../contract/api.ts';
import { watchBuild } from '../../cli/follow.ts';
import { bundle, CALLER, startLocalAws, waitForStatus, type LocalAws } from '../functions/support.ts';
import { FINISHING_WORKFLOW, REAL_STATES } from '../functions/stand-in-workflows.ts';

let aws: LocalAws;
let api: LocalApi;
let client: FactoryClient;

beforeAll(async () => {
  aws = await startLocalAws();
  // Signed with the local key, acting as a caller of a team, so submits get past access control.
  api = await startApiServer(0, { callers: new Map([[LOCAL_CREDENTIALS.accessKeyId, { secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey, principalArn: CALLER }]]) });
  client = new FactoryClient(api.endpoint);
});

afterAll(async () => {
  await api.close();
  await aws.stop();
});

describe('the local API', () => {
  it('serves a request signed with the local credentials', async () => {
    const answer = await client.send('GET', 'builds');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ builds: [] });
  });

  it('answers 403 to a request that is not signed, or signed with a key it does not know', async () => {
    const unsigned = await fetch(`${api.endpoint}/builds`);
    expect(unsigned.status).toBe(403);
    expect(await unsigned.json()).toEqual({ message: 'the request is not signed with AWS Signature Version 4' });

    const stranger = new FactoryClient(api.endpoint, { credentials: { accessKeyId: 'AKIASTRANGER', secretAccessKey: 'testing' } });
    expect((await stranger.send('GET', 'builds')).status).toBe(403);
    const wrongSecret = new FactoryClient(api.endpoint, { credentials: { accessKeyId: 'testing', secretAccessKey: 'not-the-secret' } });
    expect(await wrongSecret.send('GET', 'builds')).toMatchObject({ status: 403, body: { message: expect.stringContaining('does not match') as unknown } });
  });

  it('answers 403 when the signed request was changed on the way', async () => {
    // A signature for GET /builds replayed on DELETE /builds/x, and a body swapped under its hash.
    const signedGet = await signedHeaders('GET', 'builds');
    const replayed = await fetch(`${api.endpoint}/builds/b-0000000000000000000000000a`, { method: 'DELETE', headers: signedGet });
    expect(replayed.status).toBe(403);
    const signedPost = await signedHeaders('POST', 'builds', '{"bundle":{}}');
    const swapped = await fetch(`${api.endpoint}/builds`, { method: 'POST', headers: signedPost, body: '{"bundle":{"x":1}}' });
    expect(swapped.status).toBe(403);
  });

  it('answers 405 with Allow for a method the route does not have', async () => {
    const answer = await client.send('PUT', 'builds');
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('POST, GET');
  });

  it('answers 400, not 500, for a path whose percent-encoding is broken', async () => {
    const answer = await fetch(`${api.endpoint}/builds/%E0%A4%A`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'InvalidPath' });
  });

  it('answers a Host header that names no host as a request to check, not with a server error', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const url = new URL(`${api.endpoint}/builds`);
      request({ hostname: url.hostname, port: url.port, path: url.pathname, headers: { host: 'not a host' } }, (response) => {
        response.resume();
        resolve(response.statusCode);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(403);
  });

  it('takes an id the CLI encoded as one build id, never as another route', async () => {
    expect(buildPath('../images?x=1')).toBe('builds/..%2Fimages%3Fx%3D1');
    const answer = await client.send('GET', buildPath('../builds'));
    expect(answer).toMatchObject({ status: 404, body: { error: 'BuildNotFound' } });
  });

  it('follows a build with signed `?since=` looks, each after the first answering only what is new', async () => {
    const machine = await aws.createStateMachine('build-image-followed', FINISHING_WORKFLOW);
    aws.useStateMachine(machine);
    const source = await aws.registerImage('debian-12-followed');
    const { buildId } = await client.request<BuildAccepted>('POST', 'builds', { body: { bundle: bundle({ source_ami: source, ami_name: 'followed', name: 'web' }) } });
    await waitForStatus(aws.sfn, `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`, (status) => status === 'SUCCEEDED');
    const answers: { path: string; build: BuildDetails }[] = [];
    const counting = {
      request: async <T>(method: string, path: string): Promise<T> => {
        const build = await client.request<BuildDetails>(method, path);
        answers.push({ path, build });
        return build as T;
      },
    };
    // Looks until it has seen the build ended twice: the second look is the incremental one.
    let looks = 0;
    const build = await watchBuild(counting, buildId, () => ++looks === 2, { pace: { firstMs: 10, maxMs: 10 } });
    expect(build.timeline.map((entry) => entry.step)).toEqual([REAL_STATES.claim, REAL_STATES.register, REAL_STATES.report]);
    const [first, second] = answers;
    expect(first?.path).toBe(buildPath(buildId));
    expect(second?.path).toBe(`${buildPath(buildId)}?since=${String(first?.build.lastEventId)}`);
    expect(second?.build).toMatchObject({ status: 'SUCCEEDED', timeline: [], lastEventId: first?.build.lastEventId });
  });
});

/** The headers FactoryClient would send, captured by signing through a throwaway server-less client. */
async function signedHeaders(method: string, path: string, body?: string): Promise<Record<string, string>> {
  const { HttpRequest } = await import('@smithy/protocol-http');
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const url = new URL(`${api.endpoint}/${path}`);
  const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, sha256: Sha256 });
  const request = new HttpRequest({ method, protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, headers: { host: url.host, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body });
  return (await signer.sign(request)).headers;
}
