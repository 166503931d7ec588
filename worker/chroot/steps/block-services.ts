/**
 * Keeps services from starting while packages are installed in the chroot.
 *
 * - Debian and Ubuntu: invoke-rc.d asks /usr/sbin/policy-rc.d, and exit status 101 means
 *   "action forbidden" (the Debian policy-rc.d interface; Aminator and Spinnaker do this).
 * - systemd images: systemctl refuses to start units when it sees it runs in a chroot.
 * Anything that starts regardless is ended when its provisioner exits (communicator.ts).
 * Whatever policy-rc.d the image had is restored at clean-up, bit for bit.
 */
import { chmod, stat, writeFile } from 'node:fs/promises';
import { resolveInImage } from '../path-in-image.ts';
import { required, type ChrootStep } from '../build-context.ts';
import { setAside } from '../set-aside.ts';

const POLICY_RC_D = '/usr/sbin/policy-rc.d';
const DENY_ALL = '#!/bin/sh\n# Written by ami-factory for the length of a build: no service starts in a chroot.\nexit 101\n';

export const blockServicesStep: ChrootStep = {
  name: 'block-services',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    try {
      if (!(await stat(await resolveInImage(mountPath, '/usr/sbin'))).isDirectory()) return;
    } catch {
      context.log.step(this.name, 'the image has no /usr/sbin: no policy-rc.d written');
      return;
    }
    const hostPath = await setAside(context, mountPath, POLICY_RC_D);
    await writeFile(hostPath, DENY_ALL);
    await chmod(hostPath, 0o755);
    context.log.step(this.name, `wrote ${POLICY_RC_D} (exit 101: services are not started)`);
  },
};
