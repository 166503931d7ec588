/**
 * POST /builds against a real moto server: every refusal, the planned execution input, and
 * Idempotency-Key retries.
 */
import { CreateTagsCommand, DescribeImagesCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as submit } from '../../functions/submit-build.ts';
import { BUILD_ID_PATTERN } from '../../functions/lib/build-id.ts';
import { DEFAULT_TIMEOUTS } from '../../functions/lib/config.ts';
import type { ExecutionInput } from '../../contract/execution.ts';
import {
  ACCOUNT_ID, bundle, CALLER, call, IMAGES_TARGET_ACCOUNT, REGION, startLocalAws, submitEvent, type LocalAws,
} from './support.ts';
import { FINISHING_WORKFLOW } from './stand-in-workflows.ts';

let aws: LocalAws;
let finishing: string;
let holding: string;
let sourceImage: string;
let sourceSnapshot: string;

beforeAll(async () => {
  aws = await startLocalAws();
  finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
  // The real workflow: with no host to answer, a build waits in its claim until stopped.
  holding = aws.resources.stateMachineArn;
  aws.useStateMachine(finishing);
  sourceImage = await aws.registerImage('debian-12-base');
  const described = await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [sourceImage] }));
  sourceSnapshot = described.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId as string;
});

afterAll(async () => {
  await aws.stop();
});

async function executionInput(buildId: string, machine = finishing): Promise<ExecutionInput> {
  const executionArn = `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`;
  const execution = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
  return JSON.parse(execution.input ?? '{}') as ExecutionInput;
}

async function executionsNamed(machine: string, name: string): Promise<number> {
  const listed = await aws.sfn.send(new ListExecutionsCommand({ stateMachineArn: machine }));
  return (listed.executions ?? []).filter((execution) => execution.name === name).length;
}

describe('POST /builds accepts a build', () => {
  it('stores the bundle and starts the workflow with the planned input (202)', async () => {
    process.env.POLLING = '{"snapshot": 1, "maxAttempts": 7}';
    const body = {
      bundle: bundle({
        source_ami: sourceImage,
        root_volume_size: 20,
        tags: { Team: 'images', Name: 'factory' },
        snapshot_tags: { Kind: 'root' },
        root_volume_tags: { Scratch: 'yes' },
        ena_support: true,
      }),
    };
    const answer = await call(submit, submitEvent(body));
    delete process.env.POLLING;
    expect(answer.status).toBe(202);
    const buildId = answer.body.buildId as string;
    expect(buildId).toMatch(BUILD_ID_PATTERN);
    expect(answer.headers.location).toBe(`/builds/${buildId}`);
    expect(answer.body.status).toBe('RUNNING');

    const stored = await aws.s3.send(new GetObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `bundles/${buildId}.json` }));
    expect(JSON.parse(await stored.Body?.transformToString() ?? '')).toEqual({
      bundle: body.bundle,
      grants: { hostCommands: false },
      secretId: null,
      secretVariables: [],
    });

    const input = await executionInput(buildId);
    const buildTag = { Key: 'ami-factory:build-id', Value: buildId };
    const teamTag = { Key: 'ami-factory:team', Value: 'images' };
    // What the build would produce (bake-key.test.ts checks what goes into it).
    const bakeKeyTag = { Key: 'ami-factory:bake-key', Value: expect.stringMatching(/^[0-9a-f]{64}$/) as string };
    expect(input).toMatchObject({
      buildId,
      bundleKey: `bundles/${buildId}.json`,
      logKey: `logs/${buildId}.log`,
      target: { region: REGION, accountId: ACCOUNT_ID },
      rootDeviceName: '/dev/sda1',
      existingImage: null,
      polling: { volume: 5, attachment: 5, snapshot: 1, image: 15, maxAttempts: 7 },
      timeouts: DEFAULT_TIMEOUTS,
      owner: { team: 'images', principal: CALLER },
      secret: null,
    });
    // moto's source image: a 15 GiB "standard" root; the template grows it to 20 GiB.
    expect(input.createVolume).toEqual({
      Size: 20,
      SnapshotId: sourceSnapshot,
      VolumeType: 'standard',
      Encrypted: false,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Scratch', Value: 'yes' }, buildTag, teamTag, bakeKeyTag] }],
    });
    expect(input.createSnapshot.TagSpecifications).toEqual([
      { ResourceType: 'snapshot', Tags: [{ Key: 'Team', Value: 'images' }, { Key: 'Name', Value: 'factory' }, { Key: 'Kind', Value: 'root' }, buildTag, teamTag, bakeKeyTag] },
    ]);
    expect(input.registerImage).toMatchObject({
      Name: 'factory-test-1714979289',
      RootDeviceName: '/dev/sda1',
      EnaSupport: true,
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { DeleteOnTermination: false, VolumeSize: 20, VolumeType: 'standard' } }],
      TagSpecifications: [{ ResourceType: 'image', Tags: [{ Key: 'Team', Value: 'images' }, { Key: 'Name', Value: 'factory' }, buildTag, teamTag, bakeKeyTag] }],
    });
    expect(input.registerImage.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId).toBeUndefined();
  });

  it('plans the release: ami_regions copies and the request\'s targets, the build region shared with the target account', async () => {
    const answer = await call(
      submit,
      submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'released', ami_regions: ['us-west-2'] }), targets: [{ account: IMAGES_TARGET_ACCOUNT, region: 'eu-west-1', mode: 'copy' }] }),
    );
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const { distribution } = await executionInput(answer.body.buildId as string);
    expect(distribution.images.map((image) => [image.kind, image.accountId, image.region])).toEqual([
      ['build', ACCOUNT_ID, REGION],
      ['copy', ACCOUNT_ID, 'us-west-2'],
      ['copy', IMAGES_TARGET_ACCOUNT, 'eu-west-1'],
    ]);
    expect(distribution.launchPermission).toEqual({ Add: [{ UserId: IMAGES_TARGET_ACCOUNT }] });
    expect(distribution.images[2]).toMatchObject({ copyImage: { Name: 'released', SourceRegion: REGION } });
  });

  it('accepts a lone builder object and a base64-encoded body', async () => {
    const body = { bundle: { template: { type: 'amazon-chroot', ami_name: 'lone-builder', source_ami: sourceImage }, renderedAt: '2024-05-06T07:08:09Z' } };
    const event = submitEvent(JSON.stringify(body));
    event.body = Buffer.from(event.body ?? '').toString('base64');
    event.isBase64Encoded = true;
    const answer = await call(submit, event);
    expect(answer.status).toBe(202);
    expect((await executionInput(answer.body.buildId as string)).registerImage.Name).toBe('lone-builder');
  });

  it('resolves source_ami_filter, taking the newest match with most_recent', async () => {
    const older = await aws.registerImage('filtered-base-1');
    const newer = await aws.registerImage('filtered-base-2');
    const filter = { filters: { name: 'filtered-base-*' }, owners: ['self'] };
    const ambiguous = await call(submit, submitEvent({ bundle: bundle({ source_ami_filter: filter }) }));
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body).toMatchObject({ error: 'AmbiguousSourceImage', errors: [{ path: 'builders[0].source_ami_filter' }] });

    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami_filter: { ...filter, most_recent: true } }) }));
    expect(answer.status).toBe(202);
    const images = (await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [older, newer] }))).Images ?? [];
    const newest = images.reduce((a, b) => ((b.CreationDate ?? '') > (a.CreationDate ?? '') ? b : a));
    expect((await executionInput(answer.body.buildId as string)).createVolume.SnapshotId).toBe(newest.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId);
  });

  it('plans the replacement of an image of the same name with force_deregister', async () => {
    const existing = await aws.registerImage('replace-me');
    // An image a build of the caller's team made.
    await aws.ec2.send(new CreateTagsCommand({ Resources: [existing], Tags: [{ Key: 'ami-factory:team', Value: 'images' }] }));
    const described = await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [existing] }));
    const snapshot = described.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId;
    const answer = await call(
      submit,
      submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'replace-me', force_deregister: true, force_delete_snapshot: true }) }),
    );
    expect(answer.status).toBe(202);
    expect((await executionInput(answer.body.buildId as string)).existingImage).toEqual({ imageId: existing, snapshotIds: [snapshot] });
  });
});

describe('POST /builds refuses', () => {
  it('a body that is not JSON (400)', async () => {
    const answer = await call(submit, submitEvent('{"bundle": '));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'InvalidJson' });
    expect(answer.body.message).toContain('not JSON');
  });

  it('an empty body (400)', async () => {
    const answer = await call(submit, submitEvent(''));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('InvalidRequest');
  });

  it('a body of the wrong shape, naming each field (400)', async () => {
    const missing = await call(submit, submitEvent({ template: {} }));
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: 'InvalidRequest', errors: [{ path: 'bundle', message: expect.stringContaining('is required') as string }] });

    const wrong = await call(
      submit,
      submitEvent({ bundle: { template: 'builders', variables: { n: 1 }, files: { '../etc/passwd': 'eA==', 'ok.sh': 'not base64!' }, renderedAt: 'yesterday' } }),
    );
    expect(wrong.status).toBe(400);
    const paths = (wrong.body.errors as { path: string }[]).map((error) => error.path).sort();
    expect(paths).toEqual(['bundle.files["../etc/passwd"]', 'bundle.files["ok.sh"]', 'bundle.renderedAt', 'bundle.template', 'bundle.variables.n']);
  });

  it('a template with errors, listing every one with its path (400)', async () => {
    const answer = await call(
      submit,
      submitEvent({ bundle: bundle({ ami_name: undefined, source_ami: 'ami-1', root_volume_size: 'big', no_such_option: true }, { 'post-processors': ['compress'] }) }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('InvalidTemplate');
    const paths = (answer.body.errors as { path: string; message: string }[]).map((error) => error.path);
    expect(paths).toEqual(['builders[0].ami_name', 'builders[0].no_such_option', 'builders[0].root_volume_size', 'builders[0].source_ami', 'post-processors[0].type']);
    for (const error of answer.body.errors as { message: string }[]) expect(error.message).not.toBe('');
  });

  it('a source_ami that does not exist (404)', async () => {
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: 'ami-0123456789abcdef0' }) }));
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ error: 'SourceImageNotFound', errors: [{ path: 'builders[0].source_ami' }] });
  });

  it('a source_ami_filter that matches nothing (404)', async () => {
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami_filter: { filters: { name: 'nothing-like-this-*' }, owners: ['self'] } }) }));
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ error: 'SourceImageNotFound', errors: [{ path: 'builders[0].source_ami_filter' }] });
  });

  it('a source image with an instance-store root (400)', async () => {
    // moto ships this public instance-store image among its defaults.
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: 'ami-04681a1dbd79675b6' }) }));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'UnsupportedSourceImage', errors: [{ path: 'builders[0].source_ami' }] });
    expect(answer.body.message).toContain('instance-store');
  });

  it('a root_volume_type the source\'s root volume cannot give provisioned iops for (400)', async () => {
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, root_volume_type: 'io1' }) }));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'InvalidBuildPlan', errors: [{ path: 'builders[0].root_volume_type' }] });
    expect(answer.body.message).toContain('needs provisioned iops');
  });

  it('targets in an account outside the team\'s targetAccounts, naming each (403)', async () => {
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage }), targets: [{ region: 'us-west-2' }, { account: '999999999999', region: REGION, mode: 'copy' }] }));
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: 'TargetAccountNotAllowed', errors: [{ path: 'targets[1].account' }] });
  });

  it('skip_save_build_region with a share that needs the build region\'s image (400)', async () => {
    const answer = await call(
      submit,
      submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_regions: ['us-west-2'], skip_save_build_region: true }), targets: [{ account: IMAGES_TARGET_ACCOUNT, region: REGION }] }),
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'InvalidBuildPlan', errors: [{ path: 'targets', message: expect.stringMatching(/skip_save_build_region removes/) as string }] });
  });

  it('an ami_name that an image already has, naming that image (409)', async () => {
    const taken = (await aws.ec2.send(new RegisterImageCommand({ Name: 'taken-name' }))).ImageId as string;
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'taken-name' }) }));
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'ImageNameExists', errors: [{ path: 'builders[0].ami_name' }] });
    expect(answer.body.message).toContain(taken);
  });

  it('a body over the size limit (413)', async () => {
    process.env.MAX_BODY_BYTES = '2048';
    try {
      const big = bundle({ source_ami: sourceImage });
      big.files = { 'scripts/setup.sh': Buffer.alloc(4096, 1).toString('base64') };
      const answer = await call(submit, submitEvent({ bundle: big }));
      expect(answer.status).toBe(413);
      expect(answer.body.error).toBe('PayloadTooLarge');
    } finally {
      delete process.env.MAX_BODY_BYTES;
    }
  });

  it('a malformed Idempotency-Key (400)', async () => {
    const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage }) }, { 'Idempotency-Key': 'has spaces in it' }));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('InvalidIdempotencyKey');
  });
});

describe('POST /builds with an Idempotency-Key', () => {
  it('answers a retry with the same build and starts one execution', async () => {
    const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'idempotent-build' }) };
    const first = await call(submit, submitEvent(body, { 'Idempotency-Key': 'retry-1' }));
    expect(first.status).toBe(202);
    const buildId = first.body.buildId as string;
    // Key order and whitespace do not make a different request.
    const reordered = JSON.stringify({ bundle: { renderedAt: body.bundle.renderedAt, ...body.bundle } }, null, 2);
    const retry = await call(submit, submitEvent(reordered, { 'idempotency-key': 'retry-1' }));
    expect(retry.status).toBe(200);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body.buildId).toBe(buildId);
    expect(await executionsNamed(finishing, buildId)).toBe(1);
  });

  it('replays even after the first build made ami_name taken', async () => {
    const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'made-by-first-attempt' }) };
    const first = await call(submit, submitEvent(body, { 'Idempotency-Key': 'retry-2' }));
    await aws.ec2.send(new RegisterImageCommand({ Name: 'made-by-first-attempt' }));
    const retry = await call(submit, submitEvent(body, { 'Idempotency-Key': 'retry-2' }));
    expect(retry.status).toBe(200);
    expect(retry.body.buildId).toBe(first.body.buildId);
  });

  it('refuses the same key with a different body (422) and keeps the first bundle', async () => {
    const first = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'first-body' }) }, { 'Idempotency-Key': 'retry-3' }));
    expect(first.status).toBe(202);
    const buildId = first.body.buildId as string;
    const head = await aws.s3.send(new HeadObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `bundles/${buildId}.json` }));
    const other = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'second-body' }) }, { 'Idempotency-Key': 'retry-3' }));
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('IdempotencyKeyReused');
    const after = await aws.s3.send(new HeadObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `bundles/${buildId}.json` }));
    expect(after.ETag).toBe(head.ETag);
  });

  it('scopes keys by caller', async () => {
    // Different bodies: with one key, only another caller's request is not a reuse (422).
    const mine = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'per-caller-1' }) }, { 'Idempotency-Key': 'shared-key' }));
    const theirs = await call(
      submit,
      submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: 'per-caller-2' }) }, { 'Idempotency-Key': 'shared-key' }, `arn:aws:iam::${ACCOUNT_ID}:user/someone-else`),
    );
    expect(mine.status).toBe(202);
    expect(theirs.status).toBe(202);
    expect(theirs.body.buildId).not.toBe(mine.body.buildId);
  });

  it('starts one execution when two retries race', async () => {
    aws.useStateMachine(holding);
    try {
      const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'raced-build' }) };
      const answers = await Promise.all([1, 2, 3].map(() => call(submit, submitEvent(body, { 'Idempotency-Key': 'race-1' }))));
      const ids = new Set(answers.map((answer) => answer.body.buildId));
      expect(ids.size).toBe(1);
      for (const answer of answers) expect([200, 202]).toContain(answer.status);
      expect(await executionsNamed(holding, [...ids][0] as string)).toBe(1);
    } finally {
      aws.useStateMachine(finishing);
    }
  });
});
