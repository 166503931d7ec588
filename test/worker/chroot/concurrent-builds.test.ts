/** Several builds at once on one host: each gets its own device and mount path, all succeed. */
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

describeIfRoot('concurrent chroot builds on one host', () => {
  it('four builds at once get distinct devices and mount paths and all succeed', async () => {
    const host = await privateHost('four');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-four-'));
    const images = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        await mkdir(join(dir, `b${i}`));
        return makeBusyboxImage(join(dir, `b${i}`));
      }),
    );
    const results = await Promise.all(
      images.map(async (imagePath, i) => {
        const request = await requestFrom(dir, [
          // Long enough that all four are mounted at the same time.
          { type: 'shell', inline: [`echo build ${i} > /etc/which-build`, 'sleep 2'] },
        ], {}, `t${i}.json`);
        return runChrootBuild({ request, host, sink: () => undefined, source: { kind: 'image', imagePath } });
      }),
    );
    expect(new Set(results.map((r) => r.device)).size).toBe(4);
    expect(new Set(results.map((r) => r.mountPath)).size).toBe(4);
    for (const [i, imagePath] of images.entries()) {
      await withImageMounted(imagePath, async (root) => {
        expect(await readFile(join(root, 'etc/which-build'), 'utf8')).toBe(`build ${i}\n`);
      });
    }
    await expectHostClean(host, images);
  });
});
