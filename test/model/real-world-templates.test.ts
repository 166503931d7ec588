/**
 * Templates shaped like the public ones Packer users run (written for this project, not
 * copied): a bakery's template that leans on Packer's leniencies, and a hardening template
 * with two builders, ansible-local and a manifest. Both validate unchanged, with Packer's
 * warnings where Packer would be lenient, and become the request the factory plans from.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplateFile } from '../../model/index.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'packer');
const NOW = new Date('2024-05-06T07:08:09Z');

describe('a bakery-style template (variables filled by the bakery, build data in tags)', () => {
  const load = (vars: Record<string, string>) => loadTemplateFile(join(FIXTURES, 'rosco-style', 'template.json'), { vars, now: NOW });

  it('validates with the bakery\'s -var flags, an undeclared one and an undeclared {{user}} as warnings', async () => {
    const request = await load({ source_ami: 'ami-0123456789abcdef0', ami_name: 'bakery-web-1.2.3', appversion: 'web-1.2.3', bakery_extra: 'x' });
    expect(request.builder).toMatchObject({
      ami_name: 'bakery-web-1.2.3',
      source_ami: 'ami-0123456789abcdef0',
      // Packer's decode hook: a string for a list of strings is split on commas.
      mount_options: ['noatime', 'nodiratime'],
      copy_files: ['/etc/resolv.conf'],
    });
    expect(request.builder.tags).toMatchObject({ appversion: 'web-1.2.3', build_host: '', build_info_url: '' });
    // Build template data waits for the submit, which knows the source image.
    expect(request.builder.tags.base_ami_name).toContain('SourceAMIName');
    expect(request.warnings?.map((warning) => warning.path).sort()).toEqual(['builders[0].tags.build_info_url', 'variables.bakery_extra']);
    expect(request.provisioners).toHaveLength(1);
    expect(request.provisioners[0]).toMatchObject({ type: 'shell' });
  });

  it('still names what it cannot do without: a source image', async () => {
    await expect(load({ ami_name: 'bakery-web' })).rejects.toThrow(/source_ami/);
  });
});

describe('a hardening-style template (two builders, ansible-local, a manifest)', () => {
  const path = join(FIXTURES, 'hardened-centos-style', 'template.json');

  it('builds the amazon-chroot builder, with the provisioners meant for it and the manifest', async () => {
    for (const only of [undefined, ['hardened']]) {
      const request = await loadTemplateFile(path, { now: NOW, ...(only === undefined ? {} : { only }) });
      expect(request.builder.ami_name).toMatch(/^hardened-base-2024\.05\.06-\d+$/);
      expect(request.provisioners.map((provisioner) => provisioner.type)).toEqual(['shell', 'ansible-local', 'shell']);
      expect(request.provisioners[1]).toMatchObject({
        playbook_files: [expect.stringMatching(/ansible\/site\.yml$/) as string],
        inventory_groups: ['base', 'hardened'],
        extra_arguments: ['--tags', 'all'],
      });
      expect(request.post_processors).toEqual([expect.objectContaining({ type: 'manifest', custom_data: { image_version: '2024.05.06' } })]);
    }
  });

  it('refuses the other builder when it is the one chosen, naming its type', async () => {
    await expect(loadTemplateFile(path, { now: NOW, only: ['fallback-ebs'] })).rejects.toThrow(/amazon-ebs/);
  });
});
