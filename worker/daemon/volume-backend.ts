/**
 * Where a build's volume is on this host once the workflow has attached it. On EC2 it is a
 * block device to find (NVMe serial or Xen name); in the local factory it is a sparse file
 * in the local EBS store, which the chroot engine attaches as a loop device itself, so the
 * engine's journal also owns detaching it.
 */
import { DescribeInstancesCommand, DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalEbsStore } from '../../local/ebs-store.ts';
import type { VolumeSource } from '../chroot/build-context.ts';
import type { Ec2Attachment } from '../devices/ec2-device-names.ts';
import { waitForAttachedDevice } from '../devices/nvme.ts';

export interface VolumeBackend {
  /**
   * The /dev whose nodes count as taken device names when claiming. The local factory's
   * device names exist only in moto, so it points at an empty directory.
   */
  readonly devRoot: string | undefined;
  resolveSource(volume: { volumeId: string; deviceName: string }, signal: AbortSignal): Promise<VolumeSource>;
}

export class VolumeNotAttachedError extends Error {
  override name = 'VolumeNotAttachedError';
}

/** How long a volume EC2 reports attached may take to show up as a device node. */
const DEVICE_TIMEOUT_MS = 60_000;

export function ec2VolumeBackend(ec2: EC2Client, instanceId: string): VolumeBackend {
  return {
    devRoot: undefined,
    async resolveSource({ volumeId, deviceName }, signal) {
      // Mount only what EC2 says is attached here under the claimed name: a stale or
      // mistaken task must not make this host provision some other build's device.
      const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }), { abortSignal: signal })).Volumes?.[0];
      const attachment = volume?.Attachments?.find((a) => a.InstanceId === instanceId);
      if (attachment?.State !== 'attached') {
        throw new VolumeNotAttachedError(
          `volume ${volumeId} is not attached to ${instanceId} (${attachment?.State ?? 'no attachment'})`,
        );
      }
      if (attachment.Device !== deviceName) {
        throw new VolumeNotAttachedError(`volume ${volumeId} is attached as ${attachment.Device ?? '?'}, not ${deviceName}`);
      }
      const devicePath = await waitForAttachedDevice({ volumeId, deviceName, signal, timeoutMs: DEVICE_TIMEOUT_MS });
      return { kind: 'device', devicePath };
    },
  };
}

export async function localVolumeBackend(store: LocalEbsStore, stateDir: string): Promise<VolumeBackend> {
  const devRoot = join(stateDir, 'local-dev');
  await mkdir(devRoot, { recursive: true });
  return {
    devRoot,
    async resolveSource({ volumeId }) {
      return { kind: 'image', imagePath: await store.materializeVolume(volumeId) };
    },
  };
}

/** The instance's block-device mappings as EC2 reports them, for choosing a free name. */
export async function listInstanceAttachments(ec2: EC2Client, instanceId: string): Promise<Ec2Attachment[]> {
  const found = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = found.Reservations?.[0]?.Instances?.[0];
  if (instance === undefined) throw new Error(`EC2 does not know instance ${instanceId}`);
  return (instance.BlockDeviceMappings ?? []).flatMap((mapping) =>
    mapping.DeviceName === undefined
      ? []
      : [
          {
            deviceName: mapping.DeviceName,
            volumeId: mapping.Ebs?.VolumeId ?? '?',
            state: (mapping.Ebs?.Status ?? 'attached'),
          },
        ],
  );
}
