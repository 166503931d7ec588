/**
 * Bundling a template for the factory takes its folder and nothing else: a symlink out of
 * the folder is refused however it is reached, and a link loop inside it does not hang.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bundleTemplateFile } from '../../model/bundle.ts';
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
