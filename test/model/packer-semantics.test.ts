/** Packer's JSON template semantics the factory follows (issue 9): leniencies, decoding, functions, build data. */
import { describe, expect, it } from 'vitest';
import { renderBuildData } from '../../model/index.ts';
import { errorsOf, expectErrors, parse, template } from './support.ts';

function render(text: string, variables: Record<string, string> = {}): string {
  return parse(template({ ami_description: text }, { variables })).builder.ami_description;
}

function renderError(text: string): string {
  return errorsOf(() => parse(template({ ami_description: text })))[0]?.message ?? '';
}

describe('leniencies, as warnings', () => {
  it('an undeclared {{user}} renders "" outside variables, with a warning at the field', () => {
    const request = parse(template({ ami_description: 'a{{user `missing`}}b', tags: { t: '{{user `missing`}}' } }));
    expect(request.builder.ami_description).toBe('ab');
    expect(request.warnings).toEqual([
      { path: 'builders[0].ami_description', message: expect.stringContaining('user variable "missing" is not declared') as string },
      { path: 'builders[0].tags.t', message: expect.stringContaining('renders as ""') as string },
    ]);
  });

  it('an undeclared {{user}} inside variables is still an error, as in Packer', () => {
    expectErrors(errorsOf(() => parse(template({}, { variables: { a: '{{user `nope`}}' } }))), [
      ['variables.a', 'user variable "nope" is not declared in "variables"'],
    ]);
  });

  it('a valid template has no warnings', () => {
    expect(parse(template({})).warnings).toEqual([]);
  });
});

describe('lists of strings given a string are split on commas (Packer\'s decode hook)', () => {
  it.each([
    ['mount_options', 'commit=900,relatime', ['commit=900', 'relatime']],
    ['copy_files', '/etc/resolv.conf', ['/etc/resolv.conf']],
    ['pre_mount_commands', 'true', ['true']],
    ['ami_users', '111122223333, 444455556666', ['111122223333', '444455556666']],
  ])('%s: %s', (option, value, expected) => {
    expect((parse(template({ [option]: value })).builder as unknown as Record<string, unknown>)[option]).toEqual(expected);
  });
});

describe('template functions', () => {
  it('number literals as arguments; split, replace, replace_all, upper, lower', () => {
    expect(render('{{split "a-b-c" "-" 1}}')).toBe('b');
    expect(render('{{split (user `v`) "." 2}}', { v: 'a.b.c' })).toBe('c');
    expect(render('{{replace "-" "_" 1 "a-b-c"}}|{{replace "-" "_" -1 "a-b-c"}}')).toBe('a_b-c|a_b_c');
    expect(render('{{replace_all "-" "_" "a-b-c"}}')).toBe('a_b_c');
    expect(render('{{ "MiXed" | upper }} {{ "MiXed" | lower }}')).toBe('MIXED mixed');
  });

  it('split out of range is Packer\'s error', () => {
    expect(renderError('{{split "a-b" "-" 5}}')).toContain('the substring 5 was unavailable using the separator value, -, only 2 values were found');
  });

  it('build_name, build_type, packer_version, strftime', () => {
    const request = parse(template({ name: 'web', ami_description: '{{build_name}} {{build_type}} {{packer_version}}' }));
    expect(request.builder.ami_description).toMatch(/^web amazon-chroot \d+\.\d+\.\d+$/);
    expect(render('{{strftime "%Y-%m-%d %H:%M:%S %a %b"}}')).toBe('2024-05-06 07:08:09 Mon May');
  });

  it('clean_ami_name and sed work with a deprecation warning', () => {
    const request = parse(template({ ami_description: '{{clean_ami_name "a:b"}} {{sed "s/o+/0/g" "foo boo"}}' }));
    expect(request.builder.ami_description).toBe('a-b f0 b0');
    expect(request.warnings?.map((warning) => warning.message)).toEqual([
      expect.stringContaining('clean_ami_name is deprecated') as string,
      expect.stringContaining('sed is deprecated') as string,
    ]);
  });

  it('pwd and template_dir read the requester\'s machine, in variables only', () => {
    const json = template({ ami_description: '{{user `dir`}}' }, { variables: { dir: '{{template_dir}}|{{pwd}}' } });
    expect(parse(json, { allowEnv: true, templateDir: '/templates', cwd: '/work' }).builder.ami_description).toBe('/templates|/work');
    expect(errorsOf(() => parse(json))[0]?.message).toContain('template_dir is rendered only on the requesting machine');
    expect(renderError('{{pwd}}')).toContain('pwd can only be used in "variables" values');
  });

  it.each(['{{vault "secret/x" "k"}}', '{{consul_key "k"}}', '{{aws_secretsmanager "s"}}'])('%s is refused, naming the factory\'s secrets', (text) => {
    expect(renderError(text)).toContain('sensitive-variables');
  });
});

describe('build data', () => {
  it('is kept in ami_description and the tag options (keys too), for the submit', () => {
    const { builder } = parse(
      template({
        ami_description: 'from {{ .SourceAMIName }} {{timestamp}}',
        tags: { '{{.SourceAMIOwnerName}}': '{{ .SourceAMITags.Name | upper }}' },
        snapshot_tag: [{ key: 'src', value: '{{.SourceAMI}}' }],
        root_volume_tags: { r: '{{ .BuildRegion }}' },
      }),
    );
    expect(builder.ami_description).toBe('from {{ .SourceAMIName }} 1714979289');
    expect(builder.tags).toEqual({ '{{.SourceAMIOwnerName}}': '{{ .SourceAMITags.Name | upper }}' });
    expect(builder.snapshot_tags).toEqual({ src: '{{.SourceAMI}}' });
    expect(renderBuildData(builder.tags['{{.SourceAMIOwnerName}}'] ?? '', { 'SourceAMITags.Name': 'deb' })).toBe('DEB');
  });

  it('a value with "{{" is escaped only beside kept build data', () => {
    const options = { vars: { v: '{{x}}' } };
    const json = template({ ami_description: '{{user `v`}}', tags: { t: '{{user `v`}} {{.SourceAMI}}' } }, { variables: { v: '' } });
    const { builder } = parse(json, options);
    expect(builder.ami_description).toBe('{{x}}');
    expect(renderBuildData(builder.tags.t ?? '', { SourceAMI: 'ami-1' })).toBe('{{x}} ami-1');
  });

  it('is refused elsewhere, naming where it is available', () => {
    expect(errorsOf(() => parse(template({ ami_name: 'x-{{ .SourceAMI }}' })))[0]?.message).toContain(
      '.SourceAMI (build data) is only available in ami_description, tags',
    );
  });
});
