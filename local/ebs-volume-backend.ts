/**
 * The local factory's volume backend: a build's "EBS volume" is a sparse file in the local
 * EBS store, which the chroot engine attaches as a loop device itself, so the engine's
 * journal also owns detaching it.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumeBackendFactory } from '../worker/daemon/volume-backend.ts';
import { LocalEbsStore } from './ebs-store.ts';
import { waitForAttachment } from '../worker/devices/attachment-wait.ts';

export function localVolumeBackend(storeDir: string): VolumeBackendFactory {
  return async ({ ec2, instanceId, stateDir }) => {
    const store = new LocalEbsStore(storeDir, ec2);
    // The local factory's device names exist only in the local AWS: no /dev node takes one.
    const devRoot = join(stateDir, 'local-dev');
    await mkdir(devRoot, { recursive: true });
    return {
      devRoot,
      async resolveSource({ volumeId, deviceName }, signal) {
        // As on a chroot host: the workflow does not wait for the attachment, the host does.
        await waitForAttachment({ ec2, volumeId, instanceId, deviceName, signal });
        return { kind: 'image', imagePath: await store.materializeVolume(volumeId) };
      },
    };
  };
}
