/**
 * Many teams, one factory, against a real moto server: builds belong to their caller's team
 * (list, get, log and cancel show a caller only its team's builds; an admin sees all),
 * ami_name is claimed atomically, force_deregister replaces only the same team's image,
 * sensitive values stay out of the stored build and of what the image publishes, and
 * host-side commands need the configuration's grant.
 */
import { CreateTagsCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoredBuildSchema, type StoredBuild } from '../../contract/bundle.ts';
import type { ExecutionInput } from '../../contract/execution.ts';
import { handler as cancel } from '../../functions/cancel-build.ts';
import { handler as cleanUp } from '../../functions/clean-up-build.ts';
import { handler as getBuild } from '../../functions/get-build.ts';
import { handler as getLog } from '../../functions/get-build-log.ts';
import { handler as listBuilds } from '../../functions/list-builds.ts';
import { nameClaimKey } from '../../functions/lib/name-claims.ts';
import { handler as submit } from '../../functions/submit-build.ts';
import { loadBundle } from '../../model/bundle.ts';
import { bundleWithSecrets } from '../../worker/daemon/build-secrets.ts';
import { createAwsClients } from '../../worker/daemon/context.ts';
import { FINISHING_WORKFLOW, HOLDING_WORKFLOW } from './stand-in-workflows.ts';
import {
  ACCOUNT_ID, ADMIN, apiEvent, BUILD_SECRETS_PREFIX, bundle, call, CALLER, OPERATOR, OTHER_TEAM_CALLER, REGION, startLocalAws, STRANGER,
  submitEvent, TEAMMATE, waitForStatus, type Answer, type LocalAws,
} from './support.ts';

let aws: LocalAws;
let finishing: string;
let holding: string;
let sourceImage: string;
let secrets: SecretsManagerClient;

beforeAll(async () => {
  aws = await startLocalAws();
  finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
  holding = await aws.createStateMachine('build-image-holding', HOLDING_WORKFLOW);
  sourceImage = await aws.registerImage('debian-12-base');
  secrets = new SecretsManagerClient(aws.clientConfig);
});

afterAll(async () => {
  secrets.destroy();
  await aws.stop();
});

const arnOf = (machine: string, buildId: string): string => `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`;
const byId = (method: string, resource: string, id: string, caller: string) => apiEvent(method, resource, { pathParameters: { id }, caller });

async function start(machine: string, caller: string, amiName: string): Promise<string> {
  aws.useStateMachine(machine);
  const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: amiName }) }, {}, caller));
  expect(answer.status, answer.text).toBe(202);
  return answer.body.buildId as string;
}

async function storedBuild(buildId: string): Promise<StoredBuild> {
  const object = await aws.s3.send(new GetObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `bundles/${buildId}.json` }));
  return StoredBuildSchema.parse(JSON.parse((await object.Body?.transformToString()) ?? ''));
}

async function executionInput(machine: string, buildId: string): Promise<ExecutionInput> {
  const execution = await aws.sfn.send(new DescribeExecutionCommand({ executionArn: arnOf(machine, buildId) }));
  return JSON.parse(execution.input ?? '{}') as ExecutionInput;
}

async function claimOn(amiName: string): Promise<unknown> {
  try {
    const object = await aws.s3.send(new GetObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: nameClaimKey(ACCOUNT_ID, REGION, amiName) }));
    return JSON.parse((await object.Body?.transformToString()) ?? '');
  } catch (error) {
    if (error instanceof Error && error.name === 'NoSuchKey') return undefined;
    throw error;
  }
}

async function secretExists(id: string): Promise<boolean> {
  try {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: id }));
    return described.DeletedDate === undefined;
  } catch (error) {
    if (error instanceof Error && error.name === 'ResourceNotFoundException') return false;
    throw error;
  }
}

const idsOf = (answer: Answer): string[] => (answer.body.builds as { buildId: string }[]).map((build) => build.buildId);

describe('builds belong to their team', () => {
  let mine: string;
  let theirs: string;

  beforeAll(async () => {
    mine = await start(holding, CALLER, 'team-images-build');
    theirs = await start(holding, OTHER_TEAM_CALLER, 'team-web-build');
    await aws.s3.send(new PutObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `logs/${mine}.log`, Body: 'provisioned\n' }));
    await aws.s3.send(new PutObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `logs/${theirs}.log`, Body: 'provisioned\n' }));
  });

  it('records the owner in the execution input, the answers and a marker under the team', async () => {
    aws.useStateMachine(holding);
    expect((await executionInput(holding, mine)).owner).toEqual({ team: 'images', principal: CALLER });
    const details = await call(getBuild, byId('GET', '/builds/{id}', mine, CALLER));
    expect(details.body.owner).toEqual({ team: 'images', principal: CALLER });
    const markers = await aws.s3.send(new ListObjectsV2Command({ Bucket: aws.resources.artifactsBucket, Prefix: 'owners/web/' }));
    expect((markers.Contents ?? []).map((object) => object.Key)).toEqual([expect.stringMatching(new RegExp(`^owners/web/\\d{13}-${theirs}$`))]);
  });

  it('lists only the caller\'s team\'s builds; a teammate sees them too; an admin sees all', async () => {
    aws.useStateMachine(holding);
    const listed = await call(listBuilds, apiEvent('GET', '/builds', { caller: CALLER }));
    expect(listed.status).toBe(200);
    expect(idsOf(listed)).toContain(mine);
    expect(idsOf(listed)).not.toContain(theirs);
    for (const build of listed.body.builds as { owner: { team: string } }[]) expect(build.owner.team).toBe('images');

    expect(idsOf(await call(listBuilds, apiEvent('GET', '/builds', { caller: TEAMMATE })))).toContain(mine);
    expect(idsOf(await call(listBuilds, apiEvent('GET', '/builds', { caller: OTHER_TEAM_CALLER })))).toEqual([theirs]);
    expect(idsOf(await call(listBuilds, apiEvent('GET', '/builds', { caller: STRANGER })))).toEqual([]);
    const everything = idsOf(await call(listBuilds, apiEvent('GET', '/builds', { caller: ADMIN })));
    expect(everything).toEqual(expect.arrayContaining([mine, theirs]));
  });

  it('pages a team\'s builds newest first, and refuses another team\'s page token', async () => {
    aws.useStateMachine(holding);
    const newer = await start(holding, CALLER, 'team-images-newer');
    const first = await call(listBuilds, apiEvent('GET', '/builds', { caller: CALLER, query: { limit: '1' } }));
    expect(idsOf(first)).toEqual([newer]);
    const token = first.body.nextToken as string;
    expect(token).toEqual(expect.any(String));
    const second = await call(listBuilds, apiEvent('GET', '/builds', { caller: CALLER, query: { limit: '1', nextToken: token } }));
    expect(idsOf(second)).toEqual([mine]);
    const foreign = await call(listBuilds, apiEvent('GET', '/builds', { caller: OTHER_TEAM_CALLER, query: { nextToken: token } }));
    expect(foreign.status).toBe(400);
    expect(foreign.body).toMatchObject({ errors: [{ path: 'nextToken' }] });
    const running = await call(listBuilds, apiEvent('GET', '/builds', { caller: CALLER, query: { status: 'SUCCEEDED' } }));
    expect(idsOf(running)).toEqual([]);
  });

  it('answers 404 for another team\'s build, as for one that does not exist: get, log and cancel', async () => {
    aws.useStateMachine(holding);
    for (const [handler, method, resource] of [
      [getBuild, 'GET', '/builds/{id}'],
      [getLog, 'GET', '/builds/{id}/log'],
      [cancel, 'DELETE', '/builds/{id}'],
    ] as const) {
      const answer = await call(handler, byId(method, resource, theirs, CALLER));
      expect(answer.status, `${method} ${resource}`).toBe(404);
      expect(answer.body).toEqual({ error: 'BuildNotFound', message: `no build ${theirs}` });
    }
    expect((await call(getBuild, byId('GET', '/builds/{id}', mine, CALLER))).status).toBe(200);
    expect((await call(getLog, byId('GET', '/builds/{id}/log', mine, TEAMMATE))).text).toBe('provisioned\n');
    // Still running: the other team's cancel did not reach it.
    const execution = await aws.sfn.send(new DescribeExecutionCommand({ executionArn: arnOf(holding, theirs) }));
    expect(execution.status).toBe('RUNNING');
  });

  it('lets the team cancel its own build, and an admin any build', async () => {
    aws.useStateMachine(holding);
    const own = await call(cancel, byId('DELETE', '/builds/{id}', mine, TEAMMATE));
    expect(own.status).toBe(202);
    await waitForStatus(aws.sfn, arnOf(holding, mine), (status) => status === 'ABORTED');
    expect((await call(getBuild, byId('GET', '/builds/{id}', theirs, ADMIN))).status).toBe(200);
    const byAdmin = await call(cancel, byId('DELETE', '/builds/{id}', theirs, ADMIN));
    expect(byAdmin.status).toBe(202);
    await waitForStatus(aws.sfn, arnOf(holding, theirs), (status) => status === 'ABORTED');
  });

  it('refuses a build to a caller in no team (403)', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'nobodys' }) }, {}, STRANGER));
    expect(answer.status).toBe(403);
    expect(answer.body.error).toBe('NoTeam');
    expect(answer.body.message).toContain(STRANGER);
  });
});

describe('ami_name', () => {
  it('is claimed atomically: of two submits at once, exactly one starts', async () => {
    aws.useStateMachine(holding);
    const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'raced-name' }) };
    const keysBefore = await bucketKeys();
    const [first, second] = await Promise.all([call(submit, submitEvent(body, {}, CALLER)), call(submit, submitEvent(body, {}, OTHER_TEAM_CALLER))]);
    expect([first.status, second.status].sort()).toEqual([202, 409]);
    const [won, lost] = first.status === 202 ? [first, second] : [second, first];
    expect(lost.body).toMatchObject({ error: 'ImageNameClaimed', errors: [{ path: 'builders[0].ami_name' }] });
    expect(lost.body.message).toContain('"raced-name"');
    const wonId = won.body.buildId as string;
    expect(await claimOn('raced-name')).toMatchObject({ buildId: wonId });
    // The loser left nothing: the only new keys are the winner's bake-key record, bundle and owner marker (and the claim).
    const added = (await bucketKeys()).filter((key) => !keysBefore.includes(key));
    expect(added.filter((key) => !key.startsWith('names/'))).toEqual([
      expect.stringMatching(new RegExp(`^bake-keys/${ACCOUNT_ID}/${REGION}/${won === first ? 'images' : 'web'}/[0-9a-f]{64}$`)) as string,
      `bundles/${wonId}.json`,
      expect.stringMatching(new RegExp(`^owners/\\w+/\\d{13}-${wonId}$`)) as string,
    ]);
    await call(cancel, byId('DELETE', '/builds/{id}', wonId, ADMIN));
  });

  it('stands while the submit that claimed it may still start its build; a claim its submit abandoned is taken over', async () => {
    aws.useStateMachine(finishing);
    const claim = (buildId: string, claimedAt: Date) =>
      aws.s3.send(
        new PutObjectCommand({
          Bucket: aws.resources.artifactsBucket,
          Key: nameClaimKey(ACCOUNT_ID, REGION, 'in-flight-name'),
          Body: JSON.stringify({ buildId, team: 'web', amiName: 'in-flight-name', claimedAt: claimedAt.toISOString() }),
        }),
      );
    const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'in-flight-name' }) };
    // Claimed a moment ago by a build whose execution does not exist yet.
    await claim('b-0000000000aaaaaaaaaaaaaaaa', new Date());
    const refused = await call(submit, submitEvent(body, {}, CALLER));
    expect(refused.status).toBe(409);
    expect(refused.body.error).toBe('ImageNameClaimed');
    // The same, long enough ago that its submit must have died.
    await claim('b-0000000000aaaaaaaaaaaaaaaa', new Date(Date.now() - 10 * 60_000));
    const accepted = await call(submit, submitEvent(body, {}, CALLER));
    expect(accepted.status, accepted.text).toBe(202);
    expect(await claimOn('in-flight-name')).toMatchObject({ buildId: accepted.body.buildId, team: 'images' });
  });

  it('is claimed by a running build until it ends, and released by clean-up when it fails', async () => {
    const first = await start(holding, CALLER, 'claimed-name');
    // rebake: without it, the teammate's identical request would be answered with the running build.
    const second = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'claimed-name' }), rebake: true }, {}, TEAMMATE));
    expect(second.status).toBe(409);
    // Same team: the holder is named.
    expect(second.body.message).toContain(first);

    await call(cancel, byId('DELETE', '/builds/{id}', first, CALLER));
    await waitForStatus(aws.sfn, arnOf(holding, first), (status) => status === 'ABORTED');
    const detail = { executionArn: arnOf(holding, first), stateMachineArn: holding, name: first, status: 'ABORTED' };
    const report = await cleanUp({ id: 'e', version: '0', account: ACCOUNT_ID, time: new Date().toISOString(), region: REGION, resources: [], source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail });
    expect(report.releasedName).toBe('claimed-name');
    expect(await claimOn('claimed-name')).toBeUndefined();
    await start(holding, TEAMMATE, 'claimed-name');
  });

  it('removes what a submit made when starting the build fails: claim, secret, stored build and marker', async () => {
    const before = { secrets: await liveSecrets(), keys: await bucketKeys() };
    aws.useStateMachine(`arn:aws:states:${REGION}:${ACCOUNT_ID}:stateMachine:no-such-machine`);
    try {
      const answer = await call(submit, submitEvent({ bundle: secretBundle('failed-submit') }, {}, CALLER));
      expect(answer.status).toBe(500);
    } finally {
      aws.useStateMachine(finishing);
    }
    expect(await claimOn('failed-submit')).toBeUndefined();
    expect(await liveSecrets()).toEqual(before.secrets);
    expect(await bucketKeys()).toEqual(before.keys);
  });
});

async function liveSecrets(): Promise<string[]> {
  const listed = await secrets.send(new ListSecretsCommand({ MaxResults: 100 }));
  return (listed.SecretList ?? []).filter((secret) => secret.DeletedDate === undefined).map((secret) => secret.Name ?? '').sort();
}

async function bucketKeys(): Promise<string[]> {
  const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: aws.resources.artifactsBucket }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '').sort();
}

describe('force_deregister', () => {
  async function imageOf(team: string | undefined, name: string): Promise<string> {
    const imageId = (await aws.ec2.send(new RegisterImageCommand({ Name: name, RootDeviceName: '/dev/sda1' }))).ImageId as string;
    if (team !== undefined) await aws.ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: [{ Key: 'ami-factory:team', Value: team }] }));
    return imageId;
  }

  it('refuses to replace another team\'s image, or one the factory did not make (403, naming ami_name)', async () => {
    aws.useStateMachine(finishing);
    await imageOf('web', 'web-team-image');
    await imageOf(undefined, 'hand-made-image');
    for (const name of ['web-team-image', 'hand-made-image']) {
      const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: name, force_deregister: true }) }, {}, CALLER));
      expect(answer.status, name).toBe(403);
      expect(answer.body).toMatchObject({ error: 'ImageOfAnotherTeam', errors: [{ path: 'builders[0].force_deregister' }] });
      expect(answer.body.message).toContain(`"${name}"`);
      expect(await claimOn(name)).toBeUndefined();
    }
  });

  it('replaces the team\'s own image and takes over its claim', async () => {
    // The team's earlier build made the image and holds the name.
    const earlier = await start(finishing, CALLER, 'images-team-image');
    await waitForStatus(aws.sfn, arnOf(finishing, earlier), (status) => status === 'SUCCEEDED');
    const imageId = await imageOf('images', 'images-team-image');
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'images-team-image', force_deregister: true }) }, {}, TEAMMATE));
    expect(answer.status, answer.text).toBe(202);
    expect((await executionInput(finishing, answer.body.buildId as string)).existingImage).toMatchObject({ imageId });
    expect(await claimOn('images-team-image')).toEqual({ buildId: answer.body.buildId, team: 'images', amiName: 'images-team-image', claimedAt: expect.any(String) as string });
  });
});

/** A template with a sensitive variable (and one that uses it), given as the CLI gives values. */
function secretBundle(amiName: string, builder: Record<string, unknown> = {}): Record<string, unknown> {
  const base = bundle({ source_ami: sourceImage, ami_name: amiName, ...builder }, {
    variables: { label: 'test', password: 'default-secret', url: 'https://user:{{user `password`}}@repo.example' },
    'sensitive-variables': ['password'],
    provisioners: [{ type: 'shell', inline: ['echo {{user `url`}} > /etc/repo'] }],
  });
  return { ...base, variables: { password: 's3cr3t-value' }, files: {} };
}

describe('sensitive variables', () => {
  it('are refused in every field the image publishes, each named (400)', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(
      submit,
      submitEvent({
        bundle: secretBundle('image-{{user `password`}}', {
          ami_description: 'built with {{user `password`}}',
          tags: { Password: '{{user `password`}}' },
          snapshot_tags: { Fine: 'yes', Also: 'x{{user `url`}}' },
          root_volume_tags: { Key: '{{user `password`}}' },
          ami_product_codes: ['{{user `password`}}'],
        }),
      }, {}, CALLER),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('SensitiveValuePublished');
    expect((answer.body.errors as { path: string }[]).map((error) => error.path).sort()).toEqual([
      'builders[0].ami_description',
      'builders[0].ami_name',
      'builders[0].ami_product_codes[0]',
      'builders[0].root_volume_tags.Key',
      'builders[0].snapshot_tags.Also',
      'builders[0].tags.Password',
    ]);
    expect(answer.text).not.toContain('s3cr3t-value');
  });

  it('are kept in a secret of the build, not in the stored build; the worker merges them back', async () => {
    const buildId = await (async () => {
      aws.useStateMachine(holding);
      const answer = await call(submit, submitEvent({ bundle: secretBundle('with-a-secret') }, {}, CALLER));
      expect(answer.status, answer.text).toBe(202);
      return answer.body.buildId as string;
    })();
    const stored = await storedBuild(buildId);
    const secretId = `${BUILD_SECRETS_PREFIX}${buildId}`;
    expect(JSON.stringify(stored)).not.toContain('s3cr3t-value');
    expect(JSON.stringify(stored)).not.toContain('default-secret');
    expect(stored.secretId).toBe(secretId);
    expect(stored.secretVariables?.sort()).toEqual(['password', 'url']);
    expect(stored.bundle.template.variables).toEqual({ label: 'test', password: null, url: null });

    const input = await executionInput(holding, buildId);
    expect(input.secret).toEqual({ id: secretId, instanceArnPrefix: `arn:aws:ec2:${REGION}:${ACCOUNT_ID}:instance/` });
    expect(JSON.stringify(input)).not.toContain('s3cr3t-value');

    const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    expect(Object.fromEntries((described.Tags ?? []).map((tag) => [tag.Key, tag.Value]))).toEqual({ 'ami-factory:build-id': buildId, 'ami-factory:team': 'images' });
    const value = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    expect(JSON.parse(value.SecretString ?? '')).toEqual({ password: 's3cr3t-value', url: 'https://user:s3cr3t-value@repo.example' });

    // The host's side: the stored build plus the secret give the request the requester made.
    const clients = createAwsClients({ region: REGION, endpoint: aws.endpoint, credentials: aws.clientConfig.credentials });
    const workDir = await mkdtemp(join(tmpdir(), 'secret-bundle-'));
    try {
      const merged = await bundleWithSecrets(clients.s3, stored);
      expect(merged.variables).toEqual({ password: 's3cr3t-value', url: 'https://user:s3cr3t-value@repo.example' });
      const request = await loadBundle(merged, workDir);
      expect(request.sensitive_values).toEqual(['s3cr3t-value']);
      expect(request.variables_used.url).toBe('https://user:s3cr3t-value@repo.example');
      // Without the secret, the host cannot build: the variables are required, and named.
      await expect(loadBundle(stored.bundle, workDir)).rejects.toThrow(/password/);
    } finally {
      await rm(workDir, { recursive: true, force: true });
      clients.s3.destroy();
    }

    await call(cancel, byId('DELETE', '/builds/{id}', buildId, CALLER));
    await waitForStatus(aws.sfn, arnOf(holding, buildId), (status) => status === 'ABORTED');
    const detail = { executionArn: arnOf(holding, buildId), stateMachineArn: holding, name: buildId, status: 'ABORTED' };
    aws.useStateMachine(holding);
    const report = await cleanUp({ id: 'e', version: '0', account: ACCOUNT_ID, time: new Date().toISOString(), region: REGION, resources: [], source: 'aws.states', 'detail-type': 'Step Functions Execution Status Change', detail });
    expect(report).toMatchObject({ deletedSecret: secretId, releasedName: 'with-a-secret' });
    expect(await secretExists(secretId)).toBe(false);
  });

  it('need no secret when the template has none', async () => {
    const buildId = await start(finishing, CALLER, 'no-secret-here');
    const stored = await storedBuild(buildId);
    expect(stored).toMatchObject({ secretId: null, secretVariables: [] });
    expect(await secretExists(`${BUILD_SECRETS_PREFIX}${buildId}`)).toBe(false);
  });
});

describe('host-side commands', () => {
  const hostCommands = {
    pre_mount_commands: ['echo pre {{.Device}}'],
    post_mount_commands: ['echo post {{.MountPath}}'],
    command_wrapper: 'sudo {{.Command}}',
    chroot_mounts: [['proc', 'proc', '/proc'], ['bind', '/var/run/docker.sock', '/var/run/docker.sock']],
  };

  it('are refused without the configuration\'s grant, each field named (400)', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'host-commands-refused', ...hostCommands }) }, {}, CALLER));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('HostCommandsNotAllowed');
    expect((answer.body.errors as { path: string }[]).map((error) => error.path).sort()).toEqual([
      'builders[0].chroot_mounts',
      'builders[0].command_wrapper',
      'builders[0].post_mount_commands',
      'builders[0].pre_mount_commands',
    ]);
    expect(await claimOn('host-commands-refused')).toBeUndefined();
  });

  it('name the chosen builder by its own path, shell-local provisioners, and sensitive custom_data (400)', async () => {
    aws.useStateMachine(finishing);
    const template = bundle({ source_ami: sourceImage, ami_name: 'host-commands-chosen', name: 'chroot', pre_mount_commands: ['echo pre'] }, {
      variables: { token: 's3cr3t-value' },
      'sensitive-variables': ['token'],
      provisioners: [{ type: 'shell', inline: ['echo in the chroot'] }, { type: 'shell-local', inline: ['echo on the host'] }],
      'post-processors': [{ type: 'manifest', custom_data: { token: '{{user `token`}}' } }],
    }) as { template: { builders: unknown[] } };
    template.template.builders = [{ type: 'docker', name: 'elsewhere' }, ...template.template.builders];
    const answer = await call(submit, submitEvent({ bundle: template }, {}, CALLER));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('RequestNotAllowed');
    expect((answer.body.errors as { path: string }[]).map((error) => error.path).sort()).toEqual([
      'builders[1].pre_mount_commands',
      'post-processors[0].custom_data.token',
      'provisioners[1]',
    ]);
  });

  it('accept Packer\'s default mounts, or some of them, without a grant', async () => {
    const buildId = await (async () => {
      aws.useStateMachine(finishing);
      const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'default-mounts', chroot_mounts: [['proc', 'proc', '/proc']] }) }, {}, CALLER));
      expect(answer.status, answer.text).toBe(202);
      return answer.body.buildId as string;
    })();
    expect((await storedBuild(buildId)).grants).toEqual({ hostCommands: false });
  });

  it('are granted to the team the configuration names, and the stored build says so', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'host-commands-granted', ...hostCommands }) }, {}, OPERATOR));
    expect(answer.status, answer.text).toBe(202);
    const buildId = answer.body.buildId as string;
    expect((await storedBuild(buildId)).grants).toEqual({ hostCommands: true });
    const head = await aws.s3.send(new HeadObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `bundles/${buildId}.json` }));
    expect(head.ContentLength).toBeGreaterThan(0);
  });
});
