/**
 * Starting a build, whoever asks: `POST /builds` (functions/submit-build.ts) and a family's
 * scheduled or on-demand run (family-run.ts) go through here, so both validate, check, reuse
 * and start builds the same way. Validate the bundle, resolve the source image, plan the EC2
 * calls, store the bundle, start the workflow.
 *
 * Idempotency needs no table: the key (scoped by the owner's principal) gives the build id,
 * the build id is the execution name and the bundle's S3 key, and the bundle records the
 * request's hash. So a retry finds the bundle, compares hashes (422 if the body changed), and
 * finds the execution; a conditional write of the bundle and StartExecution's refusal of a
 * second execution of the same name settle two retries that race.
 *
 * Many teams share the factory: the build belongs to its owner's team (access.ts), claims
 * ami_name atomically (name-claims.ts), keeps its sensitive values in a secret of its own
 * (build-secret.ts), and may run host-side commands only with the grant it is given
 * (request-policy.ts). What a start made before failing (the name claim, the secret, the
 * owner marker) is removed again, so a refused or failed start leaves nothing behind.
 *
 * A build is not baked twice: the request's bake key (bake-key.ts) names what it would
 * produce, and when an available image or a running build of the team has it, the answer is
 * that build (`reused`), unless the request asks to `rebake`. The reuse check comes after the
 * policy checks (a refused request stays refused) and before the name checks (the image being
 * reused may well hold ami_name).
 */
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { BuildAccepted } from '../../contract/api.ts';
import { bundleKey, type BuildGrants, type StoredBuild } from '../../contract/bundle.ts';
import type { BuildOwner, ExistingImage } from '../../contract/execution.ts';
import { maskSensitive } from '../../model/index.ts';
import { ec2, isAwsError, s3, secretsManager, sfn } from './aws.ts';
import { bakeKey } from './bake-key.ts';
import { findReusableImage, readBakeRecord, writeBakeRecord, type BakeScope } from './bake-reuse.ts';
import { IDEMPOTENCY_KEY_PATTERN, idempotentBuildId, newBuildId } from './build-id.ts';
import { deleteOwnerMarker, ownerMarkerKey, writeOwnerMarker } from './build-owners.ts';
import { buildSecretName, createBuildSecret, deleteBuildSecret, splitSecrets } from './build-secret.ts';
import { describeBuild, executionArn } from './builds.ts';
import { artifactsBucket, buildSecretsPrefix, pollingConfig, stateMachine, timeoutsConfig, type StateMachine } from './config.ts';
import { ProblemError } from './http.ts';
import type { Logger } from './log.ts';
import { claimName, inFlight, releaseName, type HolderVerdict, type NameClaim } from './name-claims.ts';
import { planBuild } from './planner.ts';
import { validateBundle } from './bundle-validation.ts';
import { keepsVolumePools, loadFactoryConfig } from './factory-config.ts';
import { hostCommandUses, manifestSensitiveValues, publishedSensitiveValues, refuseIfAny } from './request-policy.ts';
import { manifestOptions } from './manifest.ts';
import { findExistingImage, resolveSourceImage } from './source-image.ts';
import type { SubmitRequest } from './submit-request.ts';

const HASH_METADATA = 'request-sha256';

export interface StartBuildInput {
  /** The submit body, parsed (submit-request.ts). */
  request: SubmitRequest;
  /** Whose build it is: its team owns it, its principal asked for it. */
  owner: BuildOwner;
  /** What the factory's configuration grants the build (decided by the caller of this, never by the template). */
  grants: BuildGrants;
  /** The request's Idempotency-Key, unchecked; scoped by the owner's principal. */
  idempotencyKey?: string;
  /** The factory family the build is for: its images carry the family tag, and its bake key the family. */
  family?: string | null;
  log: Logger;
}

/** How an answer came about: a new build, an Idempotency-Key replay, or a reused build. */
export type StartedHow = 'new' | 'replayed' | 'reused';

export interface StartedBuild {
  how: StartedHow;
  /** The answer `POST /builds` gives. */
  accepted: BuildAccepted;
  /** The request's bake key; null for a replay, answered before the key is computed. */
  bakeKey: string | null;
  /** The resolved source image; null for a replay and for from_scratch. */
  sourceImageId: string | null;
}

function acceptedAnswer(buildId: string, status: string, reused: boolean, imageId?: string): BuildAccepted {
  const self = `/builds/${buildId}`;
  return { buildId, status, reused, ...(imageId === undefined ? {} : { imageId }), links: { self, log: `${self}/log` } };
}

function replayed(buildId: string, status: string): StartedBuild {
  return { how: 'replayed', accepted: acceptedAnswer(buildId, status, false), bakeKey: null, sourceImageId: null };
}

/**
 * The build of the team that already has the bake key: the one that made an available image,
 * else one still running; undefined when a new build must bake.
 */
async function reusedBuild(machine: StateMachine, scope: BakeScope): Promise<BuildAccepted | undefined> {
  const image = await findReusableImage(ec2(), scope);
  if (image !== null) return acceptedAnswer(image.buildId, 'SUCCEEDED', true, image.imageId);
  const buildId = await readBakeRecord(s3(), scope);
  if (buildId === undefined) return undefined;
  let status: string | undefined;
  try {
    status = (await describeBuild(sfn(), machine, buildId)).status;
  } catch (error) {
    if (!(error instanceof ProblemError && error.status === 404)) throw error;
  }
  return status === 'RUNNING' ? acceptedAnswer(buildId, status, true) : undefined;
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
async function replayOf(machine: StateMachine, bucket: string, buildId: string, hash: string): Promise<StartedBuild | undefined> {
  const stored = await storedHash(bucket, buildId);
  if (stored === undefined) return undefined;
  if (stored !== hash) throw keyReused();
  try {
    const execution = await describeBuild(sfn(), machine, buildId);
    return replayed(buildId, execution.status ?? 'RUNNING');
  } catch (error) {
    if (error instanceof ProblemError && error.status === 404) return undefined;
    throw error;
  }
}

/**
 * Stores the build (its bundle and grants) before the workflow starts, so a running build
 * can always fetch it.
 * Keyed requests write only if absent: a racing retry must not replace the first body.
 * Returns whether this request wrote it.
 */
async function storeBuild(bucket: string, buildId: string, build: StoredBuild, hash: string, keyed: boolean): Promise<boolean> {
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
    return true;
  } catch (error) {
    if (!keyed || !isAwsError(error, 'PreconditionFailed', 'ConditionalRequestConflict')) throw error;
    if ((await storedHash(bucket, buildId)) !== hash) throw keyReused();
    return false;
  }
}

/**
 * Whether another build's claim on ami_name still stands. A running build keeps it, and so
 * does one whose submit is still at work (claimed, not started yet). A build that is over
 * keeps it only through its image: when no image has the name, the claim is
 * stale (a failed build whose clean-up has not run yet); when one has, this request passed
 * findExistingImage, so it replaces that image with force_deregister for the same team.
 */
function judgeHolder(machine: StateMachine, existingImage: ExistingImage | null): (holder: NameClaim) => Promise<HolderVerdict> {
  return async (holder) => {
    let status: string | undefined;
    try {
      status = (await describeBuild(sfn(), machine, holder.buildId)).status;
    } catch (error) {
      if (!(error instanceof ProblemError && error.status === 404)) throw error;
    }
    if (status === 'RUNNING' || status === 'PENDING_REDRIVE') return 'running';
    // Not started yet: the submit that claimed the name may be about to start it.
    if (status === undefined && inFlight(holder)) return 'running';
    return existingImage === null ? 'stale' : 'replaceable';
  };
}

/** What a start made, undone newest first when a later step fails. */
class Undo {
  readonly #steps: { what: string; run: () => Promise<unknown> }[] = [];

  add(what: string, run: () => Promise<unknown>): void {
    this.#steps.unshift({ what, run });
  }

  /** Best effort: one failed step does not keep the others from running. */
  async run(log: Logger): Promise<void> {
    for (const step of this.#steps) {
      try {
        await step.run();
      } catch (error) {
        log.error({ err: error }, `a failed submit could not remove ${step.what}`);
      }
    }
  }
}

export async function startBuild({ request, owner, grants, idempotencyKey: key, family = null, log }: StartBuildInput): Promise<StartedBuild> {
  const machine = stateMachine();
  const bucket = artifactsBucket();
  if (key !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ProblemError(400, 'InvalidIdempotencyKey', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces');
  }
  const buildId = key === undefined ? newBuildId() : idempotentBuildId(key, owner.principal);
  const buildLog = log.child({ buildId, ...(family === null ? {} : { family }) });
  if (key !== undefined) {
    // Before validation: the first attempt's image may since hold ami_name, which would
    // turn an honest retry into a 409.
    const replay = await replayOf(machine, bucket, buildId, request.hash);
    if (replay) {
      buildLog.info('idempotent replay');
      return replay;
    }
  }

  const buildRequest = await validateBundle(request.bundle);
  const builderPath = buildRequest.builder_path ?? (Array.isArray(request.bundle.template.builders) ? 'builders[0]' : '');
  refuseIfAny([...publishedSensitiveValues(buildRequest, builderPath), ...manifestSensitiveValues(buildRequest)], grants.hostCommands ? [] : hostCommandUses(buildRequest, builderPath));
  const source = await resolveSourceImage(ec2(), buildRequest.builder, builderPath);
  const sourceImageId = source?.ImageId ?? null;
  const scope: BakeScope = {
    bucket,
    accountId: machine.accountId,
    region: machine.region,
    team: owner.team,
    bakeKey: await bakeKey({ team: owner.team, bundle: request.bundle, source, family }),
  };
  if (!request.rebake) {
    const reused = await reusedBuild(machine, scope);
    if (reused) {
      buildLog.info({ bakeKey: scope.bakeKey, team: owner.team, reusedBuildId: reused.buildId }, 'build reused');
      return { how: 'reused', accepted: reused, bakeKey: scope.bakeKey, sourceImageId };
    }
  }
  const existingImage = await findExistingImage(ec2(), buildRequest.builder, builderPath, owner.team);
  const { bundle: storedBundle, secretValues } = splitSecrets(request.bundle, buildRequest);
  const secretVariables = Object.keys(secretValues);
  const secretId = secretVariables.length === 0 ? null : buildSecretName(buildSecretsPrefix(), buildId);
  const planned = planBuild(buildRequest, source, {
    buildId,
    target: { region: machine.region, accountId: machine.accountId },
    polling: pollingConfig(),
    timeouts: timeoutsConfig(),
    existingImage,
    builderPath,
    owner,
    bakeKey: scope.bakeKey,
    family,
    targets: request.targets,
    volumePools: keepsVolumePools(await loadFactoryConfig()),
    warn: (path, message) => {
      buildLog.warn({ path }, message);
    },
    secret: secretId === null ? null : { id: secretId, instanceArnPrefix: `arn:${machine.partition}:ec2:${machine.region}:${machine.accountId}:instance/` },
  });
  const input = { ...planned, manifest: manifestOptions(buildRequest) };

  const keyed = key !== undefined;
  const undo = new Undo();
  const marker = ownerMarkerKey(owner.team, buildId, new Date());
  try {
    const name = { bucket, accountId: machine.accountId, region: machine.region, amiName: buildRequest.builder.ami_name };
    const claim = await claimName(s3(), name, { buildId, team: owner.team }, judgeHolder(machine, existingImage), builderPath);
    if (claim.written) undo.add(`the claim on ami_name "${name.amiName}"`, () => releaseName(s3(), name, buildId));
    if (secretId !== null) {
      const secret = await createBuildSecret(secretsManager(), secretId, secretValues, { buildId, owner });
      if (secret.created) undo.add(`the secret ${secretId}`, () => deleteBuildSecret(secretsManager(), secretId));
    }
    const stored = await storeBuild(bucket, buildId, { bundle: storedBundle, grants, secretId, secretVariables }, request.hash, keyed);
    // A keyed request's bundle is its retry's record; another attempt may be using it.
    if (stored && !keyed) undo.add('the stored build', () => s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: bundleKey(buildId) })));
    await writeOwnerMarker(s3(), bucket, marker, owner);
    undo.add('the owner marker', () => deleteOwnerMarker(s3(), bucket, marker));
    await sfn().send(new StartExecutionCommand({ stateMachineArn: machine.arn, name: buildId, input: JSON.stringify(input) }));
  } catch (error) {
    // Only a keyed request reuses a name: a retry that raced this one started the build,
    // with its own claim, secret and marker; only this attempt's marker is one too many.
    if (keyed && isAwsError(error, 'ExecutionAlreadyExists')) {
      await deleteOwnerMarker(s3(), bucket, marker);
      const execution = await describeBuild(sfn(), machine, buildId);
      buildLog.info({ executionArn: executionArn(machine, buildId) }, 'idempotent replay (execution already started)');
      return replayed(buildId, execution.status ?? 'RUNNING');
    }
    await undo.run(buildLog);
    throw error;
  }
  try {
    await writeBakeRecord(s3(), scope, buildId);
  } catch (error) {
    // The build runs all the same; without the record an identical submit may bake again.
    buildLog.error({ err: error }, 'could not record the build under its bake key');
  }
  buildLog.info(
    { amiName: maskSensitive(input.registerImage.Name ?? '', buildRequest.sensitive_values), sourceImage: sourceImageId ?? 'from_scratch', bakeKey: scope.bakeKey, team: owner.team, principal: owner.principal },
    'build started',
  );
  return { how: 'new', accepted: acceptedAnswer(buildId, 'RUNNING', false), bakeKey: scope.bakeKey, sourceImageId };
}
