/**
 * Function settings from the environment, read when a handler needs them and checked with
 * messages that name the variable: a misconfigured deployment fails its first request with
 * a line that says what to fix, not with an SDK error about an undefined parameter.
 */
import * as z from 'zod';
import { PollingSchema, TimeoutsSchema, type Polling, type Timeouts } from '../../contract/execution.ts';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';
import { DEFAULT_TARGET_ROLE_NAME } from '../../contract/targets.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export function requiredEnv(name: string, what: string): string {
  const value = env(name);
  if (value === undefined) throw new ConfigError(`${name} is not set: it must hold ${what}`);
  return value;
}

function jsonEnv<T extends z.ZodType>(name: string, schema: T, example: string): z.output<T> | undefined {
  const raw = env(name);
  if (raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} is not JSON: expected an object such as ${example}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = formatFieldErrors(fieldErrorsOf(parsed.error), { whole: '(root)', separator: '; ' });
    throw new ConfigError(`${name} is invalid (${problems}); expected an object such as ${example}`);
  }
  return parsed.data;
}

function integerEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export interface StateMachine {
  arn: string;
  partition: string;
  region: string;
  accountId: string;
  name: string;
}

const STATE_MACHINE_ARN = /^arn:(aws[a-z-]*):states:([a-z0-9-]+):(\d{12}):stateMachine:([A-Za-z0-9_-]{1,80})$/;

/** The build workflow. Its ARN also names the target region and account of every build. */
export function stateMachine(): StateMachine {
  const arn = requiredEnv('STATE_MACHINE_ARN', 'the ARN of the build-image state machine');
  const match = STATE_MACHINE_ARN.exec(arn);
  if (!match) throw new ConfigError(`STATE_MACHINE_ARN is not a state machine ARN: "${arn}"`);
  const [, partition, region, accountId, name] = match as unknown as [string, string, string, string, string];
  return { arn, partition, region, accountId, name };
}

/** Holds `bundles/<buildId>.json` (written on submit) and `logs/<buildId>.log` (by the worker). */
export function artifactsBucket(): string {
  return requiredEnv('ARTIFACTS_BUCKET', 'the name of the artifacts bucket');
}

/**
 * Each build with sensitive variables gets a Secrets Manager secret `<prefix><buildId>`
 * (`<service>/<stage>/builds/`): the worker role may read only those tagged for its instance.
 */
export function buildSecretsPrefix(): string {
  const prefix = requiredEnv('BUILD_SECRETS_PREFIX', 'the name prefix of the builds\' secrets, such as ami-factory/prod/builds/');
  if (!/^[A-Za-z0-9/_+=.@-]+\/$/.test(prefix)) throw new ConfigError(`BUILD_SECRETS_PREFIX must be a secret name path ending in "/", got "${prefix}"`);
  return prefix;
}

/** Host queues are `<prefix>-host-<instanceId>`, as the worker names them. */
export function hostQueuePrefix(): string {
  return requiredEnv('HOST_QUEUE_PREFIX', 'the prefix of the hosts\' queue names (`<prefix>-host-<instanceId>`)');
}

/**
 * API Gateway takes 10 MB and Lambda 6 MB of request payload; the default leaves room for
 * the base64 growth of a binary body and still fits a template with its scripts.
 */
export function maxBodyBytes(): number {
  return integerEnv('MAX_BODY_BYTES', 4 * 1024 * 1024, 1024, 6 * 1024 * 1024);
}

/**
 * Production pacing: volumes and attachments settle in seconds, snapshots and images in
 * minutes. 120 attempts at 15 s is Packer's 30 minutes for a large snapshot.
 */
export const DEFAULT_POLLING: Readonly<Polling> = { volume: 5, attachment: 5, snapshot: 15, image: 15, maxAttempts: 120 };

const pollingSchema = PollingSchema.partial();

/** `POLLING` (JSON, any subset of the fields) overrides the defaults, e.g. for fast tests. */
export function pollingConfig(): Polling {
  const override = jsonEnv('POLLING', pollingSchema, '{"snapshot": 1, "maxAttempts": 10}') ?? {};
  return { ...DEFAULT_POLLING, ...withoutUndefined(override) };
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = { claimSeconds: 1800, provisionSeconds: 3600, heartbeatSeconds: 120 };

const timeoutsSchema = TimeoutsSchema.partial();

/** `TIMEOUTS` (JSON, any subset of the fields) overrides the defaults. */
export function timeoutsConfig(): Timeouts {
  const override = jsonEnv('TIMEOUTS', timeoutsSchema, '{"claimSeconds": 600}') ?? {};
  const timeouts = { ...DEFAULT_TIMEOUTS, ...withoutUndefined(override) };
  if (timeouts.heartbeatSeconds > timeouts.provisionSeconds) {
    throw new ConfigError('TIMEOUTS: heartbeatSeconds must not exceed provisionSeconds');
  }
  return timeouts;
}

/** How long clean-up waits for a polite detach before forcing it, and between its polls. */
export function detachConfig(): { waitSeconds: number; pollSeconds: number } {
  return {
    waitSeconds: integerEnv('DETACH_WAIT_SECONDS', 60, 0, 600),
    pollSeconds: integerEnv('DETACH_POLL_SECONDS', 5, 0, 60),
  };
}

function withoutUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * The role the factory assumes in a target account (docs/target-account-role.md): the same
 * name in every account, so a target is just an account id and a region.
 */
export function targetRoleName(): string {
  const name = process.env.TARGET_ROLE_NAME?.trim();
  if (name === undefined || name === '') return DEFAULT_TARGET_ROLE_NAME;
  if (!/^[\w+=,.@-]{1,64}$/.test(name)) throw new ConfigError(`TARGET_ROLE_NAME is not an IAM role name: "${name}"`);
  return name;
}

/** The distribute-image workflow: re-distributions of existing images. */
export function distributeStateMachineArn(): string {
  const arn = requiredEnv('DISTRIBUTE_STATE_MACHINE_ARN', 'the ARN of the distribute-image state machine');
  if (!STATE_MACHINE_ARN.test(arn)) throw new ConfigError(`DISTRIBUTE_STATE_MACHINE_ARN is not a state machine ARN: "${arn}"`);
  return arn;
}

/**
 * The ExternalId the target-account roles may require (their ExternalId parameter): one value
 * for the whole factory, from the deployment's `targetExternalId` parameter; unset sends none.
 */
export function targetExternalId(): string | undefined {
  const id = process.env.TARGET_EXTERNAL_ID?.trim();
  if (id === undefined || id === '') return undefined;
  if (!/^[\w+=,.@:/-]{2,1224}$/.test(id)) throw new ConfigError('TARGET_EXTERNAL_ID must be 2 to 1224 of letters, digits and +=,.@:/-');
  return id;
}

/** The limit the account's pending snapshots are held to (snapshot-admission.ts): EC2's, unless PENDING_SNAPSHOT_LIMIT says otherwise (tests). */
export function pendingSnapshotLimitConfig(fallback: number): number {
  return integerEnv('PENDING_SNAPSHOT_LIMIT', fallback, 1, 100_000);
}
