/** The small rules of the engine that need no block device. */
import { describe, expect, it } from 'vitest';
import { parseTemplate } from '../../../model/index.ts';
import type { BuildContext } from '../../../worker/chroot/build-context.ts';
import { shellQuote } from '../../../worker/chroot/shell-quote.ts';
import { mountPathFor } from '../../../worker/chroot/steps/mount-device.ts';
import { renderVars } from '../../../worker/provisioners/shell.ts';

const requestWith = (builder: Record<string, unknown>, provisioners: unknown[] = []) =>
  parseTemplate(
    { builders: [{ type: 'amazon-chroot', ami_name: 'unit-test', source_ami: 'ami-0123456789abcdef0', ...builder }], provisioners },
    { templateDir: '/' },
  );

const contextFor = (builder: Record<string, unknown>): BuildContext =>
  ({ request: requestWith(builder), host: { stateDir: '/var/lib/x', mountRoot: '/mnt/root' } }) as unknown as BuildContext;

describe('mount_path on a host', () => {
  it("Packer's default means the host's mount root, by device name", () => {
    expect(mountPathFor(contextFor({}), '/dev/loop3')).toBe('/mnt/root/loop3');
  });

  it('a template may choose a place inside the mount root', () => {
    expect(mountPathFor(contextFor({ mount_path: '/mnt/root/builds/{{.Device}}' }), '/dev/nvme1n1')).toBe('/mnt/root/builds/nvme1n1');
  });

  it('never outside it', () => {
    expect(() => mountPathFor(contextFor({ mount_path: '/etc/{{.Device}}' }), '/dev/loop3')).toThrow(
      "mount_path /etc/loop3 is not inside this host's mount root /mnt/root",
    );
  });
});

describe('shell provisioner {{.Vars}}', () => {
  it("renders Packer's variables and the template's, sorted, single-quoted", () => {
    const request = requestWith({ name: 'web' }, [
      { type: 'shell', inline: ['true'], environment_vars: ['ZED=last', "QUOTE=it's", 'EMPTY='], env: { ALPHA: 'a b' } },
    ]);
    const provisioner = request.provisioners[0];
    if (provisioner?.type !== 'shell') throw new Error('expected a shell provisioner');
    expect(renderVars(provisioner, request.builder.name)).toBe(
      `ALPHA='a b' EMPTY='' PACKER_BUILDER_TYPE='amazon-chroot' PACKER_BUILD_NAME='web' QUOTE='it'"'"'s' ZED='last'`,
    );
  });
});

describe('shellQuote', () => {
  it('keeps $ and backquotes for the shell inside the chroot', () => {
    expect(shellQuote('echo $HOME `id`')).toBe("'echo $HOME `id`'");
  });
});
