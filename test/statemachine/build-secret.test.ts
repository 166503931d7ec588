/**
 * A build's secret (the values of its sensitive variables) in the real workflow: tagged with
 * the claiming host's instance ARN before the host is asked to provision, deleted once
 * provisioning is over, and deleted by the clean-up function when the build fails.
 */
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANCE_ARN_TAG } from '../../contract/execution.ts';
import { callsTo } from '../support/executions.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../support/local-aws.ts';
import { buildImageInput, newBuildId } from './support/build-input.ts';
import { cleanUpAfter, runBuild, startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

let local: LocalBuildImage;
let secrets: SecretsManagerClient;
const instanceArnPrefix = `arn:aws:ec2:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:instance/`;

beforeAll(async () => {
  local = await startLocalBuildImage();
  secrets = new SecretsManagerClient(local.aws.clientConfig);
});

afterAll(async () => {
  secrets.destroy();
  await local.stop();
});

/** The secret the submit function would have made for the build. */
async function buildSecret(buildId: string): Promise<string> {
  const id = `ami-factory/test/builds/${buildId}`;
  await secrets.send(new CreateSecretCommand({ Name: id, SecretString: JSON.stringify({ password: 'hunter2' }), Tags: [{ Key: 'ami-factory:build-id', Value: buildId }] }));
  return id;
}

async function secretTags(id: string): Promise<Record<string, string> | undefined> {
  try {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: id }));
    // Deleted without a recovery window: gone, or at least marked deleted.
    if (described.DeletedDate !== undefined) return undefined;
    return Object.fromEntries((described.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

describe('a build with a secret', () => {
  it('tags the secret for the claiming host, then deletes it once provisioning succeeded', async () => {
    const buildId = newBuildId();
    const id = await buildSecret(buildId);
    const input = { ...buildImageInput({ buildId, sourceSnapshotId: local.sourceSnapshotId }), secret: { id, instanceArnPrefix } };

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(callsTo(result.events, 'secretsmanager:tagResource')).toEqual([
      { SecretId: id, Tags: [{ Key: INSTANCE_ARN_TAG, Value: `${instanceArnPrefix}${local.worker.host.instanceId}` }] },
    ]);
    expect(callsTo(result.events, 'secretsmanager:deleteSecret')).toEqual([{ SecretId: id, ForceDeleteWithoutRecovery: true }]);
    expect(await secretTags(id)).toBeUndefined();
  });

  it('is left for the clean-up function when provisioning fails, tagged for the host that claimed the build', async () => {
    const buildId = newBuildId();
    const id = await buildSecret(buildId);
    const input = { ...buildImageInput({ buildId, sourceSnapshotId: local.sourceSnapshotId }), secret: { id, instanceArnPrefix } };
    local.worker.script(buildId, { provision: { fail: { error: 'ProvisionerFailed', cause: 'provisioners[0] exited 1' } } });

    const result = await runBuild(local, input);

    expect(result.status).toBe('FAILED');
    // Tagged before the host was asked to provision: the host could read it while it built.
    const entered = result.events.flatMap((event) => (event.stateEnteredEventDetails?.name === undefined ? [] : [event.stateEnteredEventDetails.name]));
    expect(entered.indexOf('Tag the secret for the host')).toBeLessThan(entered.indexOf('Provision on the host'));
    expect(await secretTags(id)).toEqual({ 'ami-factory:build-id': buildId, [INSTANCE_ARN_TAG]: `${instanceArnPrefix}${local.worker.host.instanceId}` });
    expect(callsTo(result.events, 'secretsmanager:deleteSecret')).toEqual([]);

    const report = await cleanUpAfter(result);
    expect(report.deletedSecret).toBe(id);
    expect(await secretTags(id)).toBeUndefined();
  });

  it('builds without a secret as before: no Secrets Manager call', async () => {
    const result = await runBuild(local, buildImageInput({ sourceSnapshotId: local.sourceSnapshotId }));
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(callsTo(result.events, 'secretsmanager:tagResource')).toEqual([]);
    expect(callsTo(result.events, 'secretsmanager:deleteSecret')).toEqual([]);
  });
});
