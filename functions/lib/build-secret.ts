/**
 * Sensitive variables never rest where another build or host could read them. The stored
 * build (read by every host's role) keeps the template and the other variables; the values
 * of the sensitive ones, and of any variable whose value contains one, go into a Secrets
 * Manager secret of the build, `<prefix><buildId>`. The workflow tags it with the claiming
 * host's instance ARN, and the worker role may read a build secret only when that tag is
 * its own instance (`ec2:SourceInstanceARN`). Clean-up deletes it, and so does the workflow
 * once provisioning is over.
 */
import { CreateSecretCommand, DeleteSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { BuildBundle } from '../../contract/bundle.ts';
import { BUILD_ID_TAG, TEAM_TAG, type BuildOwner } from '../../contract/execution.ts';
import type { BuildRequest } from '../../model/index.ts';
import { isAwsError } from './aws.ts';

export interface SplitBundle {
  /** The bundle without the secret values: what the stored build holds. */
  bundle: BuildBundle;
  /** Variable name to value: what the build's secret holds. Empty without sensitive values. */
  secretValues: Record<string, string>;
}

function contains(value: string, secrets: readonly string[]): boolean {
  return secrets.some((secret) => secret !== '' && value.includes(secret));
}

/**
 * Moves every variable whose final value holds a sensitive value out of the bundle. In the
 * stored template those variables become required (null), so the host cannot build without
 * the secret: a missing value is an error naming the variable, never an empty string.
 */
export function splitSecrets(bundle: BuildBundle, request: BuildRequest): SplitBundle {
  const secrets = request.sensitive_values;
  const secretValues: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.variables_used)) {
    if (contains(value, secrets)) secretValues[name] = value;
  }
  if (Object.keys(secretValues).length === 0) return { bundle, secretValues };
  const variables = Object.fromEntries(Object.entries(bundle.variables).filter(([name]) => !(name in secretValues)));
  const declared = bundle.template.variables;
  const template =
    typeof declared === 'object' && declared !== null && !Array.isArray(declared)
      ? {
          ...bundle.template,
          variables: Object.fromEntries(Object.entries(declared as Record<string, unknown>).map(([name, value]) => [name, name in secretValues ? null : value])),
        }
      : bundle.template;
  return { bundle: { ...bundle, template, variables }, secretValues };
}

export function buildSecretName(prefix: string, buildId: string): string {
  return `${prefix}${buildId}`;
}

export interface CreatedSecret {
  name: string;
  /** False when an Idempotency-Key retry found the secret its first attempt made. */
  created: boolean;
}

/**
 * Creates the build's secret, tagged with the build id and team (the clean-up and the
 * operators find it by them). A retry of the same build finds it already made.
 */
export async function createBuildSecret(
  client: SecretsManagerClient,
  name: string,
  values: Record<string, string>,
  build: { buildId: string; owner: BuildOwner },
): Promise<CreatedSecret> {
  try {
    await client.send(
      new CreateSecretCommand({
        Name: name,
        Description: `Sensitive variables of ami-factory build ${build.buildId}`,
        SecretString: JSON.stringify(values),
        Tags: [
          { Key: BUILD_ID_TAG, Value: build.buildId },
          { Key: TEAM_TAG, Value: build.owner.team },
        ],
      }),
    );
    return { name, created: true };
  } catch (error) {
    if (isAwsError(error, 'ResourceExistsException')) return { name, created: false };
    throw error;
  }
}

/** Deletes at once (no recovery window: a build's secret has no later use); gone is fine. */
export async function deleteBuildSecret(client: SecretsManagerClient, name: string): Promise<boolean> {
  try {
    await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    return true;
  } catch (error) {
    if (isAwsError(error, 'ResourceNotFoundException')) return false;
    throw error;
  }
}
