/** A bare file-system image (no partition table) is provisioned with mount_partition "0". */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

describeIfRoot('a bare file-system image', () => {
  it('mounts the whole device with mount_partition "0" and keeps what the provisioner wrote', async () => {
    const host = await privateHost('bare');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-bare-'));
    const image = await makeBusyboxImage(dir, { bare: true });
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['echo bare > /etc/layout'] }], { mount_partition: '0' });
    const result = await runChrootBuild({ request, host, sink: () => undefined, source: { kind: 'image', imagePath: image } });
    expect(result.device).toMatch(/^\/dev\/loop\d+$/);
    await expectHostClean(host, [image]);
    await withImageMounted(image, async (root) => {
      expect(await readFile(join(root, 'etc/layout'), 'utf8')).toBe('bare\n');
    });
  });

  it('refuses mount_partition "1" on it: there is no partition 1', async () => {
    const host = await privateHost('bare1');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-bare-'));
    const image = await makeBusyboxImage(dir, { bare: true });
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['true'] }], { mount_partition: '1' });
    await expect(runChrootBuild({ request, host, sink: () => undefined, source: { kind: 'image', imagePath: image } })).rejects.toThrow(
      /partition 1 of \/dev\/loop\d+ does not exist/,
    );
    await expectHostClean(host, [image]);
  });
});
