/**
 * Successful builds in the local AWS: the workflow claims the fake host, builds on it and
 * registers the image, and every EC2 call carries the parameters the template asked for.
 * The history is checked, not only the engine's resources, because moto ignores most of
 * RegisterImage's parameters.
 */
import { CreateSnapshotCommand, CreateVolumeCommand, DeleteVolumeCommand, DescribeImagesCommand, DescribeSnapshotsCommand, RegisterImageCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_ID_TAG } from '../../contract/execution.ts';
import { callsTo, onlyCallTo, statesEntered, waitedFor } from '../support/executions.ts';
import { LOCAL_ACCOUNT_ID as ACCOUNT_ID, LOCAL_REGION as REGION } from '../support/local-aws.ts';
import { buildIdTag, buildImageInput, ROOT_DEVICE } from './support/build-input.ts';
import { HOST_DEVICE, HOST_ZONE, resourcesOf, runBuild, startLocalBuildImage, type LocalBuildImage } from './support/local-aws.ts';

const KMS_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const UEFI_DATA = 'QU1aTlVFRkk=';

let local: LocalBuildImage;

beforeAll(async () => {
  local = await startLocalBuildImage();
});

afterAll(async () => {
  await local.stop();
});

function tagsOf(tags: { Key?: string; Value?: string }[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
}

describe('a successful build', () => {
  it('builds a UEFI image with NitroTPM, UEFI data and IMDSv2 on an encrypted volume', async () => {
    const input = buildImageInput({
      sourceSnapshotId: local.sourceSnapshotId,
      createVolume: { Encrypted: true, KmsKeyId: KMS_KEY_ARN, Size: 16, VolumeType: 'gp3' },
      registerImage: {
        Architecture: 'arm64',
        BootMode: 'uefi',
        TpmSupport: 'v2.0',
        UefiData: UEFI_DATA,
        ImdsSupport: 'v2.0',
        EnaSupport: true,
      },
    });
    const { buildId } = input;
    const { host } = local.worker;

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const snapshotId = waitedFor(result.events, 'snapshot-completed');
    const imageId = (result.output as { amis: { imageId: string }[] }).amis[0]?.imageId;
    expect(result.output).toEqual({
      buildId,
      amis: [{ region: REGION, accountId: ACCOUNT_ID, imageId: expect.stringMatching(/^ami-/) as string, snapshotIds: [snapshotId], state: 'available' }],
    });

    // The claim went to the claims queue; the answer decided the zone and device.
    expect(local.worker.tasksFor(buildId, 'claim')).toEqual([{ task: 'claim', taskToken: expect.any(String) as string, buildId }]);
    const createVolume = onlyCallTo(result.events, 'ec2:createVolume');
    expect(createVolume).toEqual({
      AvailabilityZone: HOST_ZONE,
      SnapshotId: local.sourceSnapshotId,
      Size: 16,
      VolumeType: 'gp3',
      Encrypted: true,
      KmsKeyId: KMS_KEY_ARN,
      TagSpecifications: input.createVolume.TagSpecifications,
      ClientToken: buildId,
    });
    const volumeId = (callsTo(result.events, 'ec2:createTags')[0]?.Resources as string[])[0] ?? '';
    expect(volumeId).toMatch(/^vol-/);
    expect(callsTo(result.events, 'ec2:createTags')[0]).toEqual({
      Resources: [volumeId],
      Tags: [{ Key: 'ami-factory:instance-id', Value: host.instanceId }],
    });
    expect(onlyCallTo(result.events, 'ec2:attachVolume')).toEqual({ VolumeId: volumeId, InstanceId: host.instanceId, Device: HOST_DEVICE });

    // Provisioning ran on the claimed host while the volume was attached there.
    expect(local.worker.tasksFor(buildId, 'provision')).toEqual([
      {
        task: 'provision',
        taskToken: expect.any(String) as string,
        buildId,
        volumeId,
        deviceName: HOST_DEVICE,
        bundleKey: input.bundleKey,
        logKey: input.logKey,
      },
    ]);
    expect(local.worker.attachments.get(volumeId)).toEqual({ volumeId, instanceId: host.instanceId, device: HOST_DEVICE, state: 'attached' });

    expect(onlyCallTo(result.events, 'ec2:detachVolume')).toEqual({ VolumeId: volumeId, InstanceId: host.instanceId, Device: HOST_DEVICE });
    expect(await local.worker.waitForRelease(buildId)).toEqual({ task: 'release', buildId });
    expect(onlyCallTo(result.events, 'ec2:createSnapshot')).toEqual({
      VolumeId: volumeId,
      Description: input.createSnapshot.Description,
      TagSpecifications: input.createSnapshot.TagSpecifications,
    });
    expect(onlyCallTo(result.events, 'ec2:deleteVolume')).toEqual({ VolumeId: volumeId });

    // Everything RegisterImage needs, though moto keeps only the name and description.
    expect(onlyCallTo(result.events, 'ec2:registerImage')).toEqual({
      Name: input.registerImage.Name,
      Description: input.registerImage.Description,
      Architecture: 'arm64',
      VirtualizationType: 'hvm',
      RootDeviceName: ROOT_DEVICE,
      BlockDeviceMappings: [
        { DeviceName: ROOT_DEVICE, Ebs: { VolumeSize: 12, VolumeType: 'gp3', DeleteOnTermination: true, SnapshotId: snapshotId } },
        { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
      ],
      EnaSupport: true,
      BootMode: 'uefi',
      TpmSupport: 'v2.0',
      UefiData: UEFI_DATA,
      TagSpecifications: input.registerImage.TagSpecifications,
    });
    expect(callsTo(result.events, 'ec2:createTags').slice(1)).toEqual([
      { Resources: [imageId], Tags: input.registerImage.TagSpecifications?.[0]?.Tags },
      { Resources: [imageId], Tags: [buildIdTag(buildId), { Key: 'ami-factory:root-snapshot-id', Value: snapshotId }] },
    ]);
    expect(onlyCallTo(result.events, 'ec2:modifyImageAttribute')).toEqual({ ImageId: imageId, ImdsSupport: { Value: 'v2.0' } });

    // What is left in EC2: the image and its snapshot, tagged; the volume is gone.
    const leftovers = await resourcesOf(local.ec2, buildId);
    expect(leftovers).toEqual({ volumes: [], snapshots: [snapshotId], images: [imageId] });
    const { Images = [] } = await local.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId ?? ''] }));
    expect(Images[0]?.Name).toBe(input.registerImage.Name);
    expect(tagsOf(Images[0]?.Tags)).toEqual({ [BUILD_ID_TAG]: buildId, os: 'debian', 'ami-factory:root-snapshot-id': snapshotId });
    const { Snapshots = [] } = await local.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(tagsOf(Snapshots[0]?.Tags)).toEqual({ [BUILD_ID_TAG]: buildId, purpose: 'root' });
  });

  it('builds a legacy-BIOS image with SR-IOV and no IMDS setting, on a volume encrypted with the default key', async () => {
    const input = buildImageInput({
      sourceSnapshotId: local.sourceSnapshotId,
      createVolume: { Encrypted: true },
      registerImage: { SriovNetSupport: 'simple', EnaSupport: false, BootMode: 'legacy-bios' },
    });

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(onlyCallTo(result.events, 'ec2:createVolume')).not.toHaveProperty('KmsKeyId');
    expect(onlyCallTo(result.events, 'ec2:registerImage')).toMatchObject({
      Architecture: 'x86_64',
      EnaSupport: false,
      SriovNetSupport: 'simple',
      BootMode: 'legacy-bios',
    });
    expect(onlyCallTo(result.events, 'ec2:registerImage')).not.toHaveProperty('TpmSupport');
    expect(callsTo(result.events, 'ec2:modifyImageAttribute')).toEqual([]);
    expect(await resourcesOf(local.ec2, input.buildId)).toMatchObject({ volumes: [] });
  });

  it('builds from scratch: a volume with no source snapshot, named so in the timeline', async () => {
    const planned = buildImageInput({ sourceSnapshotId: local.sourceSnapshotId });
    // What the planner writes for from_scratch: no SnapshotId at all (not null).
    const createVolume = { ...planned.createVolume };
    delete createVolume.SnapshotId;
    const input = { ...planned, createVolume };

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(onlyCallTo(result.events, 'ec2:createVolume')).not.toHaveProperty('SnapshotId');
    expect(onlyCallTo(result.events, 'ec2:createVolume')).toMatchObject({ Size: planned.createVolume.Size });
    expect(statesEntered(result.events)).toContain('Create volume without SnapshotId');
  });
});

describe('force_deregister', () => {
  /** An image by an earlier build with the same name, and a snapshot of its own. */
  async function existingImage(name: string) {
    const { VolumeId } = await local.ec2.send(new CreateVolumeCommand({ AvailabilityZone: `${REGION}a`, Size: 8 }));
    const { SnapshotId = '' } = await local.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    await local.ec2.send(new DeleteVolumeCommand({ VolumeId }));
    const { ImageId = '' } = await local.ec2.send(
      new RegisterImageCommand({
        Name: name,
        RootDeviceName: ROOT_DEVICE,
        BlockDeviceMappings: [{ DeviceName: ROOT_DEVICE, Ebs: { SnapshotId } }],
      }),
    );
    return { imageId: ImageId, snapshotId: SnapshotId };
  }

  async function exists(kind: 'image' | 'snapshot', id: string): Promise<boolean> {
    const found =
      kind === 'image'
        ? (await local.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images?.map((image) => image.ImageId)
        : (await local.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots?.map((snapshot) => snapshot.SnapshotId);
    return found?.includes(id) ?? false;
  }

  it('deregisters the existing image first and, with force_delete_snapshot, deletes its snapshots', async () => {
    const old = await existingImage('replaced-with-snapshots');
    const input = buildImageInput({
      sourceSnapshotId: local.sourceSnapshotId,
      registerImage: { Name: 'replaced-with-snapshots' },
      existingImage: { imageId: old.imageId, snapshotIds: [old.snapshotId] },
    });

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(onlyCallTo(result.events, 'ec2:deregisterImage')).toEqual({ ImageId: old.imageId });
    expect(onlyCallTo(result.events, 'ec2:deleteSnapshot')).toEqual({ SnapshotId: old.snapshotId });
    const order = result.events
      .filter((event) => event.type === 'TaskScheduled')
      .map((event) => event.taskScheduledEventDetails?.resource);
    expect(order.indexOf('deregisterImage')).toBeLessThan(order.indexOf('registerImage'));
    expect(await exists('image', old.imageId)).toBe(false);
    expect(await exists('snapshot', old.snapshotId)).toBe(false);
    expect(await resourcesOf(local.ec2, input.buildId)).toMatchObject({ volumes: [], images: [expect.stringMatching(/^ami-/) as string] });
  });

  it('keeps the existing image\'s snapshots without force_delete_snapshot', async () => {
    const old = await existingImage('replaced-keeping-snapshots');
    const input = buildImageInput({
      sourceSnapshotId: local.sourceSnapshotId,
      registerImage: { Name: 'replaced-keeping-snapshots' },
      existingImage: { imageId: old.imageId, snapshotIds: [] },
    });

    const result = await runBuild(local, input);

    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(onlyCallTo(result.events, 'ec2:deregisterImage')).toEqual({ ImageId: old.imageId });
    expect(callsTo(result.events, 'ec2:deleteSnapshot')).toEqual([]);
    expect(await exists('image', old.imageId)).toBe(false);
    expect(await exists('snapshot', old.snapshotId)).toBe(true);
  });
});
