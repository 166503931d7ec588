/**
 * A realistic image: a Debian minbase root file system, where a provisioner installs real
 * packages from Debian's mirror through the resolv.conf the engine copies in, and a
 * package whose postinst starts a service (cron) is kept from starting it.
 */
import { access, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import { makeDebianImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

describeIfRoot('a Debian image provisioned with apt-get', () => {
  it('installs packages through the copied resolv.conf; services stay down; image restored', async () => {
    const host = await privateHost('debian');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-debian-'));
    const image = await makeDebianImage(dir);
    const resolvConfOf = (root: string): Promise<string> =>
      readFile(join(root, 'etc/resolv.conf'), 'utf8').catch(() => '(absent)');
    const resolvConfBefore = await withImageMounted(image, resolvConfOf);
    const lines: string[] = [];
    const request = await requestFrom(dir, [
      {
        type: 'shell',
        environment_vars: ['DEBIAN_FRONTEND=noninteractive'],
        inline: [
          'apt-get update -q',
          'apt-get install -y -q --no-install-recommends hello cron',
          'hello --greeting="installed in a chroot"',
        ],
      },
    ]);
    await runChrootBuild({ request, host, sink: (l) => lines.push(l), source: { kind: 'image', imagePath: image } });
    const log = lines.join('\n');
    expect(log).toContain('installed in a chroot');
    // invoke-rc.d asked policy-rc.d, which said no.
    expect(log).toMatch(/policy-rc\.d denied execution of (re)?start/);
    await expectHostClean(host, [image]);
    await withImageMounted(image, async (root) => {
      await access(join(root, 'usr/bin/hello'));
      await access(join(root, 'usr/sbin/cron'));
      await expect(access(join(root, 'usr/sbin/policy-rc.d'))).rejects.toThrow();
      // The image's own resolv.conf (as debootstrap left it) is back.
      expect(await resolvConfOf(root)).toBe(resolvConfBefore);
    });
  });
});
