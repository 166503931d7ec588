/**
 * Bundling a template for the factory takes its folder and nothing else: a symlink out of
 * the folder is refused however it is reached, and a link loop inside it does not hang.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleTemplateFile, loadBundle } from '../../model/bundle.ts';
import { baseBuilder } from '../support/templates.ts';

let dir: string;
let outside: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bundle-template-'));
  outside = await mkdtemp(join(tmpdir(), 'bundle-outside-'));
  await writeFile(join(outside, 'secret'), 'not for the factory\n');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

async function templateWith(provisioners: unknown[]): Promise<string> {
  const path = join(dir, 'template.json');
  await writeFile(path, JSON.stringify({ builders: [baseBuilder], provisioners }));
  return path;
}

describe('bundleTemplateFile', () => {
  it("bundles ansible-local's playbooks and folders, and shell-local's scripts", async () => {
    await mkdir(join(dir, 'ansible', 'roles', 'web', 'tasks'), { recursive: true });
    await writeFile(join(dir, 'ansible', 'roles', 'web', 'tasks', 'main.yml'), '[]\n');
    await writeFile(join(dir, 'ansible', 'site.yml'), '- hosts: all\n');
    await writeFile(join(dir, 'requirements.yml'), '[]\n');
    await writeFile(join(dir, 'local.sh'), 'echo local\n');
    const bundle = await bundleTemplateFile(
      await templateWith([
        { type: 'ansible-local', playbook_file: 'ansible/site.yml', role_paths: ['ansible/roles/web'], galaxy_file: 'requirements.yml' },
        { type: 'shell-local', script: 'local.sh' },
      ]),
    );
    expect(Object.keys(bundle.files).sort()).toEqual(['ansible/roles/web/tasks/main.yml', 'ansible/site.yml', 'local.sh', 'requirements.yml']);
  });

  it('carries the build chosen by --only or --except to the factory, which builds the same one', async () => {
    const path = join(dir, 'template.json');
    await writeFile(path, JSON.stringify({
      builders: [{ ...baseBuilder, name: 'first' }, { ...baseBuilder, name: 'second', ami_name: 'second-{{timestamp}}' }, { type: 'docker' }],
    }));
    const bundle = await bundleTemplateFile(path, { except: ['first'] });
    expect(bundle.build).toBe('second');
    const request = await loadBundle(bundle, await mkdtemp(join(tmpdir(), 'bundle-load-')));
    expect(request).toMatchObject({ builder: { name: 'second' }, builder_path: 'builders[1]' });
    // Without a choice the bundle is as it always was: one builder, no `build`.
    expect('build' in (await bundleTemplateFile(await templateWith([])))).toBe(false);
  });

  it('bundles the files inside the template folder, folders walked', async () => {
    await mkdir(join(dir, 'files', 'etc'), { recursive: true });
    await writeFile(join(dir, 'files', 'etc', 'motd'), 'hello\n');
    await writeFile(join(dir, 'setup.sh'), 'echo hi\n');
    const bundle = await bundleTemplateFile(
      await templateWith([
        { type: 'shell', script: 'setup.sh' },
        { type: 'file', source: 'files', destination: '/' },
      ]),
    );
    expect(Object.keys(bundle.files).sort()).toEqual(['files/etc/motd', 'setup.sh']);
  });

  it('refuses a link to a folder outside, and a link to a file outside inside a bundled folder', async () => {
    await symlink(outside, join(dir, 'outside-link'));
    await expect(bundleTemplateFile(await templateWith([{ type: 'file', source: 'outside-link', destination: '/tmp/x' }]))).rejects.toThrow(
      /provisioners\[0\]: .*outside-link \(a link to .*\) is outside the template's folder/,
    );
    await mkdir(join(dir, 'files'));
    await symlink(join(outside, 'secret'), join(dir, 'files', 'secret'));
    await expect(bundleTemplateFile(await templateWith([{ type: 'file', source: 'files', destination: '/tmp/x' }]))).rejects.toThrow(
      /secret \(a link to .*\) is outside the template's folder/,
    );
  });

  it('walks a folder reached twice through a link loop once', async () => {
    await mkdir(join(dir, 'files'));
    await writeFile(join(dir, 'files', 'a'), 'a\n');
    await symlink('..', join(dir, 'files', 'up'));
    const bundle = await bundleTemplateFile(await templateWith([{ type: 'file', source: 'files', destination: '/tmp/x' }]));
    expect(bundle.files).toHaveProperty(['files/a']);
  });
});
