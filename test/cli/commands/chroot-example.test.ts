/**
 * The README's example, end to end through the command line: shell inline, a script,
 * environment_vars and file provisioners, then the image opened again on its own and its
 * contents checked.
 */
import { execa } from 'execa';
import { access, mkdtemp, readFile, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';

const repo = join(import.meta.dirname, '../../..');

describeIfRoot('the hello example, provisioned with `ami-factory chroot`', () => {
  it('leaves every provisioner\'s work in the image, and nothing else', async () => {
    const host = await privateHost('example');
    const image = await makeBusyboxImage(await mkdtemp(join(tmpdir(), 'ami-factory-example-')));
    const result = await execa(
      'node',
      [
        'cli/main.ts', 'chroot', 'examples/hello/template.json', '--image', image,
        '--var', 'greeting=Hi from the test', '--var', 'build_label=e2e',
        '--state-dir', host.stateDir, '--mount-root', host.mountRoot,
      ],
      { cwd: repo, preferLocal: true, all: true, reject: false },
    );
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(/^Provisioned .* in [\d.]+ s \(build [0-9a-f-]+; log /);
    // Every line is timestamped, and provisioner output is tagged with its provisioner.
    expect(result.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {5}provisioners\[0\] \(shell\) inline: hello: wrote \/etc\/motd as uid 0/m);
    await expectHostClean(host, [image]);

    await withImageMounted(image, async (root) => {
      const read = (path: string): Promise<string> => readFile(join(root, path), 'utf8');
      // shell inline with environment_vars
      expect(await read('etc/motd')).toBe('Hi from the test\n\nBuilt by ami-factory (e2e).\n');
      expect(await read('etc/ami-factory/provisioned-as-uid')).toBe('0\n');
      // shell script (relative to the template), with Packer's own variables
      expect(await read('etc/hostname')).toBe('hello-e2e\n');
      expect(await read('etc/passwd')).toMatch(/^hello:x:1000:1000:/m);
      expect(await read('etc/ami-factory/build.env')).toMatch(/^BUILDER_TYPE=amazon-chroot$/m);
      // file: a file, and content
      expect(await read('etc/ami-factory/welcome.txt')).toBe(
        await readFile(join(repo, 'examples/hello/files/etc/ami-factory/welcome.txt'), 'utf8'),
      );
      expect(await read('etc/ami-factory/build-info')).toBe('build_label=e2e\ngreeting=Hi from the test\n');
      // What the build brought in is gone; what the image had is back.
      expect(await readlink(join(root, 'etc/resolv.conf'))).toBe('../run/resolvconf/resolv.conf');
      await expect(access(join(root, 'usr/sbin/policy-rc.d'))).rejects.toThrow();
      expect((await execa('ls', ['-A', join(root, 'tmp')])).stdout).toBe('');
    });
  });
});
