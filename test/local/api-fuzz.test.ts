/**
 * The API fuzzed from its own document: schemathesis generates requests from
 * functions/openapi.yaml (valid ones, and every kind of invalid one) and sends them to the
 * local API, served by the real handlers over the local AWS. No answer may be a server
 * error, and every documented answer must match its schema. Requests pass a signing proxy:
 * the API, like API Gateway with IAM authorisation, refuses unsigned ones.
 *
 * The seed is fixed so a CI run is repeatable; run schemathesis by hand with other seeds and
 * a longer --max-time to look further.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApiServer, type LocalApi } from '../../local/api-server.ts';
import { LOCAL_CREDENTIALS } from '../../local/moto-server.ts';
import { cacheDir, repoRoot } from '../../local/paths.ts';
import { CALLER, startLocalAws, type LocalAws } from '../functions/support.ts';
import { startSigningProxy, type SigningProxy } from '../support/signing-proxy.ts';

const SCHEMATHESIS = join(cacheDir, 'schemathesis-venv', 'bin', 'schemathesis');

let aws: LocalAws;
let api: LocalApi;
let proxy: SigningProxy;

beforeAll(async () => {
  aws = await startLocalAws();
  // Signed with the local key, acting as a caller of a team, so submits get past access control.
  api = await startApiServer(0, { callers: new Map([[LOCAL_CREDENTIALS.accessKeyId, { secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey, principalArn: CALLER }]]) });
  proxy = await startSigningProxy(api.endpoint, LOCAL_CREDENTIALS);
});

afterAll(async () => {
  await proxy.close();
  await api.close();
  await aws.stop();
});

it('answers every generated request without a server error, and as the document says', async () => {
  const run = await execa(
    SCHEMATHESIS,
    [
      'run', join(repoRoot, 'functions', 'openapi.yaml'),
      '--url', proxy.endpoint,
      '--checks', 'not_a_server_error,response_schema_conformance',
      '--phases', 'examples,coverage,fuzzing',
      '--max-examples', '25',
      '--max-time', '45',
      '--workers', '1',
      '--seed', '20261130',
      '--suppress-health-check', 'all',
      '--no-color',
    ],
    { reject: false, all: true, env: { SCHEMATHESIS_HOOKS: '' } },
  );
  expect(run.exitCode, run.all).toBe(0);
  expect(run.all).toMatch(/\d+ generated, \d+ passed/);
});
