/**
 * Bake keys against a real moto server: the key names what a build would produce (stable for
 * the same inputs, new for any change that matters), every resource a build makes carries it,
 * and POST /builds answers an identical request with the team's image or running build
 * instead of baking again, unless asked to rebake; never with another team's.
 */
import { CreateTagsCommand, DescribeImagesCommand, RegisterImageCommand, type Image } from '@aws-sdk/client-ec2';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildBundleSchema, type BuildBundle } from '../../contract/bundle.ts';
import { BAKE_KEY_TAG, BUILD_ID_TAG, TEAM_TAG, type ExecutionInput } from '../../contract/execution.ts';
import { bakeKey, bakeKeyDocument, canonicalJson } from '../../functions/lib/bake-key.ts';
import { handler as submit } from '../../functions/submit-build.ts';
import { FINISHING_WORKFLOW, HOLDING_WORKFLOW } from './stand-in-workflows.ts';
import {
  bundle, call, executionArnOf, executionCountOf, executionInputOf, OTHER_TEAM_CALLER, startLocalAws, submitEvent, waitForStatus, type Answer, type LocalAws,
} from './support.ts';

const LATER = '2024-05-06T09:10:11Z';
const script = (text: string): string => Buffer.from(text).toString('base64');

describe('the bake key', () => {
  const source = { ImageId: 'ami-0123456789abcdef0' } as Image;
  const base = (): BuildBundle => BuildBundleSchema.parse(bundle({ source_ami: source.ImageId }));
  const keyOf = (changed: BuildBundle, options: { team?: string; source?: Image | null } = {}) =>
    bakeKey({ team: options.team ?? 'images', bundle: changed, source: options.source === undefined ? source : options.source });

  it('is the same for the same inputs, whenever they are rendered', async () => {
    const key = await keyOf(base());
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(await keyOf(base())).toBe(key);
    // {{timestamp}} in ami_name renders differently; the key does not.
    expect(await keyOf({ ...base(), renderedAt: LATER })).toBe(key);
    // Replacing an older image of the same name does not change this one.
    expect(await keyOf(BuildBundleSchema.parse(bundle({ source_ami: source.ImageId, force_deregister: true })))).toBe(key);
  });

  it('changes with every script or file byte, variable, source image, template option, team and family', async () => {
    const key = await keyOf(base());
    // No family is the key of a plain submit, as it was before families.
    expect(await bakeKey({ team: 'images', bundle: base(), source, family: null })).toBe(key);
    const changes: Record<string, Promise<string>> = {
      'a script byte': keyOf({ ...base(), files: { 'scripts/setup.sh': script('#!/bin/sh\necho set up!\n') } }),
      'a variable': keyOf({ ...base(), variables: { label: 'other' } }),
      'the resolved source image': keyOf(base(), { source: { ImageId: 'ami-0fedcba9876543210' } }),
      'from_scratch instead of a source': keyOf(base(), { source: null }),
      'a template option': keyOf(BuildBundleSchema.parse(bundle({ source_ami: source.ImageId, ami_description: 'changed' }))),
      'an inline command': keyOf(BuildBundleSchema.parse(bundle({ source_ami: source.ImageId }, { provisioners: [{ type: 'shell', inline: ['echo bye'] }] }))),
      'the team': keyOf(base(), { team: 'web' }),
      // A family's runs reuse only the family's images (README, "Factory configuration").
      'a factory family': bakeKey({ team: 'images', bundle: base(), source, family: 'nightly' }),
    };
    const keys = await Promise.all(Object.values(changes));
    for (const [index, what] of Object.keys(changes).entries()) expect(keys[index], what).not.toBe(key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('holds a sensitive value only as a hash, and changes with it', async () => {
    const withSecret = (value: string): BuildBundle =>
      BuildBundleSchema.parse({
        ...bundle(
          { source_ami: source.ImageId },
          {
            variables: { label: 'test', password: '' },
            'sensitive-variables': ['password'],
            provisioners: [{ type: 'shell', inline: ['echo {{user `password`}} | chpasswd'] }],
          },
        ),
        variables: { password: value },
      });
    const document = canonicalJson(await bakeKeyDocument({ team: 'images', bundle: withSecret('correct-horse-battery'), source }));
    expect(document).not.toContain('correct-horse-battery');
    expect(document).toContain('<sensitive>');
    const key = await keyOf(withSecret('correct-horse-battery'));
    expect(await keyOf(withSecret('correct-horse-battery'))).toBe(key);
    expect(await keyOf(withSecret('correct-horse-staple'))).not.toBe(key);
  });
});

describe('POST /builds reuses what a bake key already has', () => {
  let aws: LocalAws;
  let finishing: string;
  let holding: string;
  let sourceImage: string;

  beforeAll(async () => {
    aws = await startLocalAws();
    finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
    holding = await aws.createStateMachine('build-image-holding', HOLDING_WORKFLOW);
    sourceImage = await aws.registerImage('bake-key-base');
  });

  afterAll(async () => {
    await aws.stop();
  });

  const arnOf = executionArnOf;
  const executionInput = (machine: string, buildId: string): Promise<ExecutionInput> => executionInputOf(aws.sfn, machine, buildId);
  const executionCount = (machine: string): Promise<number> => executionCountOf(aws.sfn, machine);

  async function submitted(body: unknown, status: number, caller?: string, headers: Record<string, string> = {}): Promise<Answer> {
    const answer = await call(submit, submitEvent(body, headers, caller));
    expect(answer.status, answer.text).toBe(status);
    return answer;
  }

  /** The bake key on every resource the build's plan tags; they must agree. */
  async function keyOfBuild(machine: string, buildId: string): Promise<string> {
    const input = await executionInput(machine, buildId);
    const tagged = [input.createVolume, input.createSnapshot, input.registerImage].map(
      (request) => request.TagSpecifications?.[0]?.Tags?.find((tag) => tag.Key === BAKE_KEY_TAG)?.Value,
    );
    expect(tagged[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(tagged).size).toBe(1);
    return tagged[0] as string;
  }

  /** Lets the stand-in workflow finish, then registers the image the real one would, with its tags. */
  async function finishWithImage(buildId: string): Promise<string> {
    expect(await waitForStatus(aws.sfn, arnOf(finishing, buildId), (status) => status !== 'RUNNING')).toBe('SUCCEEDED');
    const { registerImage } = await executionInput(finishing, buildId);
    const registered = await aws.ec2.send(new RegisterImageCommand({ ...registerImage, BlockDeviceMappings: undefined }));
    const imageId = registered.ImageId as string;
    // The local AWS drops RegisterImage's TagSpecifications: the planned tags are put on after.
    await aws.ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: registerImage.TagSpecifications?.[0]?.Tags ?? [] }));
    return imageId;
  }

  it('tags every resource with the key and answers an identical request with the image (200, nothing started)', async () => {
    aws.useStateMachine(finishing);
    const first = await submitted({ bundle: bundle({ source_ami: sourceImage, ami_name: 'bake-reuse-{{timestamp}}' }) }, 202);
    expect(first.body.reused).toBe(false);
    const buildId = first.body.buildId as string;
    const key = await keyOfBuild(finishing, buildId);
    const imageId = await finishWithImage(buildId);
    const executions = await executionCount(finishing);

    // Submitted later: {{timestamp}} renders another ami_name, yet nothing that makes the image changed.
    const again = await submitted({ bundle: { ...bundle({ source_ami: sourceImage, ami_name: 'bake-reuse-{{timestamp}}' }), renderedAt: LATER } }, 200);
    expect(again.body).toEqual({ buildId, status: 'SUCCEEDED', reused: true, imageId, links: { self: `/builds/${buildId}`, log: `/builds/${buildId}/log` } });
    expect(again.headers.location).toBe(`/builds/${buildId}`);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(await executionCount(finishing)).toBe(executions);

    // rebake bakes anyway, under the same key.
    const rebaked = await submitted({ bundle: { ...bundle({ source_ami: sourceImage, ami_name: 'bake-reuse-{{timestamp}}' }), renderedAt: LATER }, rebake: true }, 202);
    expect(rebaked.body).toMatchObject({ status: 'RUNNING', reused: false });
    expect(rebaked.body.buildId).not.toBe(buildId);
    expect(await keyOfBuild(finishing, rebaked.body.buildId as string)).toBe(key);
    expect(await executionCount(finishing)).toBe(executions + 1);
  });

  it('bakes again when a script changes', async () => {
    aws.useStateMachine(finishing);
    const body = bundle({ source_ami: sourceImage, ami_name: 'bake-script-{{timestamp}}' });
    const first = await submitted({ bundle: body }, 202);
    await finishWithImage(first.body.buildId as string);
    const changed = await submitted({ bundle: { ...body, renderedAt: LATER, files: { 'scripts/setup.sh': script('#!/bin/sh\necho set up again\n') } } }, 202);
    expect(changed.body.reused).toBe(false);
    expect(await keyOfBuild(finishing, changed.body.buildId as string)).not.toBe(await keyOfBuild(finishing, first.body.buildId as string));
  });

  it('bakes again when a newer source image matches the filter', async () => {
    aws.useStateMachine(finishing);
    await aws.registerImage('bake-filtered-1');
    const body = bundle({ source_ami_filter: { filters: { name: 'bake-filtered-*' }, owners: ['self'], most_recent: true }, ami_name: 'bake-filter-{{timestamp}}' });
    const first = await submitted({ bundle: body }, 202);
    await finishWithImage(first.body.buildId as string);
    // The same source still: reused.
    expect((await submitted({ bundle: { ...body, renderedAt: LATER } }, 200)).body).toMatchObject({ buildId: first.body.buildId, reused: true });

    // EC2's creation dates count whole seconds: the newer image must be a second younger.
    await sleep(1100);
    const newer = await aws.registerImage('bake-filtered-2');
    const second = await submitted({ bundle: { ...body, renderedAt: LATER } }, 202);
    expect(second.body.reused).toBe(false);
    const input = await executionInput(finishing, second.body.buildId as string);
    const described = await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [newer] }));
    expect(input.createVolume.SnapshotId).toBe(described.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId);
    expect(await keyOfBuild(finishing, second.body.buildId as string)).not.toBe(await keyOfBuild(finishing, first.body.buildId as string));
  });

  it('answers with a running build of the same key, and bakes again once it stopped', async () => {
    aws.useStateMachine(holding);
    const body = bundle({ source_ami: sourceImage, ami_name: 'bake-running-{{timestamp}}' });
    const running = await submitted({ bundle: body }, 202);
    const buildId = running.body.buildId as string;
    const executions = await executionCount(holding);

    const again = await submitted({ bundle: { ...body, renderedAt: LATER } }, 200);
    expect(again.body).toEqual({ buildId, status: 'RUNNING', reused: true, links: { self: `/builds/${buildId}`, log: `/builds/${buildId}/log` } });
    expect(await executionCount(holding)).toBe(executions);

    await aws.sfn.send(new StopExecutionCommand({ executionArn: arnOf(holding, buildId) }));
    await waitForStatus(aws.sfn, arnOf(holding, buildId), (status) => status !== 'RUNNING');
    const after = await submitted({ bundle: { ...body, renderedAt: LATER } }, 202);
    expect(after.body.buildId).not.toBe(buildId);
    await aws.sfn.send(new StopExecutionCommand({ executionArn: arnOf(holding, after.body.buildId as string) }));
  });

  it("never reuses, nor names, another team's image or build", async () => {
    aws.useStateMachine(finishing);
    const body = bundle({ source_ami: sourceImage, ami_name: 'bake-teams-{{timestamp}}' });
    const mine = await submitted({ bundle: body }, 202);
    const imageId = await finishWithImage(mine.body.buildId as string);

    const theirs = await submitted({ bundle: { ...body, renderedAt: LATER } }, 202, OTHER_TEAM_CALLER);
    expect(theirs.body.reused).toBe(false);
    expect(theirs.text).not.toContain(mine.body.buildId as string);
    expect(theirs.text).not.toContain(imageId);
    const input = await executionInput(finishing, theirs.body.buildId as string);
    expect(input.registerImage.TagSpecifications?.[0]?.Tags).toEqual(expect.arrayContaining([{ Key: TEAM_TAG, Value: 'web' }]));
    expect(await keyOfBuild(finishing, theirs.body.buildId as string)).not.toBe(await keyOfBuild(finishing, mine.body.buildId as string));
  });

  it('keeps an Idempotency-Key retry on its own build', async () => {
    aws.useStateMachine(finishing);
    const body = { bundle: bundle({ source_ami: sourceImage, ami_name: 'bake-keyed-{{timestamp}}' }) };
    const first = await submitted(body, 202, undefined, { 'Idempotency-Key': 'bake-keyed-1' });
    const buildId = first.body.buildId as string;
    const imageId = await finishWithImage(buildId);

    const retry = await submitted(body, 200, undefined, { 'Idempotency-Key': 'bake-keyed-1' });
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toMatchObject({ buildId, status: 'SUCCEEDED', reused: false });

    // Another key for the same content is a new request, answered with the image.
    const other = await submitted({ ...body, bundle: { ...body.bundle, renderedAt: LATER } }, 200, undefined, { 'Idempotency-Key': 'bake-keyed-2' });
    expect(other.body).toMatchObject({ buildId, reused: true, imageId });
    const tags = (await executionInput(finishing, buildId)).registerImage.TagSpecifications?.[0]?.Tags ?? [];
    expect(tags).toEqual(expect.arrayContaining([{ Key: BUILD_ID_TAG, Value: buildId }]));
  });
});
