/**
 * Mounts the root file system (the device itself, or its `mount_partition`) at the
 * rendered `mount_path`, which must lie inside the host's mount root: a request decides
 * where in that root, never where on the host.
 */
import { runSystemTool } from '../../devices/system-tool.ts';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { DEFAULT_MOUNT_PATH, renderHostTemplate } from '../../../model/index.ts';
import { assertPartitionExists, partitionPath } from '../../devices/loop-device.ts';
import { isAtOrUnder, isMountPoint } from '../mount-table.ts';
import { required, type BuildContext, type ChrootStep } from '../build-context.ts';

export function mountPathFor(context: BuildContext, device: string): string {
  const template = context.request.builder.mount_path;
  const { mountRoot } = context.host;
  // Packer's default means "by device name, where this host mounts volumes".
  const rendered =
    template === DEFAULT_MOUNT_PATH
      ? join(mountRoot, basename(device))
      : resolve(mountRoot, renderHostTemplate(template, { Device: basename(device) }));
  if (!isAtOrUnder(rendered, mountRoot) || rendered === mountRoot) {
    throw new Error(`mount_path ${rendered} is not inside this host's mount root ${mountRoot}`);
  }
  return rendered;
}

export const mountDeviceStep: ChrootStep = {
  name: 'mount-device',
  async run(context) {
    const device = required(context, 'device');
    const { mount_partition, mount_options } = context.request.builder;
    const partition = Number(mount_partition);
    const mountPath = mountPathFor(context, device);
    if (await isMountPoint(mountPath)) throw new Error(`mount_path ${mountPath} is already a mount point`);

    const target = partitionPath(device, partition);
    await assertPartitionExists(device, partition);

    await context.journal.record({ kind: 'remove-dir', path: mountPath });
    await mkdir(mountPath, { recursive: true });
    // The sandbox's processes hold the volume through their own mount namespace: they are
    // ended before it is unmounted.
    const cgroupDirs = context.sandbox ? [...context.sandbox.cgroupDirs] : undefined;
    await context.journal.record({ kind: 'unmount', mountPoint: mountPath, chrootPath: mountPath, cgroupDirs });
    const options = mount_options.flatMap((option) => ['-o', option]);
    context.log.step(this.name, `mounting ${target} at ${mountPath}`);
    const result = await runSystemTool('mount', [...options, target, mountPath]);
    if (result.exitCode !== 0) {
      throw new Error(`mounting ${target} at ${mountPath} failed (mount_options: ${JSON.stringify(mount_options)}): ${result.stderr}`);
    }
    context.mountPath = mountPath;
  },
};
