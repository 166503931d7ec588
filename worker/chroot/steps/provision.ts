/** The template's provisioners, in order, inside the chroot (shell-local beside it, on the host). */
import { ChrootCommunicator } from '../communicator.ts';
import { runProvisioner } from '../../provisioners/index.ts';
import { required, type ChrootStep } from '../build-context.ts';

export const provisionStep: ChrootStep = {
  name: 'provision',
  async run(context) {
    const mountPath = required(context, 'mountPath');
    const { builder, provisioners } = context.request;
    // Whatever provisioners start and leave behind is ended before anything is unmounted: in
    // a sandbox, by its cgroup (the mount's own undo record kills it first); in a plain
    // chroot, by finding the processes rooted in it.
    if (!context.sandbox) await context.journal.record({ kind: 'end-chroot-processes', chrootPath: mountPath });
    const chroot = new ChrootCommunicator({
      mountPath, commandWrapper: builder.command_wrapper, log: context.log, signal: context.signal, sandbox: context.sandbox,
    });
    const host = { device: required(context, 'device'), mountPath, log: context.log, signal: context.signal, sandbox: context.sandbox };
    for (const provisioner of provisioners) {
      await runProvisioner(provisioner, chroot, context.log, builder.name, host);
    }
  },
};
