/**
 * ansible-local and shell-local in real chroot builds. Ansible is installed in a Debian
 * image from Debian's mirror by a shell provisioner first (ansible-core: about 20 s on the
 * test machines, measured), then a playbook with a role, group vars and inventory groups runs
 * with the image's own ansible-playbook. An image without Ansible fails naming the
 * provisioner and what to do. shell-local runs on the host beside the chroot, only when
 * host commands are granted.
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import { HostCommandsNotGrantedError } from '../../../worker/chroot/host-command-grants.ts';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import { makeBusyboxImage, makeDebianImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

describeIfRoot('ansible-local and shell-local', () => {
  it("runs a playbook with the image's own Ansible: roles, group vars, inventory groups, extra arguments", async () => {
    const host = await privateHost('ansible');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-ansible-'));
    const image = await makeDebianImage(dir);
    await mkdir(join(dir, 'roles', 'motd', 'tasks'), { recursive: true });
    await writeFile(join(dir, 'roles', 'motd', 'tasks', 'main.yml'), [
      '- name: write the motd',
      '  ansible.builtin.copy:',
      '    dest: /etc/motd',
      '    content: "{{ greeting }} from {{ packer_build_name }} ({{ group_names | join(\',\') }}, {{ flavour }})\\n"',
      '',
    ].join('\n'));
    await mkdir(join(dir, 'group_vars'));
    await writeFile(join(dir, 'group_vars', 'web.yml'), 'greeting: hello\n');
    await writeFile(join(dir, 'site.yml'), '- hosts: web\n  gather_facts: false\n  roles: [motd]\n');
    const request = await requestFrom(dir, [
      {
        type: 'shell',
        environment_vars: ['DEBIAN_FRONTEND=noninteractive'],
        inline: ['apt-get update -q', 'apt-get install -y -q --no-install-recommends ansible-core'],
      },
      {
        type: 'ansible-local',
        playbook_file: 'site.yml',
        role_paths: ['roles/motd'],
        group_vars: 'group_vars',
        inventory_groups: 'web,app',
        extra_arguments: ['--extra-vars', '"flavour=debian"'],
        staging_directory: '/var/tmp/ansible-staging',
        clean_staging_directory: true,
      },
    ]);
    const lines: string[] = [];
    await runChrootBuild({ request, host, sink: (line) => lines.push(line), source: { kind: 'image', imagePath: image } });
    expect(lines.join('\n')).toContain('--connection=local');
    await expectHostClean(host, [image]);
    await withImageMounted(image, async (root) => {
      expect(await readFile(join(root, 'etc/motd'), 'utf8')).toBe('hello from amazon-chroot (app,web, debian)\n');
      await expect(access(join(root, 'var/tmp/ansible-staging'))).rejects.toThrow();
    });
  }, 600_000);

  it('names the provisioner and says to install Ansible first when the image has none', async () => {
    const host = await privateHost('no-ansible');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-no-ansible-'));
    const image = await makeBusyboxImage(dir);
    await writeFile(join(dir, 'site.yml'), '- hosts: all\n  tasks: []\n');
    const request = await requestFrom(dir, [{ type: 'ansible-local', playbook_file: 'site.yml' }]);
    const build = runChrootBuild({ request, host, sink: () => undefined, source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/provisioners\[0\] \(ansible-local\) could not run ansible-playbook in the image.*install Ansible first, with a shell provisioner before this one/);
    await expectHostClean(host, [image]);
  }, 120_000);

  it("runs shell-local on the host beside the chroot with Packer's variables, only when granted", async () => {
    const host = await privateHost('shell-local');
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-shell-local-'));
    const image = await makeBusyboxImage(dir);
    const request = await requestFrom(dir, [
      {
        type: 'shell-local',
        environment_vars: ['GREETING=hi there'],
        inline: [
          'echo "$GREETING $PACKER_BUILD_NAME $PACKER_BUILDER_TYPE" > "$PACKER_CHROOT_MOUNT_PATH/etc/from-host"',
          // The host's own files are read-only here: the write fails and does not stop the script.
          'touch /usr/shell-local-was-here 2>/dev/null || echo "host read-only" >> "$PACKER_CHROOT_MOUNT_PATH/etc/from-host"',
        ],
      },
    ], { name: 'web' });
    const refused = runChrootBuild({ request, host, sink: () => undefined, source: { kind: 'image', imagePath: image } });
    await expect(refused).rejects.toThrow(HostCommandsNotGrantedError);
    await expect(refused).rejects.toThrow(/provisioners\[0\] \(shell-local\)/);
    await runChrootBuild({ request, host, grants: { hostCommands: true }, sink: () => undefined, source: { kind: 'image', imagePath: image } });
    await expectHostClean(host, [image]);
    await access('/usr/shell-local-was-here').then(() => { throw new Error('shell-local wrote into the host'); }, () => undefined);
    await withImageMounted(image, async (root) => {
      expect(await readFile(join(root, 'etc/from-host'), 'utf8')).toBe('hi there web amazon-chroot\nhost read-only\n');
    });
  }, 120_000);
});
