/**
 * Local builds only: the disk image becomes a block device, as an EBS volume does when the
 * workflow attaches it on EC2. Loop devices are chosen under the host lock so that several
 * builds starting at once never race for the same one.
 */
import { attachImage } from '../../devices/loop-device.ts';
import type { ChrootStep } from '../build-context.ts';
import { lockDir } from '../host-config.ts';

export const attachImageStep: ChrootStep = {
  name: 'attach-image',
  async run(context) {
    const { source } = context;
    if (source.kind === 'device') {
      context.device = source.devicePath;
      return;
    }
    // Recorded first: if we die between losetup and the next journal write, recovery still
    // knows to look for loop devices backed by this image.
    await context.journal.record({ kind: 'detach-image', imagePath: source.imagePath });
    context.device = await attachImage(source.imagePath, { lockDir: lockDir(context.host) });
    context.log.step(this.name, `attached ${source.imagePath} as ${context.device}`);
  },
};
