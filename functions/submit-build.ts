/**
 * POST /builds: validate the bundle, resolve the source image, plan the EC2 calls, store the
 * bundle, start the workflow. Answers 202 with the build id; with an Idempotency-Key, a
 * retry answers 200 with the build the first attempt started.
 *
 * Idempotency needs no table: the key (scoped by the caller) gives the build id, the build
 * id is the execution name and the bundle's S3 key, and the bundle records the request's
 * hash. So a retry finds the bundle, compares hashes (422 if the body changed), and finds
 * the execution; a conditional write of the bundle and StartExecution's refusal of a
 * second execution of the same name settle two retries that race.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { BuildAccepted } from '../contract/api.ts';
import type { BuildBundle, BuildGrants, StoredBuild } from '../contract/bundle.ts';
import { loadBundle } from '../model/bundle.ts';
import { maskSensitive, TemplateValidationError, type BuildRequest } from '../model/index.ts';
import { ec2, isAwsError, s3, sfn } from './lib/aws.ts';
import { IDEMPOTENCY_KEY_PATTERN, idempotentBuildId, newBuildId } from './lib/build-id.ts';
import { describeBuild, executionArn } from './lib/builds.ts';
import { artifactsBucket, maxBodyBytes, pollingConfig, stateMachine, timeoutsConfig, type StateMachine } from './lib/config.ts';
import { bundleKey } from '../contract/bundle.ts';
import { bodyBytes, callerIdentity, header, httpHandler, json, ProblemError } from './lib/http.ts';
import { planBuild } from './lib/planner.ts';
import { findExistingImage, resolveSourceImage } from './lib/source-image.ts';
import { parseSubmitBody } from './lib/submit-request.ts';

const HASH_METADATA = 'request-sha256';

function accepted(buildId: string, status: string, replayed: boolean): APIGatewayProxyResult {
  const self = `/builds/${buildId}`;
  const answer: BuildAccepted = { buildId, status, links: { self, log: `${self}/log` } };
  return json(
    replayed ? 200 : 202,
    answer,
    { location: self, ...(replayed ? { 'idempotent-replayed': 'true' } : {}) },
  );
}

/** The request hash stored with a build's bundle, or undefined when there is no bundle yet. */
async function storedHash(bucket: string, buildId: string): Promise<string | undefined> {
  try {
    const head = await s3().send(new HeadObjectCommand({ Bucket: bucket, Key: bundleKey(buildId) }));
    return head.Metadata?.[HASH_METADATA] ?? '';
  } catch (error) {
    if (isAwsError(error, 'NotFound', 'NoSuchKey')) return undefined;
    throw error;
  }
}

function keyReused(): ProblemError {
  return new ProblemError(
    422,
    'IdempotencyKeyReused',
    'this Idempotency-Key was used with a different request body; use a new key for a new build',
  );
}

/**
 * What an earlier request with the same key left behind: its build if it started one (the
 * replay answer), nothing if it stored the bundle but died before starting the workflow.
 */
async function replayOf(machine: StateMachine, bucket: string, buildId: string, hash: string): Promise<APIGatewayProxyResult | undefined> {
  const stored = await storedHash(bucket, buildId);
  if (stored === undefined) return undefined;
  if (stored !== hash) throw keyReused();
  try {
    const execution = await describeBuild(sfn(), machine, buildId);
    return accepted(buildId, execution.status ?? 'RUNNING', true);
  } catch (error) {
    if (error instanceof ProblemError && error.status === 404) return undefined;
    throw error;
  }
}

/** The model's own validation, run on the bundle's files in a fresh directory. */
async function validate(bundle: BuildBundle): Promise<BuildRequest> {
  const workDir = await mkdtemp(join(tmpdir(), 'bundle-'));
  try {
    return await loadBundle(bundle, workDir);
  } catch (error) {
    if (error instanceof TemplateValidationError) {
      throw new ProblemError(400, 'InvalidTemplate', `the template has ${error.errors.length} error(s)`, error.errors);
    }
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Stores the build (its bundle and grants) before the workflow starts, so a running build
 * can always fetch it.
 * Keyed requests write only if absent: a racing retry must not replace the first body.
 */
async function storeBuild(bucket: string, buildId: string, build: StoredBuild, hash: string, keyed: boolean): Promise<void> {
  try {
    await s3().send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: bundleKey(buildId),
        Body: JSON.stringify(build),
        ContentType: 'application/json',
        Metadata: { [HASH_METADATA]: hash },
        ...(keyed ? { IfNoneMatch: '*' } : {}),
      }),
    );
  } catch (error) {
    if (!keyed || !isAwsError(error, 'PreconditionFailed', 'ConditionalRequestConflict')) throw error;
    if ((await storedHash(bucket, buildId)) !== hash) throw keyReused();
  }
}

export const handler = httpHandler(async (event, log) => {
  const machine = stateMachine();
  const bucket = artifactsBucket();
  const request = parseSubmitBody(bodyBytes(event), maxBodyBytes());

  const key = header(event, 'Idempotency-Key');
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ProblemError(400, 'InvalidIdempotencyKey', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
  }
  const buildId = key === undefined ? newBuildId() : idempotentBuildId(key, callerIdentity(event));
  const buildLog = log.child({ buildId });
  if (key !== undefined) {
    // Before validation: the first attempt's image may since hold ami_name, which would
    // turn an honest retry into a 409.
    const replay = await replayOf(machine, bucket, buildId, request.hash);
    if (replay) {
      buildLog.info('idempotent replay');
      return replay;
    }
  }

  const buildRequest = await validate(request.bundle);
  const builderPath = Array.isArray(request.bundle.template.builders) ? 'builders[0]' : '';
  const source = await resolveSourceImage(ec2(), buildRequest.builder, builderPath);
  const existingImage = await findExistingImage(ec2(), buildRequest.builder, builderPath);
  const input = planBuild(buildRequest, source, {
    buildId,
    target: { region: machine.region, accountId: machine.accountId },
    polling: pollingConfig(),
    timeouts: timeoutsConfig(),
    existingImage,
    builderPath,
  });

  const grants: BuildGrants = { hostCommands: false };
  await storeBuild(bucket, buildId, { bundle: request.bundle, grants }, request.hash, key !== undefined);
  try {
    await sfn().send(new StartExecutionCommand({ stateMachineArn: machine.arn, name: buildId, input: JSON.stringify(input) }));
  } catch (error) {
    // Only a keyed request reuses a name: a retry that raced this one started the build.
    if (key === undefined || !isAwsError(error, 'ExecutionAlreadyExists')) throw error;
    const execution = await describeBuild(sfn(), machine, buildId);
    buildLog.info({ executionArn: executionArn(machine, buildId) }, 'idempotent replay (execution already started)');
    return accepted(buildId, execution.status ?? 'RUNNING', true);
  }
  buildLog.info({ amiName: maskSensitive(input.registerImage.Name ?? '', buildRequest.sensitive_values), sourceImage: source?.ImageId ?? 'from_scratch' }, 'build started');
  return accepted(buildId, 'RUNNING', false);
});
