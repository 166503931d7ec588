/**
 * Where a build's volume is on this host once the workflow has attached it. On EC2 it is a
 * block device to find (NVMe serial or Xen name). Whoever starts the worker chooses the
 * backend: the local factory passes one of its own (local/ebs-volume-backend.ts).
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { VolumeSource } from '../chroot/build-context.ts';
import type { Ec2Attachment } from '../devices/ec2-device-names.ts';
import { waitForAttachedDevice } from '../devices/nvme.ts';
import { waitForAttachment } from '../devices/attachment-wait.ts';

export interface VolumeBackend {
  /**
   * The /dev whose nodes count as taken device names when claiming. The local factory's
   * device names exist only in moto, so it points at an empty directory.
   */
  readonly devRoot: string | undefined;
  /** Waits until the volume is attached here under `deviceName`, then finds it. */
  resolveSource(volume: { volumeId: string; deviceName: string }, signal: AbortSignal): Promise<VolumeSource>;
}

/** Made once the worker knows which instance it runs on and where its state lives. */
export type VolumeBackendFactory = (host: { ec2: EC2Client; instanceId: string; stateDir: string }) => Promise<VolumeBackend>;

/** How long a volume EC2 reports attached may take to show up as a device node. */
const DEVICE_TIMEOUT_MS = 60_000;

/** The chroot host's backend: EBS volumes attached to this instance. */
export const ec2VolumeBackend: VolumeBackendFactory = ({ ec2, instanceId }) =>
  Promise.resolve({
    devRoot: undefined,
    async resolveSource({ volumeId, deviceName }, signal) {
      await waitForAttachment({ ec2, volumeId, instanceId, deviceName, signal });
      const devicePath = await waitForAttachedDevice({ volumeId, deviceName, signal, timeoutMs: DEVICE_TIMEOUT_MS });
      return { kind: 'device', devicePath };
    },
  });

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
