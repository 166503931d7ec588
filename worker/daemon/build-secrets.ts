/**
 * The values of a build's sensitive variables, which the stored build does not hold: the
 * submit function put them in the build's own Secrets Manager secret, and the workflow
 * tagged it for this host when the host claimed the build. The host's role may read a
 * build secret only with that tag (docs/architecture.md, "Teams and access"), so a host can
 * read the secrets of its own builds and no other's.
 *
 * They go back in as variables of the bundle before the template is parsed, so the build
 * sees exactly the values the requester gave, masked in its log as sensitive as before.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BuildBundle, StoredBuild } from '../../contract/bundle.ts';

/**
 * A Secrets Manager client with the S3 client's settings (region, credentials, endpoint):
 * the worker's clients are made once at start-up, and the secret is read next to the bundle.
 */
const clients = new WeakMap<S3Client, SecretsManagerClient>();

function secretsClientLike(s3: S3Client): SecretsManagerClient {
  let client = clients.get(s3);
  if (client === undefined) {
    const { region, credentials, endpoint, isCustomEndpoint } = s3.config;
    client = new SecretsManagerClient({ region, credentials, ...(isCustomEndpoint && endpoint !== undefined ? { endpoint } : {}) });
    clients.set(s3, client);
  }
  return client;
}

export class BuildSecretError extends Error {
  override name = 'BuildSecretError';
}

function parseValues(text: string, secretId: string, wanted: readonly string[]): Record<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BuildSecretError(`the build's secret ${secretId} is not a JSON object of variable values`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BuildSecretError(`the build's secret ${secretId} is not a JSON object of variable values`);
  }
  const values = json as Record<string, unknown>;
  const missing = wanted.filter((name) => typeof values[name] !== 'string');
  // Names only: a value never goes into an error, a log or a task answer.
  if (missing.length > 0) throw new BuildSecretError(`the build's secret ${secretId} has no value for ${missing.join(', ')}`);
  return Object.fromEntries(wanted.map((name) => [name, values[name] as string]));
}

/** The stored build's bundle with its secret's values merged back in as variables. */
export async function bundleWithSecrets(s3: S3Client, stored: StoredBuild, signal?: AbortSignal): Promise<BuildBundle> {
  const secretId = stored.secretId ?? null;
  const wanted = stored.secretVariables ?? [];
  if (secretId === null || wanted.length === 0) return stored.bundle;
  const answer = await secretsClientLike(s3).send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: signal });
  if (answer.SecretString === undefined) throw new BuildSecretError(`the build's secret ${secretId} holds no text`);
  const values = parseValues(answer.SecretString, secretId, wanted);
  return { ...stored.bundle, variables: { ...stored.bundle.variables, ...values } };
}
