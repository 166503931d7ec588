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

  it('takes the manifest post-processor, and refuses the others and unknown keys', () => {
    const request = parse({
      variables: { team: 'web' },
      builders: [{ ...baseBuilder, name: 'a' }, { type: 'docker', name: 'd' }],
      'post-processors': [
        'manifest',
        [{ type: 'manifest', output: 'ignored.json', strip_path: true, strip_time: true, custom_data: { team: '{{user `team`}}', n: 1 } }],
        { type: 'manifest', only: ['d'] },
      ],
    });
    expect(request.post_processors).toEqual([
      { type: 'manifest', path: 'post-processors[0]', custom_data: null, strip_time: false },
      { type: 'manifest', path: 'post-processors[1][0]', custom_data: { team: 'web', n: '1' }, strip_time: true },
    ]);
    expect(parse({ builders: [baseBuilder] }).post_processors).toBeUndefined();
    expectErrors(
      errorsOf(() => parse({
        builders: [baseBuilder],
        'post-processors': [{ type: 'shell-local', inline: ['x'] }, ['compress'], { type: 'manifest', outptu: 'x', only: ['nope'] }, 3],
        provisioner: [],
      })),
      [
        ['post-processors[0].type', 'post-processor "shell-local" is not supported: it runs on the machine that ran Packer'],
        ['post-processors[1][0].type', 'post-processor "compress" is not supported'],
        ['post-processors[2].only[0]', 'no build is named "nope"'],
        ['post-processors[2].outptu', 'unknown configuration key "outptu"; did you mean "output"?'],
        ['post-processors[3]', 'a post-processor must be a type name'],
        ['provisioner', 'unknown configuration key "provisioner"; did you mean "provisioners"?'],
      ],
    );
  });

  it('needs an amazon-chroot builder, and one chosen when there are several', () => {
    expectErrors(errorsOf(() => parse({ provisioners: [] })), [['builders', 'builders is required']]);
    expectErrors(errorsOf(() => parse({ builders: { type: 'amazon-chroot' } })), [['builders', 'must be a list of builders']]);
    expectErrors(errorsOf(() => parse({ builders: [] })), [['builders', 'no "amazon-chroot" builder']]);
    expectErrors(errorsOf(() => parse({ builders: [{ type: 'docker' }] })), [['builders', 'no "amazon-chroot" builder']]);
    expectErrors(errorsOf(() => parse({ builders: [baseBuilder, { ...baseBuilder, name: 'b' }] })), [
      ['builders', '2 "amazon-chroot" builders ("amazon-chroot", "b" (amazon-chroot)): the factory builds one image per request; choose one with --only NAME'],
    ]);
    expectErrors(errorsOf(() => parse({ builders: [baseBuilder, { ...baseBuilder }, {}] })), [
      ['builders', '2 "amazon-chroot" builders'],
      ['builders[1]', 'build name "amazon-chroot" is also builders[0]\'s'],
      ['builders[2].type', 'type is required'],
    ]);
    expectErrors(errorsOf(() => parse([baseBuilder])), [['', 'a template must be a JSON object']]);
  });

  it('ignores builders of other types unless chosen', () => {
    const template = { builders: [{ type: 'amazon-ebs', name: 'ebs', anything: 1 }, { ...baseBuilder, name: 'chroot' }] };
    expect(parse(template)).toMatchObject({ builder: { name: 'chroot' }, builder_path: 'builders[1]' });
    expectErrors(errorsOf(() => parse(template, { only: ['ebs'] })), [
      ['builders[0].type', 'builder type "amazon-ebs" is not supported (chosen by --only "ebs"): the factory runs only "amazon-chroot" builders'],
    ]);
    expectErrors(errorsOf(() => parse(template, { only: ['ebs', 'chroot'] })), [['builders[0].type', 'chosen by --only "ebs"']]);
  });

  it('chooses a builder by name or type with --only and --except', () => {
    const template = {
      builders: [{ ...baseBuilder, name: 'a', ami_name: 'img-a' }, { ...baseBuilder, name: 'b', ami_name: 'img-b' }, { type: 'docker' }],
      provisioners: [
        { type: 'shell', inline: ['on a'], only: ['a'] },
        { type: 'shell', inline: ['not on a'], except: ['a'], override: { b: { inline: ['on b'] }, a: { inline: ['never'] } } },
      ],
    };
    const a = parse(template, { only: ['a'] });
    expect(a).toMatchObject({ builder: { name: 'a', ami_name: 'img-a' }, builder_path: 'builders[0]' });
    expect(a.provisioners.map((p) => p.type === 'shell' && p.inline)).toEqual([['on a']]);
    const b = parse(template, { except: ['a'] });
    expect(b).toMatchObject({ builder: { name: 'b' }, builder_path: 'builders[1]' });
    expect(b.provisioners.map((p) => p.type === 'shell' && p.inline)).toEqual([['on b']]);
    expectErrors(errorsOf(() => parse(template, { only: ['amazon-chroot'] })), [['builders', '2 "amazon-chroot" builders left by --only/--except']]);
    expectErrors(errorsOf(() => parse(template, { only: ['c'], except: ['z'] })), [
      ['--except', 'no builder is named or of type "z"; this template\'s builds: "a" (amazon-chroot), "b" (amazon-chroot), "docker"'],
      ['--only', 'no builder is named or of type "c"'],
    ]);
    expectErrors(errorsOf(() => parse({ ...template, provisioners: [{ type: 'shell', inline: ['x'], only: ['c'] }] }, { only: ['a'] })), [
      ['provisioners[0].only[0]', 'no build is named "c" (this template\'s builds: "a", "b", "docker")'],
    ]);
    expectErrors(errorsOf(() => parse({ ...baseBuilder }, { except: ['amazon-chroot'] })), [['builders', 'no "amazon-chroot" builder left']]);
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
