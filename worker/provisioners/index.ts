/** Runs a build's provisioners in order inside the chroot. */
import type { Provisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import type { ChrootCommunicator } from '../chroot/communicator.ts';
import { runFileProvisioner } from './file.ts';
import { runShellProvisioner } from './shell.ts';

export { ProvisionerError } from './provisioner-error.ts';

export async function runProvisioner(
  provisioner: Provisioner,
  chroot: ChrootCommunicator,
  log: BuildLog,
  buildName: string,
): Promise<void> {
  switch (provisioner.type) {
    case 'shell':
      return runShellProvisioner(provisioner, chroot, log, buildName);
    case 'file':
      return runFileProvisioner(provisioner, chroot, log);
  }
}
