/**
 * The chroot's own mounts (`chroot_mounts`: proc, sysfs, /dev, devpts, binfmt_misc by
 * default), in order. They lie beneath the root mount, whose undo takes down everything
 * mounted beneath it, deepest first; so they need no journal entry of their own. Mount
 * points are resolved inside the image, so an image whose /dev is a symlink cannot redirect
 * a bind mount onto the host.
 */
import { runSystemTool } from '../../devices/system-tool.ts';
import { mkdir } from 'node:fs/promises';
import { resolveInImage } from '../path-in-image.ts';
import { required, type ChrootStep } from '../build-context.ts';

export const chrootMountsStep: ChrootStep = {
  name: 'chroot-mounts',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    for (const [index, [fsType, source, mountPoint]] of context.request.builder.chroot_mounts.entries()) {
      const target = await resolveInImage(mountPath, mountPoint);
      await mkdir(target, { recursive: true });
      const args = fsType === 'bind' ? ['--bind', source, target] : ['-t', fsType, source, target];
      const result = await runSystemTool('mount', args);
      if (result.exitCode !== 0) {
        throw new Error(`chroot_mounts[${index}] (${fsType} ${source} ${mountPoint}): ${result.stderr}`);
      }
    }
    context.log.step(this.name, `mounted ${context.request.builder.chroot_mounts.length} file systems in the chroot`);
  },
};
