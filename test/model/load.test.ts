import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTemplateFile, TemplateValidationError } from '../../model/index.ts';
import { baseBuilder, errorsOf, errorsOfAsync, expectErrors, NOW, parse, scratchDir } from './support.ts';

describe('template files', () => {
  it('loads a template and resolves paths against its directory, not the working directory', async () => {
    const dir = scratchDir();
    writeFileSync(join(dir, 'setup.sh'), 'true\n');
    const path = join(dir, 'template.json');
    writeFileSync(
      path,
      JSON.stringify({
        description: 'test image',
        min_packer_version: '1.9.0',
        _comment: 'ignored, as in Packer',
        variables: { suffix: 'x' },
        builders: [{ ...baseBuilder, ami_name: 'img-{{user `suffix`}}' }],
        provisioners: [{ type: 'shell', script: 'setup.sh' }],
      }),
    );
    const request = await loadTemplateFile(path, { now: NOW, vars: { suffix: 'y' } });
    expect(request.builder.ami_name).toBe('img-y');
    expect(request.provisioners[0]).toMatchObject({ type: 'shell', scripts: [join(dir, 'setup.sh')] });
  });

  it('reports where a file stops being JSON', async () => {
    const path = join(scratchDir(), 'broken.json');
    writeFileSync(path, '{\n  "builders": [\n    {"type": "amazon-chroot",}\n  ]\n}\n');
    const [error] = await errorsOfAsync(() => loadTemplateFile(path));
    expect(error?.path).toBe('');
    expect(error?.message).toContain('is not valid JSON');
    expect(error?.message).toMatch(/line 3 column \d+/);
  });

  it('reports a file it cannot read', async () => {
    const [error] = await errorsOfAsync(() => loadTemplateFile(join(scratchDir(), 'missing.json')));
    expect(error?.message).toContain('cannot read template');
  });
});

describe('template structure', () => {
  it('accepts a lone builder object, with paths relative to it', () => {
    expect(parse({ ...baseBuilder }).provisioners).toEqual([]);
    expectErrors(errorsOf(() => parse({ ...baseBuilder, chroot_mounts: [['proc', 'proc', '/proc'], ['a', 'b', '/c'], ['x']] })), [
      ['chroot_mounts[2]', 'must be 3 strings'],
    ]);
  });

  it('refuses post-processors and unknown keys', () => {
    expectErrors(errorsOf(() => parse({ builders: [baseBuilder], 'post-processors': [{ type: 'manifest' }], provisioner: [] })), [
      ['post-processors', 'post-processors are not supported'],
      ['provisioner', 'unknown configuration key "provisioner"; did you mean "provisioners"?'],
    ]);
  });

  it('needs exactly one amazon-chroot builder', () => {
    expectErrors(errorsOf(() => parse({ provisioners: [] })), [['builders', 'builders is required']]);
    expectErrors(errorsOf(() => parse({ builders: { type: 'amazon-chroot' } })), [['builders', 'must be a list of builders']]);
    expectErrors(errorsOf(() => parse({ builders: [baseBuilder, { type: 'amazon-ebs' }] })), [
      ['builders', 'exactly one builder (of type "amazon-chroot") is supported, got 2'],
      ['builders[1].type', 'builder type "amazon-ebs" is not supported: only "amazon-chroot"'],
    ]);
    expectErrors(errorsOf(() => parse({ builders: [] })), [['builders', 'got 0']]);
    expectErrors(errorsOf(() => parse([baseBuilder])), [['', 'a template must be a JSON object']]);
  });

  it('reports every error of every section at once, sorted by path', () => {
    const errors = errorsOf(() =>
      parse({
        variables: { need: null },
        builders: [{ ...baseBuilder, ami_name: '{{user `need`}}x', kms_key_id: 'alias/k', chroot_mounts: [[], [], [], [], [], [], [], [], [], [], ['a']] }],
        provisioners: [{ type: 'puppet' }, { type: 'shell' }],
      }),
    );
    expect(errors.map((error) => error.path)).toEqual([
      'builders[0].ami_name',
      'builders[0].chroot_mounts[0]',
      'builders[0].chroot_mounts[1]',
      'builders[0].chroot_mounts[2]',
      'builders[0].chroot_mounts[3]',
      'builders[0].chroot_mounts[4]',
      'builders[0].chroot_mounts[5]',
      'builders[0].chroot_mounts[6]',
      'builders[0].chroot_mounts[7]',
      'builders[0].chroot_mounts[8]',
      'builders[0].chroot_mounts[9]',
      'builders[0].chroot_mounts[10]',
      'builders[0].kms_key_id',
      'provisioners[0].type',
      'provisioners[1]',
      'variables.need',
    ]);
  });

  it('lists the errors one per line in the error message', () => {
    try {
      parse({ builders: [{ ...baseBuilder, ami_name: undefined, sriov_support: 'maybe' }] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateValidationError);
      expect((error as Error).message).toBe(
        'builders[0].ami_name: ami_name must be specified\nbuilders[0].sriov_support: must be true or false',
      );
    }
  });
});
