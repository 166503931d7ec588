/**
 * GET /builds, GET /builds/{id}, GET /builds/{id}/log, GET /builds/{id}/manifest and DELETE /builds/{id} against a
 * real moto server, on builds started through POST /builds.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler as cancel } from '../../functions/cancel-build.ts';
import { handler as getBuild } from '../../functions/get-build.ts';
import { handler as getLog } from '../../functions/get-build-log.ts';
import { handler as getManifest } from '../../functions/get-build-manifest.ts';
import { artifactId, runUuid } from '../../functions/lib/manifest.ts';
import { handler as listBuilds } from '../../functions/list-builds.ts';
import { handler as submit } from '../../functions/submit-build.ts';
import {
  ACCOUNT_ID, apiEvent, bundle, call, REGION, startLocalAws, submitEvent, waitForStatus, type LocalAws,
} from './support.ts';
import { FINISHED_IMAGE_ID, FINISHED_SNAPSHOT_ID, FINISHING_WORKFLOW, HOLDING_WORKFLOW, REAL_STATES } from './stand-in-workflows.ts';

let aws: LocalAws;
let finishing: string;
let holding: string;
let sourceImage: string;
/** A build that finished, and one that runs until cancelled. */
let finished: string;
let running: string;

const UNKNOWN = 'b-0000000000zzzzzzzzzzzzzzzz';

async function start(machine: string, amiName: string, rest: Record<string, unknown> = {}): Promise<string> {
  aws.useStateMachine(machine);
  const answer = await call(submit, submitEvent({ bundle: bundle({ source_ami: sourceImage, ami_name: amiName, name: 'web' }, rest) }));
  expect(answer.status).toBe(202);
  return answer.body.buildId as string;
}

const arnOf = (machine: string, buildId: string): string => `${machine.replace(':stateMachine:', ':execution:')}:${buildId}`;

beforeAll(async () => {
  aws = await startLocalAws();
  finishing = await aws.createStateMachine('build-image-finishing', FINISHING_WORKFLOW);
  // Stops at once when cancelled, where the real workflow's claim task takes a moment.
  holding = await aws.createStateMachine('build-image-holding', HOLDING_WORKFLOW);
  sourceImage = await aws.registerImage('debian-12-base');
  finished = await start(finishing, 'finished-build', {
    'post-processors': [{ type: 'manifest', output: 'manifest.json', strip_path: true, custom_data: { label: '{{user `label`}}' } }],
  });
  await waitForStatus(aws.sfn, arnOf(finishing, finished), (status) => status === 'SUCCEEDED');
  running = await start(holding, 'running-build');
  await waitForStatus(aws.sfn, arnOf(holding, running), (status) => status === 'RUNNING');
});

afterAll(async () => {
  await aws.stop();
});

const byId = (method: string, resource: string, id: string) => apiEvent(method, resource, { pathParameters: { id } });

describe('GET /builds/{id}', () => {
  it('shows a finished build: status, timeline, images', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(getBuild, byId('GET', '/builds/{id}', finished));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      buildId: finished,
      status: 'SUCCEEDED',
      currentStep: null,
      error: null,
      amis: [{ region: REGION, accountId: ACCOUNT_ID, imageId: FINISHED_IMAGE_ID, snapshotIds: [FINISHED_SNAPSHOT_ID] }],
    });
    const timeline = answer.body.timeline as { step: string; enteredAt: string; exitedAt: string | null }[];
    expect(timeline.map((entry) => entry.step)).toEqual([REAL_STATES.claim, REAL_STATES.register, REAL_STATES.report]);
    for (const entry of timeline) {
      expect(Date.parse(entry.enteredAt)).not.toBeNaN();
      expect(Date.parse(entry.exitedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(entry.enteredAt));
    }
    expect(Date.parse(answer.body.stoppedAt as string)).not.toBeNaN();
  });

  it('shows the current step of a running build', async () => {
    aws.useStateMachine(holding);
    const answer = await call(getBuild, byId('GET', '/builds/{id}', running));
    expect(answer.body).toMatchObject({ status: 'RUNNING', currentStep: REAL_STATES.claim, stoppedAt: null, amis: [] });
  });

  it('with ?since=, shows only the steps entered after that history event, and where to go on from', async () => {
    aws.useStateMachine(finishing);
    const whole = await call(getBuild, byId('GET', '/builds/{id}', finished));
    const { events = [] } = await aws.sfn.send(new GetExecutionHistoryCommand({ executionArn: arnOf(finishing, finished) }));
    const newest = Math.max(...events.map((event) => event.id ?? 0));
    expect(whole.body.lastEventId).toBe(newest);
    // Just before the registration was entered: the claim is behind, the rest is new.
    const registered = events.find((event) => event.stateEnteredEventDetails?.name === REAL_STATES.register)?.id ?? 0;
    const since = (value: number | string) => call(getBuild, apiEvent('GET', '/builds/{id}', { pathParameters: { id: finished }, query: { since: String(value) } }));
    const later = await since(registered - 1);
    expect(later.status).toBe(200);
    expect((later.body.timeline as { step: string }[]).map((entry) => entry.step)).toEqual([REAL_STATES.register, REAL_STATES.report]);
    expect(later.body).toMatchObject({ status: 'SUCCEEDED', lastEventId: newest, amis: [{ imageId: FINISHED_IMAGE_ID }] });
    // Nothing newer: an empty timeline, and the same place to go on from.
    expect((await since(newest)).body).toMatchObject({ timeline: [], lastEventId: newest, status: 'SUCCEEDED' });
    // From the start: the whole timeline, as without `since`.
    expect((await since(0)).body.timeline).toEqual(whole.body.timeline);
  });

  it('with ?since=, still tells a running build\'s step while it is new, and refuses a since that is no event id', async () => {
    aws.useStateMachine(holding);
    const first = await call(getBuild, apiEvent('GET', '/builds/{id}', { pathParameters: { id: running }, query: { since: '0' } }));
    expect(first.body).toMatchObject({ status: 'RUNNING', currentStep: REAL_STATES.claim, timeline: [{ step: REAL_STATES.claim }] });
    const again = await call(getBuild, apiEvent('GET', '/builds/{id}', { pathParameters: { id: running }, query: { since: String(first.body.lastEventId) } }));
    expect(again.body).toMatchObject({ status: 'RUNNING', timeline: [], lastEventId: first.body.lastEventId });
    for (const bad of ['-1', 'ten', '1.5']) {
      const answer = await call(getBuild, apiEvent('GET', '/builds/{id}', { pathParameters: { id: running }, query: { since: bad } }));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'InvalidRequest', errors: [{ path: 'since' }] });
    }
  });

  it('answers 404 for an unknown or malformed id', async () => {
    aws.useStateMachine(finishing);
    for (const id of [UNKNOWN, 'not-a-build', running /* a build of another state machine */]) {
      const answer = await call(getBuild, byId('GET', '/builds/{id}', id));
      expect(answer.status).toBe(404);
      expect(answer.body).toMatchObject({ error: 'BuildNotFound' });
    }
  });
});

describe('GET /builds', () => {
  it('lists builds, newest first, a page at a time', async () => {
    aws.useStateMachine(finishing);
    const second = await start(finishing, 'second-finished-build');
    const all = await call(listBuilds, apiEvent('GET', '/builds'));
    expect(all.status).toBe(200);
    const ids = (all.body.builds as { buildId: string }[]).map((build) => build.buildId);
    expect(ids).toEqual([second, finished]);
    expect(all.body.nextToken).toBeNull();

    const first = await call(listBuilds, apiEvent('GET', '/builds', { query: { limit: '1' } }));
    expect((first.body.builds as { buildId: string }[]).map((build) => build.buildId)).toEqual([second]);
    expect(typeof first.body.nextToken).toBe('string');
    const next = await call(listBuilds, apiEvent('GET', '/builds', { query: { limit: '1', nextToken: first.body.nextToken as string } }));
    expect((next.body.builds as { buildId: string; status: string }[])).toMatchObject([{ buildId: finished, status: 'SUCCEEDED' }]);

    const failed = await call(listBuilds, apiEvent('GET', '/builds', { query: { status: 'FAILED' } }));
    expect(failed.body.builds).toEqual([]);
  });

  it('refuses a bad limit, status or nextToken (400)', async () => {
    aws.useStateMachine(finishing);
    const queries: Record<string, string>[] = [{ limit: '0' }, { limit: '101' }, { limit: 'ten' }, { status: 'DONE' }, { nextToken: 'not-a-token' }];
    for (const query of queries) {
      const answer = await call(listBuilds, apiEvent('GET', '/builds', { query }));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'InvalidRequest', errors: [{ path: Object.keys(query)[0] }] });
    }
  });
});

describe('GET /builds/{id}/log', () => {
  it('returns the provisioning log', async () => {
    aws.useStateMachine(finishing);
    await aws.s3.send(new PutObjectCommand({ Bucket: aws.resources.artifactsBucket, Key: `logs/${finished}.log`, Body: 'mounting\nprovisioning\ndone\n' }));
    const answer = await call(getLog, byId('GET', '/builds/{id}/log', finished));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(answer.text).toBe('mounting\nprovisioning\ndone\n');
  });

  it('answers 404 for an unknown build, and for a build without a log yet', async () => {
    aws.useStateMachine(holding);
    const unknown = await call(getLog, byId('GET', '/builds/{id}/log', UNKNOWN));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('BuildNotFound');
    const noLog = await call(getLog, byId('GET', '/builds/{id}/log', running));
    expect(noLog.status).toBe(404);
    expect(noLog.body.error).toBe('LogNotAvailable');
  });
});

describe('GET /builds/{id}/manifest', () => {
  it("answers Packer's manifest of a succeeded build, with the template's custom_data", async () => {
    aws.useStateMachine(finishing);
    const answer = await call(getManifest, byId('GET', '/builds/{id}/manifest', finished));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      builds: [{
        name: 'web',
        builder_type: 'amazon-chroot',
        build_time: expect.any(Number) as number,
        files: null,
        artifact_id: `${REGION}:${FINISHED_IMAGE_ID}`,
        packer_run_uuid: runUuid(finished),
        custom_data: { label: 'test' },
      }],
      last_run_uuid: runUuid(finished),
    });
    expect(runUuid(finished)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('answers 404 for an unknown build, and for one that has not succeeded', async () => {
    aws.useStateMachine(holding);
    expect((await call(getManifest, byId('GET', '/builds/{id}/manifest', UNKNOWN))).body.error).toBe('BuildNotFound');
    const notYet = await call(getManifest, byId('GET', '/builds/{id}/manifest', running));
    expect(notYet.status).toBe(404);
    expect(notYet.body.error).toBe('ManifestNotAvailable');
  });

  it('lists every available image, one per region, the build account first, sorted', () => {
    const image = (region: string, accountId: string, imageId: string | null, state?: 'available' | 'failed' | 'deregistered') =>
      ({ region, accountId, imageId, snapshotIds: [], ...(state ? { state } : {}) });
    expect(artifactId([
      image('us-west-2', '222222222222', 'ami-2'),
      image('us-west-2', ACCOUNT_ID, 'ami-1'),
      image('eu-west-1', ACCOUNT_ID, null, 'failed'),
      image('ap-south-1', ACCOUNT_ID, 'ami-3', 'deregistered'),
      image('eu-central-1', '222222222222', 'ami-4', 'available'),
    ], ACCOUNT_ID)).toBe('eu-central-1:ami-4,us-west-2:ami-1');
  });
});

describe('DELETE /builds/{id}', () => {
  it('cancels a running build (202), then refuses to cancel it again (409)', async () => {
    aws.useStateMachine(holding);
    const build = await start(holding, 'cancelled-build');
    await waitForStatus(aws.sfn, arnOf(holding, build), (status) => status === 'RUNNING');
    const answer = await call(cancel, byId('DELETE', '/builds/{id}', build));
    expect(answer.status).toBe(202);
    // StopExecution is asynchronous: ABORTING until it has taken effect, which on a busy
    // machine can be after the cancel answered.
    expect(answer.body).toMatchObject({ buildId: build, status: expect.stringMatching(/^ABORT(ED|ING)$/) as unknown });
    await waitForStatus(aws.sfn, arnOf(holding, build), (status) => status === 'ABORTED');
    const shown = await call(getBuild, byId('GET', '/builds/{id}', build));
    expect(shown.body.status).toBe('ABORTED');
    const again = await call(cancel, byId('DELETE', '/builds/{id}', build));
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('BuildFinished');
  });

  it('refuses to cancel a finished build (409)', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(cancel, byId('DELETE', '/builds/{id}', finished));
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ error: 'BuildFinished' });
    expect(answer.body.message).toContain('SUCCEEDED');
  });

  it('answers 404 for an unknown build', async () => {
    aws.useStateMachine(finishing);
    const answer = await call(cancel, byId('DELETE', '/builds/{id}', UNKNOWN));
    expect(answer.status).toBe(404);
  });
});
