/**
 * Failed builds in the local AWS: each ends FAILED with the error that caused it, and leaves
 * nothing tagged with its build id behind; once a host was claimed, its device is released.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBuildImageDefinition } from '../../statemachine/definition.ts';
import { buildImageInput, type BuildImageInput } from './support/build-input.ts';
import {
  callsTo,
  createStateMachine,
  onlyCallTo,
  resourcesOf,
  runBuild,
  startLocalBuildImage,
  statesEntered,
  type BuildResult,
  type LocalBuildImage,
} from './support/local-aws.ts';

let local: LocalBuildImage;

beforeAll(async () => {
  local = await startLocalBuildImage();
});

afterAll(async () => {
  await local.stop();
});

function input(options: Omit<Parameters<typeof buildImageInput>[0], 'sourceSnapshotId'> = {}): BuildImageInput {
  return buildImageInput({ sourceSnapshotId: local.sourceSnapshotId, ...options });
}

/** FAILED through the clean-up chain, with nothing of the build left and the device released. */
async function expectCleanedUp(result: BuildResult, buildId: string): Promise<void> {
  expect(result.status).toBe('FAILED');
  expect(statesEntered(result.events)).toContain('Clean up');
  expect(await resourcesOf(local.ec2, buildId)).toEqual({ volumes: [], snapshots: [], images: [] });
  expect(await local.worker.waitForRelease(buildId)).toEqual({ task: 'release', buildId });
}

/**
 * A copy of the workflow whose polls at `decisions` wait for a state EC2 never reports, since
 * moto's volumes and images reach theirs at once: what a stuck volume or image looks like.
 */
async function stateMachineWaitingForever(name: string, decisions: string[]): Promise<string> {
  const definition = JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: local.claimsQueueUrl })) as {
    States: Record<string, { Choices: unknown[] }>;
  };
  for (const decision of decisions) {
    const choices = definition.States[decision]?.Choices;
    const patched = JSON.stringify(choices).replace(/"StringEquals":"(available)"/, '"StringEquals":"never-$1"');
    if (patched === JSON.stringify(choices)) throw new Error(`${decision} no longer waits for "available": update this test`);
    (definition.States[decision] as { Choices: unknown[] }).Choices = JSON.parse(patched) as unknown[];
  }
  return createStateMachine(local.sfn, `build-image-${name}`, JSON.stringify(definition));
}

describe('a build that fails on the host', () => {
  it('fails with the worker\'s error when provisioning fails, and deletes the volume', async () => {
    const build = input();
    local.worker.script(build.buildId, { provision: { fail: { error: 'ProvisionerFailed', cause: 'shell provisioner exited with 3' } } });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toBe('ProvisionerFailed');
    // Moto drops SendTaskFailure's cause; AWS passes it on to the Fail state.
    expect(['the failing step gave no cause', 'shell provisioner exited with 3']).toContain(result.cause);
    const volumeId = onlyCallTo(result.events, 'ec2:attachVolume').VolumeId;
    expect(onlyCallTo(result.events, 'ec2:detachVolume')).toEqual({ VolumeId: volumeId, InstanceId: local.worker.host.instanceId, Device: '/dev/sdf' });
    expect(onlyCallTo(result.events, 'ec2:deleteVolume')).toEqual({ VolumeId: volumeId });
    expect(callsTo(result.events, 'ec2:createSnapshot')).toEqual([]);
  });

  it('fails when the host stops heart-beating mid-provision, and detaches and deletes the volume', async () => {
    const build = input({ timeouts: { heartbeatSeconds: 1 } });
    local.worker.script(build.buildId, { provision: 'silent' });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    // Step Functions' States.HeartbeatTimeout (moto: States.Timeout), renamed: a Fail state may not raise States.*.
    expect(result.error).toMatch(/^AmiFactory\.(Heartbeat)?Timeout$/);
    expect(result.cause).toBe('the failing step gave no cause');
    expect(onlyCallTo(result.events, 'ec2:detachVolume')).toMatchObject({ InstanceId: local.worker.host.instanceId, Device: '/dev/sdf' });
    expect(callsTo(result.events, 'ec2:deleteVolume')).toHaveLength(1);
  });
});

describe('a build whose claim fails', () => {
  it('fails with the host\'s error and touches nothing in EC2', async () => {
    const build = input();
    local.worker.script(build.buildId, { claim: { fail: { error: 'NoFreeDevice', cause: 'all 11 device letters are leased' } } });

    const result = await runBuild(local, build);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('NoFreeDevice');
    expect(callsTo(result.events, 'ec2:createVolume')).toEqual([]);
    expect(local.worker.tasksFor(build.buildId, 'release')).toEqual([]);
  });

  it('times out when no host takes the claim', async () => {
    const build = input({ timeouts: { claimSeconds: 1 } });
    local.worker.script(build.buildId, { claim: 'silent' });

    const result = await runBuild(local, build);

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('AmiFactory.Timeout');
    expect(callsTo(result.events, 'ec2:createVolume')).toEqual([]);
  });
});

describe('a build whose EC2 call fails', () => {
  it('releases the device when the volume cannot be created', async () => {
    const build = input({ createVolume: { SnapshotId: 'snap-00000000000000000' } });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toMatch(/ec2Exception$/i);
    expect(result.cause).toMatch(/Status Code: 400/);
    expect(callsTo(result.events, 'ec2:detachVolume')).toEqual([]);
  });

  it('deletes the volume when it cannot be attached', async () => {
    const build = input();
    // A host whose instance EC2 does not know: CreateVolume works, AttachVolume does not.
    local.worker.script(build.buildId, { claim: { answer: { instanceId: 'i-0123456789abcdef0' } } });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toMatch(/ec2Exception$/i);
    expect(result.cause).toContain('i-0123456789abcdef0');
    expect(callsTo(result.events, 'ec2:deleteVolume')).toHaveLength(1);
    expect(local.worker.tasksFor(build.buildId, 'provision')).toEqual([]);
  });

  it('deletes the new snapshot when the existing image cannot be deregistered', async () => {
    const build = input({ existingImage: { imageId: 'ami-00000000000000000', snapshotIds: [] } });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toMatch(/ec2Exception$/i);
    expect(result.cause).toContain('ami-00000000000000000');
    const snapshotId = (onlyCallTo(result.events, 'ec2:describeSnapshots').SnapshotIds as string[])[0];
    expect(onlyCallTo(result.events, 'ec2:deleteSnapshot')).toEqual({ SnapshotId: snapshotId });
    expect(callsTo(result.events, 'ec2:registerImage')).toEqual([]);
  });
});

describe('a build the workflow refuses or gives up on', () => {
  it('refuses SR-IOV together with NitroTPM, after cleaning up', async () => {
    const build = input({ registerImage: { SriovNetSupport: 'simple', TpmSupport: 'v2.0', BootMode: 'uefi' } });

    const result = await runBuild(local, build);

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toBe('AmiFactory.UnsupportedImageOptions');
    expect(callsTo(result.events, 'ec2:registerImage')).toEqual([]);
  });

  it('gives up on an image that never becomes available after maxAttempts polls, and deregisters it', async () => {
    const stateMachineArn = await stateMachineWaitingForever('image-never-available', ['Image available?']);
    const build = input({ polling: { maxAttempts: 2 } });

    const result = await runBuild(local, build, { stateMachineArn });

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toBe('AmiFactory.ImageNotAvailable');
    expect(result.cause).toMatch(/^image ami-\w+ is still available after 2 polls$/);
    expect(callsTo(result.events, 'ec2:describeImages')).toHaveLength(3);
    const [imageId] = callsTo(result.events, 'ec2:describeImages')[0]?.ImageIds as string[];
    expect(onlyCallTo(result.events, 'ec2:deregisterImage')).toEqual({ ImageId: imageId });
    expect(callsTo(result.events, 'ec2:deleteSnapshot')).toHaveLength(1);
  });

  it('forces the detach of a volume that stays busy, then deletes it', async () => {
    const stateMachineArn = await stateMachineWaitingForever('volume-never-detached', ['Volume detached?', 'Volume free? (clean-up)']);
    const build = input({ polling: { maxAttempts: 1 } });

    const result = await runBuild(local, build, { stateMachineArn });

    await expectCleanedUp(result, build.buildId);
    expect(result.error).toBe('AmiFactory.VolumeNotDetached');
    const detaches = callsTo(result.events, 'ec2:detachVolume');
    expect(detaches.map((call) => call.Force)).toEqual([undefined, undefined, true]);
    expect(callsTo(result.events, 'ec2:deleteVolume')).toHaveLength(1);
    expect(callsTo(result.events, 'ec2:createSnapshot')).toEqual([]);
  });
});
