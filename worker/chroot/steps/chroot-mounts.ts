/**
 * The chroot's own mounts (`chroot_mounts`: proc, sysfs, /dev, devpts, binfmt_misc by
 * default), in order. In a sandboxed build Packer's default entries are the sandbox's own
 * (its /proc, a private /dev with pts, an empty /sys) and are not mounted on the host;
 * binfmt_misc, whose handlers are host-wide, is not given at all. Other entries reach this
 * step only when the build is granted host commands. They lie beneath the root mount, whose undo takes down everything
 * mounted beneath it, deepest first; so they need no journal entry of their own. Mount
 * points are resolved inside the image, so an image whose /dev is a symlink cannot redirect
 * a bind mount onto the host.
 */
import { runSystemTool } from '../../devices/system-tool.ts';
import { mkdir } from 'node:fs/promises';
import { resolveInImage } from '../path-in-image.ts';
import { required, type ChrootStep } from '../build-context.ts';
import { isDefaultChrootMount } from '../host-command-grants.ts';

export const chrootMountsStep: ChrootStep = {
  name: 'chroot-mounts',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    let mounted = 0;
    for (const [index, mount] of context.request.builder.chroot_mounts.entries()) {
      if (context.sandbox && isDefaultChrootMount(mount)) continue;
      const [fsType, source, mountPoint] = mount;
      const target = await resolveInImage(mountPath, mountPoint);
      await mkdir(target, { recursive: true });
      const args = fsType === 'bind' ? ['--bind', source, target] : ['-t', fsType, source, target];
      const result = await runSystemTool('mount', args);
      if (result.exitCode !== 0) {
        throw new Error(`chroot_mounts[${String(index)}] (${fsType} ${source} ${mountPoint}): ${result.stderr}`);
      }
      mounted++;
    }
    const bySandbox = context.sandbox ? ' (the sandbox gives /proc, /dev and /sys itself)' : '';
    context.log.step(this.name, `mounted ${String(mounted)} file systems in the chroot${bySandbox}`);
  },
};
