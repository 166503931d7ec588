/** The small rules of the engine that need no block device. */
import { describe, expect, it } from 'vitest';
import { parseTemplate } from '../../../model/index.ts';
import type { BuildContext } from '../../../worker/chroot/build-context.ts';
import { shellQuote } from '../../../worker/chroot/shell-quote.ts';
import { mountPathFor } from '../../../worker/chroot/steps/mount-device.ts';
import { provisionerEnvironment, renderVars } from '../../../worker/provisioners/shell.ts';
import { withEnvironment } from '../../../worker/chroot/communicator.ts';

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
  it("names Packer's variables and the template's, sorted, each a reference to its value", () => {
    const request = requestWith({ name: 'web' }, [
      { type: 'shell', inline: ['true'], environment_vars: ['ZED=last', "QUOTE=it's", 'EMPTY='], env: { ALPHA: 'a b' } },
    ]);
    const provisioner = request.provisioners[0];
    if (provisioner?.type !== 'shell') throw new Error('expected a shell provisioner');
    const environment = provisionerEnvironment(provisioner, request.builder.name);
    expect(renderVars(environment)).toBe(
      'ALPHA="$ALPHA" EMPTY="$EMPTY" PACKER_BUILDER_TYPE="$PACKER_BUILDER_TYPE" PACKER_BUILD_NAME="$PACKER_BUILD_NAME" QUOTE="$QUOTE" ZED="$ZED"',
    );
    // The values travel in one environment variable, single-quoted for the shell inside.
    const carried = withEnvironment('run', environment);
    expect(carried.command).toBe('eval "$AMI_FACTORY_ENVIRONMENT"; unset AMI_FACTORY_ENVIRONMENT; run');
    expect(carried.env.AMI_FACTORY_ENVIRONMENT).toContain(`export QUOTE='it'"'"'s'`);
    expect(carried.env.AMI_FACTORY_ENVIRONMENT).toContain("export PACKER_BUILD_NAME='web'");
  });
});

describe('shellQuote', () => {
  it('keeps $ and backquotes for the shell inside the chroot', () => {
    expect(shellQuote('echo $HOME `id`')).toBe("'echo $HOME `id`'");
  });
});
