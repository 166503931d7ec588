/** The template's provisioners, in order, inside the chroot. */
import { ChrootCommunicator } from '../communicator.ts';
import { runProvisioner } from '../../provisioners/index.ts';
import { required, type ChrootStep } from '../build-context.ts';

export const provisionStep: ChrootStep = {
  name: 'provision',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    const { builder, provisioners } = context.request;
    // Whatever provisioners start and leave behind is ended before anything is unmounted.
    await context.journal.record({ kind: 'end-chroot-processes', chrootPath: mountPath });
    const chroot = new ChrootCommunicator(mountPath, builder.command_wrapper, context.log, context.signal);
    for (const provisioner of provisioners) {
      await runProvisioner(provisioner, chroot, context.log, builder.name);
    }
  },
};
