/** `copy_files` (by default the host's /etc/resolv.conf, so provisioners can resolve names). */
import { copyFile } from 'node:fs/promises';
import { required, type ChrootStep } from '../build-context.ts';
import { setAside } from '../set-aside.ts';

export const copyFilesStep: ChrootStep = {
  name: 'copy-files',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    for (const [index, file] of context.request.builder.copy_files.entries()) {
      const hostPath = await setAside(context, mountPath, file);
      try {
        // copyFile follows the host's own symlinks: the image gets the content.
        await copyFile(file, hostPath);
      } catch (error) {
        throw new Error(`copy_files[${index}] (${file}): ${(error as Error).message}`, { cause: error });
      }
      context.log.step(this.name, `copied ${file} into the image`);
    }
  },
};
