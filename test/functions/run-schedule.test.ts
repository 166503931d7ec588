/**
 * Factory families' runs against a real moto server: the scheduler function starts a build
 * only when the family's bake key is new (a newer source image behind the filter, a changed
 * script), finds the family up to date otherwise, and keeps every decision; the API lists the
 * families a caller may see and runs one now on the same path.
 */
import { CreateTagsCommand, DescribeImagesCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamilyListSchema, ScheduleDecisionSchema, type ScheduleDecision } from '../../contract/api.ts';
import { BAKE_KEY_TAG, TEAM_TAG, type ExecutionInput } from '../../contract/execution.ts';
import { FAMILY_TAG } from '../../contract/factory-config.ts';
import { handler as listFamilies } from '../../functions/list-families.ts';
import { handler as runSchedule } from '../../functions/run-schedule.ts';
import { handler as startFamilyRun } from '../../functions/start-family-run.ts';
import { FINISHING_WORKFLOW, HOLDING_WORKFLOW } from './stand-in-workflows.ts';
import {
  ADMIN, apiEvent, call, CALLER, executionArnOf, executionCountOf, executionInputOf, lambdaContext, OTHER_TEAM_CALLER, startLocalAws, waitForStatus, type LocalAws,
} from './support.ts';

const template = (builder: Record<string, unknown> = {}) => ({
  variables: { label: 'nightly' },
  builders: [
    {
      type: 'amazon-chroot',
      ami_name: 'sched-{{user `label`}}-{{timestamp}}',
      source_ami_filter: { filters: { name: 'sched-base-*' }, owners: ['self'], most_recent: true },
      ...builder,
    },
  ],
  provisioners: [{ type: 'shell', script: 'scripts/setup.sh' }],
});

/** The families: one per team and case, sharing a template folder where they can. */
const FACTORY_YML = `
families:
  nightly:
    template: images/template.json
    team: images
    schedule: { cron: "0 3 * * ? *", timezone: Europe/Berlin }
  steady:
    template: images/template.json
    team: images
    variables: { label: steady }
    schedule: { cron: "0 4 ? * MON-FRI *", enabled: false }
  broken:
    template: broken/template.json
    team: images
  orphan:
    template: images/template.json
    team: ghosts
  webby:
    template: images/template.json
    team: web
    variables: { label: webby }
`;

const SCHEDULER = lambdaContext('run-schedule');

let aws: LocalAws;
let dir: string;
let finishing: string;
let holding: string;

beforeAll(async () => {
  aws = await startLocalAws();
  finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
  holding = await aws.createStateMachine('build-image-holding', HOLDING_WORKFLOW);
  dir = await mkdtemp(join(tmpdir(), 'factory-config-'));
  await mkdir(join(dir, 'images', 'scripts'), { recursive: true });
  await mkdir(join(dir, 'broken'), { recursive: true });
  await writeFile(join(dir, 'factory.yml'), FACTORY_YML);
  await writeFile(join(dir, 'images', 'template.json'), JSON.stringify(template()));
  await writeFile(join(dir, 'images', 'scripts', 'setup.sh'), '#!/bin/sh\necho set up\n');
  await writeFile(join(dir, 'broken', 'template.json'), JSON.stringify({ ...template({ root_volume_size: 'big' }), provisioners: [] }));
  process.env.FACTORY_CONFIG = join(dir, 'factory.yml');
  await aws.registerImage('sched-base-1');
});

afterAll(async () => {
  delete process.env.FACTORY_CONFIG;
  await rm(dir, { recursive: true, force: true });
  await aws.stop();
});

const arnOf = executionArnOf;
const executionInput = (machine: string, buildId: string): Promise<ExecutionInput> => executionInputOf(aws.sfn, machine, buildId);
const executionCount = (machine: string): Promise<number> => executionCountOf(aws.sfn, machine);

const scheduled = async (family: string): Promise<ScheduleDecision> => ScheduleDecisionSchema.parse(await runSchedule({ family }, SCHEDULER));

const tagOf = (input: ExecutionInput, key: string): string | undefined => input.registerImage.TagSpecifications?.[0]?.Tags?.find((tag) => tag.Key === key)?.Value;

/** Lets the stand-in workflow finish, then registers the image the real one would, with its tags. */
async function finishWithImage(buildId: string): Promise<string> {
  expect(await waitForStatus(aws.sfn, arnOf(finishing, buildId), (status) => status !== 'RUNNING')).toBe('SUCCEEDED');
  const { registerImage } = await executionInput(finishing, buildId);
  const imageId = (await aws.ec2.send(new RegisterImageCommand({ ...registerImage, BlockDeviceMappings: undefined }))).ImageId as string;
  // The local AWS drops RegisterImage's TagSpecifications: the planned tags are put on after.
  await aws.ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: registerImage.TagSpecifications?.[0]?.Tags ?? [] }));
  return imageId;
}

async function decisionKeys(family: string): Promise<string[]> {
  const listed = await aws.s3.send(new ListObjectsV2Command({ Bucket: aws.resources.artifactsBucket, Prefix: `schedules/decisions/${family}/` }));
  return (listed.Contents ?? []).map((object) => object.Key ?? '');
}

describe('the scheduler function', () => {
  let firstBuild: string;
  let firstKey: string;
  let image: string;

  it('starts a build of a family the first time, for its team and tagged with the family', async () => {
    aws.useStateMachine(finishing);
    const decision = await scheduled('nightly');
    expect(decision).toMatchObject({ family: 'nightly', decision: 'started', trigger: 'schedule', principal: SCHEDULER.invokedFunctionArn, imageId: null, error: null });
    firstBuild = decision.buildId as string;
    firstKey = decision.bakeKey as string;
    const input = await executionInput(finishing, firstBuild);
    expect(input.owner).toEqual({ team: 'images', principal: SCHEDULER.invokedFunctionArn });
    expect(tagOf(input, FAMILY_TAG)).toBe('nightly');
    expect(tagOf(input, TEAM_TAG)).toBe('images');
    expect(tagOf(input, BAKE_KEY_TAG)).toBe(firstKey);
    image = await finishWithImage(firstBuild);
  });

  it('finds an identical rerun up to date, with the image, and starts nothing', async () => {
    const executions = await executionCount(finishing);
    const decision = await scheduled('nightly');
    expect(decision).toMatchObject({ decision: 'up to date', buildId: firstBuild, imageId: image, bakeKey: firstKey });
    expect(decision.reason).toContain(image);
    expect(await executionCount(finishing)).toBe(executions);
  });

  it('starts a build when a newer source image matches the filter', async () => {
    // EC2's creation dates count whole seconds: the newer image must be a second younger.
    await sleep(1100);
    const newer = await aws.registerImage('sched-base-2');
    const decision = await scheduled('nightly');
    expect(decision).toMatchObject({ decision: 'started', sourceImageId: newer });
    expect(decision.bakeKey).not.toBe(firstKey);
    const described = await aws.ec2.send(new DescribeImagesCommand({ ImageIds: [newer] }));
    const input = await executionInput(finishing, decision.buildId as string);
    expect(input.createVolume.SnapshotId).toBe(described.Images?.[0]?.BlockDeviceMappings?.[0]?.Ebs?.SnapshotId);
    await finishWithImage(decision.buildId as string);
    expect(await scheduled('nightly')).toMatchObject({ decision: 'up to date', buildId: decision.buildId });
  });

  it('starts a build when a script changes', async () => {
    const before = await scheduled('nightly');
    expect(before.decision).toBe('up to date');
    await writeFile(join(dir, 'images', 'scripts', 'setup.sh'), '#!/bin/sh\necho set up, changed\n');
    // A second later: ami_name renders {{timestamp}}, and the last build's image holds this second's name.
    await sleep(1100);
    const decision = await scheduled('nightly');
    expect(decision.decision).toBe('started');
    expect(decision.bakeKey).not.toBe(before.bakeKey);
    expect(decision.sourceImageId).toBe(before.sourceImageId);
  });

  it('finds a family up to date while a build with its bake key still runs', async () => {
    aws.useStateMachine(holding);
    const started = await scheduled('steady');
    expect(started.decision).toBe('started');
    const again = await scheduled('steady');
    expect(again).toMatchObject({ decision: 'up to date', buildId: started.buildId, imageId: null, bakeKey: started.bakeKey });
    await aws.sfn.send(new StopExecutionCommand({ executionArn: arnOf(holding, started.buildId as string) }));
    aws.useStateMachine(finishing);
  });

  it('records a refused run as failed, with every error of the template', async () => {
    const decision = await scheduled('broken');
    expect(decision).toMatchObject({ decision: 'failed', error: 'InvalidTemplate', buildId: null, bakeKey: null });
    expect(decision.errors).toEqual([expect.objectContaining({ path: 'builders[0].root_volume_size' })]);
    expect(await scheduled('orphan')).toMatchObject({ decision: 'failed', error: 'UnknownTeam' });
  });

  it('keeps every decision, and the latest apart', async () => {
    expect(await decisionKeys('nightly')).toHaveLength(6);
    expect(await decisionKeys('broken')).toHaveLength(1);
  });

  it('refuses an unknown family (404) and a malformed input, recording nothing', async () => {
    await expect(runSchedule({ family: 'nope' }, SCHEDULER)).rejects.toMatchObject({ status: 404, code: 'FamilyNotFound' });
    await expect(runSchedule({ name: 'nightly' }, SCHEDULER)).rejects.toThrow(/family: is required/);
    expect(await decisionKeys('nope')).toEqual([]);
  });
});

describe('the families API', () => {
  const list = async (caller: string) => {
    const answer = await call(listFamilies, apiEvent('GET', '/families', { caller }));
    expect(answer.status, answer.text).toBe(200);
    return FamilyListSchema.parse(answer.body).families;
  };
  const runNow = (family: string, caller: string) => call(startFamilyRun, apiEvent('POST', '/families/{family}/runs', { pathParameters: { family }, caller }));

  it("lists the caller's team's families with their schedules, next runs and latest decisions; every family for an admin", async () => {
    const families = await list(CALLER);
    expect(families.map((family) => family.name)).toEqual(['broken', 'nightly', 'steady']);
    const [broken, nightly, steady] = families;
    expect(nightly).toMatchObject({ team: 'images', template: 'images/template.json', schedule: { cron: '0 3 * * ? *', timezone: 'Europe/Berlin', enabled: true } });
    // 03:00 in Berlin is 01:00 or 02:00 UTC, depending on the season.
    expect(nightly?.nextRunAt).toMatch(/T0[12]:00:00\.000Z$/);
    expect(Date.parse(nightly?.nextRunAt ?? '')).toBeGreaterThan(Date.now());
    expect(nightly?.latestDecision).toMatchObject({ family: 'nightly', decision: 'started' });
    expect(steady).toMatchObject({ schedule: { timezone: 'UTC', enabled: false }, nextRunAt: null, latestDecision: { decision: 'up to date' } });
    expect(broken).toMatchObject({ schedule: null, nextRunAt: null, latestDecision: { decision: 'failed' } });
    expect((await list(OTHER_TEAM_CALLER)).map((family) => family.name)).toEqual(['webby']);
    expect((await list(ADMIN)).map((family) => family.name)).toEqual(['broken', 'nightly', 'orphan', 'steady', 'webby']);
  });

  it('runs a family now on the scheduler\'s path: 202 started, 200 up to date, both recorded', async () => {
    const started = await runNow('webby', OTHER_TEAM_CALLER);
    expect(started.status, started.text).toBe(202);
    const decision = ScheduleDecisionSchema.parse(started.body);
    expect(decision).toMatchObject({ family: 'webby', decision: 'started', trigger: 'run-now', principal: OTHER_TEAM_CALLER });
    expect(started.headers.location).toBe(`/builds/${decision.buildId ?? ''}`);
    const input = await executionInput(finishing, decision.buildId as string);
    // The family's team owns it; the caller is who asked.
    expect(input.owner).toEqual({ team: 'web', principal: OTHER_TEAM_CALLER });
    const image = await finishWithImage(decision.buildId as string);

    const again = await runNow('webby', ADMIN);
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ decision: 'up to date', imageId: image, trigger: 'run-now', principal: ADMIN });
    expect((await list(OTHER_TEAM_CALLER))[0]?.latestDecision).toEqual(again.body);
  });

  it("answers 404 for an unknown family and for another team's, alike", async () => {
    const unknown = await runNow('nope', CALLER);
    const others = await runNow('webby', CALLER);
    expect(unknown.status).toBe(404);
    expect(others.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'FamilyNotFound', message: 'the factory configuration has no family "nope"' });
    expect(others.body).toEqual({ error: 'FamilyNotFound', message: 'the factory configuration has no family "webby"' });
  });
});
