/**
 * Packer's `file` provisioner (upload only): a file, a directory, or literal content,
 * written into the image. As in Packer, a directory source ending in "/" uploads its
 * contents; without the slash the directory itself lands inside the destination; a
 * destination ending in "/" (or an existing directory) receives files by their own name.
 */
import { lstat } from 'node:fs/promises';
import { basename, posix } from 'node:path';
import type { FileProvisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import type { ChrootCommunicator } from '../chroot/communicator.ts';

export async function runFileProvisioner(
  provisioner: FileProvisioner,
  chroot: ChrootCommunicator,
  log: BuildLog,
): Promise<void> {
  const name = `provisioners[${provisioner.index}] (file)`;
  const destination = provisioner.destination;
  if (provisioner.content !== undefined) {
    log.step(name, `writing content to ${destination}`);
    await chroot.writeFile(destination, provisioner.content);
    return;
  }
  for (const source of provisioner.sources) {
    const isDirectory = (await lstat(source)).isDirectory();
    const intoDirectory = destination.endsWith('/') || (await chroot.isDirectory(destination));
    let target = destination;
    if (isDirectory && !source.endsWith('/')) target = posix.join(destination, basename(source));
    else if (!isDirectory && intoDirectory) target = posix.join(destination, basename(source));
    log.step(name, `uploading ${source} to ${target}`);
    await chroot.upload(source, target);
  }
}
