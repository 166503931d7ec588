/**
 * Failed builds in a local engine: each ends FAILED with the error that caused it, at once,
 * undoing nothing itself. The clean-up function then runs as the EventBridge rule would run
 * it, and afterwards nothing tagged with the build id is left; once a host was claimed, its
 * device is released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionInput } from '../../contract/execution.ts';
import type { CleanUpReport } from '../../functions/clean-up-build.ts';
import { loadBuildImageDefinition } from '../../statemachine/definition.ts';
import { actionAnswer, callsTo, statesEntered, waitedFor } from '../support/executions.ts';
import { buildImageInput, type InputOptions } from './support/build-input.ts';
import { cleanUpAfter, resourcesOf, runBuild, startLocalBuildImage, type BuildResult, type LocalBuildImage } from './support/local-aws.ts';

let local: LocalBuildImage;

beforeAll(async () => {
  local = await startLocalBuildImage();
});

afterAll(async () => {
  await local.stop();
});

function input(options: Omit<InputOptions, 'sourceSnapshotId'> = {}): ExecutionInput {
  return buildImageInput({ sourceSnapshotId: local.sourceSnapshotId, ...options });
}

/**
 * FAILED straight from the failing step (through Build failed, unless the engine raised an
 * error no Catch sees), then cleaned: nothing of the build left and the device released.
 */
async function expectCleanedUp(result: BuildResult, options: { caught: boolean } = { caught: true }): Promise<CleanUpReport> {
  expect(result.status).toBe('FAILED');
  if (options.caught) expect(statesEntered(result.events).at(-1)).toBe('Build failed');
  const report = await cleanUpAfter(result);
  expect(report.skipped).toBeUndefined();
  expect(await resourcesOf(local.ec2, result.buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
  expect(await local.worker.waitForRelease(result.buildId)).toEqual({ task: 'release', buildId: result.buildId });
  expect(report.releasedHosts).toEqual([local.worker.host.instanceId]);
  return report;
}

/** The volume the build created, as CreateVolume answered in the history. */
function volumeOf(result: BuildResult): string {
  const volumeId = actionAnswer(result.events, 'ec2:createVolume')?.VolumeId;
  if (typeof volumeId !== 'string') throw new Error(`build ${result.buildId} created no volume`);
  return volumeId;
}

type Definition = { States: Record<string, Record<string, unknown>> };

/** A copy of the workflow, changed by `patch`: what a stuck volume or image looks like, which moto never shows. */
async function stateMachinePatched(name: string, patch: (states: Definition['States']) => void): Promise<string> {
  const { resources } = local.aws;
  const definition = JSON.parse(
    loadBuildImageDefinition({ ClaimsQueueUrl: resources.claimsQueueUrl, RegionalCallsQueueUrl: resources.regionalCallsQueueUrl, ResourceWaitsQueueUrl: resources.resourceWaitsQueueUrl, VolumePoolsQueueUrl: resources.volumePoolsQueueUrl }),
  ) as Definition;
  patch(definition.States);
  return local.aws.createStateMachine(`build-image-${name}`, definition);
}

/** The wait at `state` asks for `resourceId` instead of the build's own resource. */
function waitingFor(states: Definition['States'], state: string, resourceId: string): void {
  const body = (states[state]?.Parameters as { MessageBody?: Record<string, unknown> } | undefined)?.MessageBody;
  if (body?.['resourceId.$'] === undefined) throw new Error(`${state} is no longer a resource wait: update this test`);
  delete body['resourceId.$'];
  body.resourceId = resourceId;
}

describe('a build that fails on the host', () => {
  it('fails with the worker\'s error when provisioning fails; clean-up deletes the attached volume', async () => {
    const build = input();
    local.worker.script(build.buildId, { provision: { fail: { error: 'ProvisionerFailed', cause: 'shell provisioner exited with 3' } } });

    const result = await runBuild(local, build);

    expect(result.error).toBe('ProvisionerFailed');
    // Moto drops SendTaskFailure's cause; AWS and LocalStack pass it on to the Fail state.
    expect(['the failing step gave no cause', 'shell provisioner exited with 3']).toContain(result.cause);
    expect(callsTo(result.events, 'ec2:detachVolume')).toEqual([]);
    expect(callsTo(result.events, 'ec2:createSnapshot')).toEqual([]);
    const report = await expectCleanedUp(result);
    expect(report).toMatchObject({ deletedVolumes: [volumeOf(result)], deregisteredImages: [], deletedSnapshots: [] });
  });

  it('fails when the host stops heart-beating mid-provision; clean-up detaches and deletes the volume', async () => {
    const build = input({ timeouts: { heartbeatSeconds: 1 } });
    local.worker.script(build.buildId, { provision: 'silent' });

    const result = await runBuild(local, build);

    // Step Functions' States.HeartbeatTimeout (the local engines: States.Timeout), renamed: a Fail state may not raise States.*.
    expect(result.error).toMatch(/^AmiFactory\.(Heartbeat)?Timeout$/);
    expect(result.cause).toBe('the failing step gave no cause');
    const volumeId = volumeOf(result);
    const report = await expectCleanedUp(result);
    expect(report.deletedVolumes).toEqual([volumeId]);
  });
});

describe('a build whose claim fails', () => {
  it('fails with the host\'s error and leaves nothing to clean', async () => {
    const build = input();
    local.worker.script(build.buildId, { claim: { fail: { error: 'NoFreeDevice', cause: 'all 11 device letters are leased' } } });

    const result = await runBuild(local, build);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('NoFreeDevice');
    expect(callsTo(result.events, 'ec2:createVolume')).toEqual([]);
    expect(await cleanUpAfter(result)).toEqual({
      buildId: build.buildId,
      releasedHosts: [],
      deletedVolumes: [],
      deregisteredImages: [],
      deletedSnapshots: [],
      removedCopies: [],
      releasedName: null,
      deletedSecret: null,
      // Never started, yet failed: a team hears of it all the same.
      publishedFailure: {
        buildId: build.buildId,
        team: null,
        amiName: build.registerImage.Name,
        status: 'FAILED',
        error: 'NoFreeDevice',
        cause: result.cause ?? null,
        cleanedUp: true,
      },
    });
    expect(local.worker.tasksFor(build.buildId, 'release')).toEqual([]);
  });

  it('times out when no host takes the claim', async () => {
    const build = input({ timeouts: { claimSeconds: 1 } });
    local.worker.script(build.buildId, { claim: 'silent' });

    const result = await runBuild(local, build);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('AmiFactory.Timeout');
    expect(callsTo(result.events, 'ec2:createVolume')).toEqual([]);
    expect(await cleanUpAfter(result)).toMatchObject({ releasedHosts: [], deletedVolumes: [] });
  });
});

describe('a build whose EC2 call fails', () => {
  it('releases the device when the volume cannot be created', async () => {
    const build = input({ createVolume: { SnapshotId: 'snap-00000000000000000' } });

    const result = await runBuild(local, build);

    if (local.aws.engine.name === 'localstack') {
      // LocalStack turns this EC2 error, which has no message, into a States.Runtime no Catch sees.
      expect(result.error).toBe('States.Runtime');
    } else {
      expect(result.error).toMatch(/ec2Exception$/i);
      expect(result.cause).toMatch(/Status Code: 400/);
    }
    const report = await expectCleanedUp(result, { caught: local.aws.engine.name !== 'localstack' });
    expect(report.deletedVolumes).toEqual([]);
  });

  it('fails when the volume cannot be attached; clean-up deletes it', async () => {
    const build = input();
    // A host whose instance EC2 does not know: CreateVolume works, AttachVolume does not.
    local.worker.script(build.buildId, { claim: { answer: { instanceId: 'i-0123456789abcdef0' } } });

    const result = await runBuild(local, build);

    expect(result.error).toMatch(/ec2Exception$/i);
    expect(result.cause).toContain('i-0123456789abcdef0');
    expect(local.worker.tasksFor(build.buildId, 'provision')).toEqual([]);
    const report = await cleanUpAfter(result);
    expect(report).toMatchObject({ releasedHosts: ['i-0123456789abcdef0'], deletedVolumes: [volumeOf(result)] });
    expect(await resourcesOf(local.ec2, build.buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
    // The answer named this host's queue: the release reached it.
    expect(await local.worker.waitForRelease(build.buildId)).toEqual({ task: 'release', buildId: build.buildId });
  });

  it('fails when the existing image cannot be deregistered; clean-up deletes the new snapshot', async () => {
    const build = input({ existingImage: { imageId: 'ami-00000000000000000', snapshotIds: [] } });

    const result = await runBuild(local, build);

    expect(result.error).toMatch(/ec2Exception$/i);
    expect(result.cause).toContain('ami-00000000000000000');
    expect(callsTo(result.events, 'ec2:registerImage')).toEqual([]);
    const snapshotId = waitedFor(result.events, 'snapshot-completed');
    const report = await expectCleanedUp(result);
    expect(report).toMatchObject({ deletedVolumes: [], deletedSnapshots: [snapshotId] });
  });
});

describe('a build the workflow refuses or gives up on', () => {
  it('refuses SR-IOV together with NitroTPM; clean-up deletes the snapshot', async () => {
    const build = input({ registerImage: { SriovNetSupport: 'simple', TpmSupport: 'v2.0', BootMode: 'uefi' } });

    const result = await runBuild(local, build);

    expect(result.error).toBe('AmiFactory.UnsupportedImageOptions');
    expect(callsTo(result.events, 'ec2:registerImage')).toEqual([]);
    const report = await expectCleanedUp(result);
    expect(report.deletedSnapshots).toHaveLength(1);
  });

  it('gives up on an image EC2 never lists as available after maxAttempts checks; clean-up deregisters the one it registered', async () => {
    const stateMachineArn = await stateMachinePatched('image-never-available', (states) => {
      waitingFor(states, 'Wait for the image', 'ami-00000000000000000');
    });
    const build = input({ polling: { maxAttempts: 2 } });

    const result = await runBuild(local, build, { stateMachineArn });

    expect(result.error).toBe('AmiFactory.ImageNotAvailable');
    // Moto drops SendTaskFailure's cause; AWS and LocalStack pass it on to the Fail state.
    expect(result.cause).toMatch(/^(the failing step gave no cause|image ami-0+ is still not listed after 2 checks over \d+ s)$/);
    const imageId = actionAnswer(result.events, 'ec2:registerImage')?.ImageId as string;
    const snapshotId = waitedFor(result.events, 'snapshot-completed');
    const report = await expectCleanedUp(result);
    expect(report).toMatchObject({ deregisteredImages: [imageId], deletedSnapshots: [snapshotId] });
  });

  it('gives up on a volume that stays attached after maxAttempts checks; clean-up detaches and deletes it', async () => {
    const stateMachineArn = await stateMachinePatched('volume-never-detached', (states) => {
      // The detach call is skipped: the volume stays attached, as a volume held busy on a host does.
      states['Detach volume'] = { Type: 'Pass', Next: 'Wait for the volume to detach' };
    });
    const build = input({ polling: { maxAttempts: 1 } });

    const result = await runBuild(local, build, { stateMachineArn });

    expect(result.error).toBe('AmiFactory.VolumeNotDetached');
    expect(result.cause).toMatch(/^(the failing step gave no cause|volume vol-\w+ is still in-use \(attached\) after 1 check over \d+ s)$/);
    expect(statesEntered(result.events)).not.toContain('Release the device');
    const report = await expectCleanedUp(result);
    expect(report.deletedVolumes).toEqual([volumeOf(result)]);
  });
});
