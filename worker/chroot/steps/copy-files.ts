/** `copy_files` (by default the host's /etc/resolv.conf, so provisioners can resolve names). */
import { copyFile, writeFile } from 'node:fs/promises';
import { HOST_RESOLV_CONF } from '../../sandbox/resolvers.ts';
import { required, type ChrootStep } from '../build-context.ts';
import { setAside } from '../set-aside.ts';

export const copyFilesStep: ChrootStep = {
  name: 'copy-files',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    for (const [index, file] of context.request.builder.copy_files.entries()) {
      const hostPath = await setAside(context, mountPath, file);
      const replacement = file === HOST_RESOLV_CONF ? context.sandbox?.network?.resolvers.replacement : undefined;
      try {
        // A loopback resolver does not exist in the sandbox's network: its upstream instead.
        if (replacement !== undefined) await writeFile(hostPath, replacement);
        // copyFile follows the host's own symlinks: the image gets the content.
        else await copyFile(file, hostPath);
      } catch (error) {
        throw new Error(`copy_files[${index}] (${file}): ${(error as Error).message}`, { cause: error });
      }
      context.log.step(this.name, `copied ${file} into the image`);
    }
  },
};
