/** Runs a build's provisioners in order: inside the chroot, or (shell-local) on the host beside it. */
import type { Provisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import type { ChrootCommunicator } from '../chroot/communicator.ts';
import { runAnsibleLocalProvisioner } from './ansible-local.ts';
import { runFileProvisioner } from './file.ts';
import { runShellLocalProvisioner, type HostSide } from './shell-local.ts';
import { runShellProvisioner } from './shell.ts';

export { ProvisionerError } from './provisioner-error.ts';

export async function runProvisioner(
  provisioner: Provisioner,
  chroot: ChrootCommunicator,
  log: BuildLog,
  buildName: string,
  host?: HostSide,
): Promise<void> {
  switch (provisioner.type) {
    case 'shell':
      return runShellProvisioner(provisioner, chroot, log, buildName);
    case 'file':
      return runFileProvisioner(provisioner, chroot, log);
    case 'ansible-local':
      return runAnsibleLocalProvisioner(provisioner, chroot, log, buildName);
    case 'shell-local':
      if (host === undefined) throw new Error(`internal: provisioners[${provisioner.index}] (shell-local) needs the host side of the build`);
      return runShellLocalProvisioner(provisioner, host, buildName);
  }
}
