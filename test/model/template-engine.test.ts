import { describe, expect, it } from 'vitest';
import { renderHostTemplate, TemplateError } from '../../model/index.ts';
import { cleanResourceName } from '../../model/template/clean-resource-name.ts';
import { formatGoTime } from '../../model/template/go-time-layout.ts';
import { errorsOf, expectErrors, NOW, NOW_SECONDS, parse, template } from './support.ts';

/** Renders `text` as the value of `ami_description`, a plain (non-host) option. */
function render(text: string, variables: Record<string, string | null> = {}): string {
  return parse(template({ ami_description: text }, { variables })).builder.ami_description;
}

function renderError(text: string): string {
  const [error] = errorsOf(() => parse(template({ ami_description: text })));
  expect(error?.path).toBe('builders[0].ami_description');
  return error?.message ?? '';
}

describe('template functions', () => {
  it('timestamp is the build instant in unix seconds, the same everywhere', () => {
    const request = parse(template({ ami_name: 'a-{{timestamp}}', ami_description: '{{timestamp}}', tags: { t: '{{ timestamp }}' } }));
    expect(request.builder.ami_name).toBe(`a-${NOW_SECONDS}`);
    expect(request.builder.ami_description).toBe(NOW_SECONDS);
    expect(request.builder.tags.t).toBe(NOW_SECONDS);
  });

  it('isotime defaults to RFC 3339 in UTC and takes Go layouts', () => {
    expect(render('{{isotime}}')).toBe('2024-05-06T07:08:09Z');
    expect(render('{{isotime "2006-01-02"}}')).toBe('2024-05-06');
    expect(render('{{isotime `20060102-1504`}}')).toBe('20240506-0708');
  });

  it('uuid gives a new v4 uuid per call', () => {
    const [a, b] = render('{{uuid}} {{uuid}}').split(' ');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('clean_resource_name as a call, a pipeline and on a nested pipeline', () => {
    expect(render('{{clean_resource_name "a:b*c~d"}}')).toBe('a-b-c-d');
    expect(render('{{isotime | clean_resource_name}}')).toBe('2024-05-06T07-08-09Z');
    expect(render('{{timestamp | clean_resource_name}}')).toBe(NOW_SECONDS);
    expect(render('{{clean_resource_name (isotime "15:04")}}')).toBe('07-08');
    expect(render('{{ user `v` | clean_resource_name }}', { v: 'x,y' })).toBe('x-y');
  });

  it('clean_resource_name replaces each UTF-8 byte, as Packer does', () => {
    expect(cleanResourceName('é!')).toBe('---');
    expect(cleanResourceName("ok (1) [2] a.b/c-d'e@f_g")).toBe("ok (1) [2] a.b/c-d'e@f_g");
  });

  it('user reads variables; string literals are Go strings', () => {
    expect(render('{{user `region`}}-{{ user "region" }}', { region: 'eu-west-1' })).toBe('eu-west-1-eu-west-1');
    expect(render('{{"a\\tb\\u00e9\\x41"}}')).toBe('a\tbéA');
    expect(render('{{`raw \\n`}}')).toBe('raw \\n');
  });

  it('trim markers and comments', () => {
    expect(render('a  {{- "b" -}}  c')).toBe('abc');
    expect(render('a{{/* note */}}b{{- /* x */ -}} c')).toBe('abc');
    expect(render('text with }} only')).toBe('text with }} only');
  });
});

describe('template errors', () => {
  it.each([
    ['{{nope}}', 'function "nope" is not defined'],
    ['{{timestamp', 'unterminated "{{" opened at character 1'],
    ['x {{isotime "a" "b"}}', 'wrong number of arguments for isotime'],
    ['{{user}}', 'wrong number of arguments for user'],
    ['{{if 1}}x{{end}}', '"if" is not supported'],
    ['{{$x}}', 'template variables ($...) are not supported'],
    ['{{"a" "b"}}', 'only a function can take arguments'],
    ['{{"unterminated}}', 'unterminated string'],
    ['{{}}', 'missing value'],
    ['{{(uuid}}', 'unclosed "("'],
    ['{{.}}', '"." on its own is not supported'],
  ])('%s', (text, message) => {
    expect(renderError(text)).toContain(message);
  });
});

describe('dot fields', () => {
  it('are kept for the host in the options that receive them, everything else rendered', () => {
    const { builder, provisioners } = parse(
      template(
        {
          mount_path: '/mnt/{{user `dir`}}/{{ .Device }}',
          pre_mount_commands: ['mkfs.ext4 {{.Device}}1 # {{timestamp}}'],
          post_mount_commands: ['echo {{.Device}} {{.MountPath}}'],
          command_wrapper: 'sudo -E {{.Command}}',
        },
        {
          variables: { dir: 'chroots' },
          provisioners: [{ type: 'shell', inline: ['true'], execute_command: "sudo sh -c '{{ .Vars }} {{.Path}}' {{user `dir`}}" }],
        },
      ),
    );
    expect(builder.mount_path).toBe('/mnt/chroots/{{ .Device }}');
    expect(builder.pre_mount_commands).toEqual([`mkfs.ext4 {{.Device}}1 # ${NOW_SECONDS}`]);
    expect(builder.post_mount_commands).toEqual(['echo {{.Device}} {{.MountPath}}']);
    expect(builder.command_wrapper).toBe('sudo -E {{.Command}}');
    expect(provisioners[0]).toMatchObject({ execute_command: "sudo sh -c '{{ .Vars }} {{.Path}}' chroots" });
  });

  it('keeps host-side pipelines and escapes "{{" produced at load time', () => {
    const { builder } = parse(
      template({ mount_path: '/mnt/{{.Device | clean_resource_name}}', pre_mount_commands: ['echo {{user `v`}} {{.Device}}'] }, { variables: { v: '' } }),
      { vars: { v: '{{.Device}}' } },
    );
    expect(builder.mount_path).toBe('/mnt/{{.Device | clean_resource_name}}');
    expect(renderHostTemplate(builder.mount_path, { Device: 'xvdf:1' })).toBe('/mnt/xvdf-1');
    // The variable's value is text, not a template: the host must print it as is.
    expect(renderHostTemplate(builder.pre_mount_commands[0] ?? '', { Device: '/dev/xvdf' })).toBe('echo {{.Device}} /dev/xvdf');
  });

  it('are errors elsewhere, with the option path', () => {
    const errors = errorsOf(() =>
      parse(
        template(
          { ami_name: 'x-{{.Device}}', mount_path: '/mnt/{{.MountPath}}', command_wrapper: '{{.Device}} {{.Command}}', tags: { a: '{{.Nope}}' } },
          { provisioners: [{ type: 'shell', inline: ['echo {{.Path}}'], execute_command: '{{.Command}}' }] },
        ),
      ),
    );
    expectErrors(errors, [
      ['builders[0].ami_name', '.Device is only available in pre_mount_commands, post_mount_commands, mount_path; this option takes no dot fields'],
      ['builders[0].command_wrapper', 'here only .Command is available'],
      ['builders[0].mount_path', '.MountPath is only available in post_mount_commands; here only .Device is available'],
      ['builders[0].tags.a', 'unknown field .Nope'],
      ['provisioners[0].execute_command', 'here only .Vars and .Path are available'],
      ['provisioners[0].inline[0]', '.Path is only available in shell provisioner execute_command'],
    ]);
  });

  it('cannot share an action with a load-time function', () => {
    expect(errorsOf(() => parse(template({ mount_path: '/mnt/{{clean_resource_name .Device | user}}' })))[0]?.message).toContain(
      'user cannot share an action with a field that is filled in on the build host',
    );
  });
});

describe('renderHostTemplate', () => {
  it('fills dot fields', () => {
    expect(renderHostTemplate('chmod +x {{.Path}}; {{.Vars}} {{ .Path }}', { Path: '/tmp/s.sh', Vars: "A='1'" })).toBe(
      "chmod +x /tmp/s.sh; A='1' /tmp/s.sh",
    );
    expect(renderHostTemplate('{{"{{"}}.Device}}', { Device: 'x' })).toBe('{{.Device}}');
  });

  it('throws TemplateError for missing fields and load-time functions', () => {
    expect(() => renderHostTemplate('{{.Device}}', { Command: 'x' })).toThrow(TemplateError);
    expect(() => renderHostTemplate('{{.Device}}', { Command: 'x' })).toThrow('{{.Device}} has no value here (given: {{.Command}})');
    expect(() => renderHostTemplate('{{timestamp}}', {})).toThrow('function "timestamp" is not defined');
  });
});

describe('Go time layouts', () => {
  const date = new Date('2024-03-09T15:04:05.120Z');
  it.each([
    ['2006-01-02T15:04:05Z07:00', '2024-03-09T15:04:05Z'],
    ['Mon Jan _2 15:04:05 MST 2006', 'Sat Mar  9 15:04:05 UTC 2024'],
    ['Monday, January 2, 2006 3:04PM', 'Saturday, March 9, 2024 3:04PM'],
    ['02/01/06 03:04:05 pm', '09/03/24 03:04:05 pm'],
    ['2006-01-02 15:04:05.000 -0700', '2024-03-09 15:04:05.120 +0000'],
    ['15:04:05.999999 -07:00', '15:04:05.12 +00:00'],
    ['15:04:05,000000', '15:04:05,120000'],
    ['2006 002 __2', '2024 069  69'],
    ['_2006', '_2024'],
    ['Janet', 'Janet'],
    ['20060102150405', '20240309150405'],
  ])('%s', (layout, expected) => {
    expect(formatGoTime(date, layout)).toBe(expected);
  });

  it('isotime uses the build instant', () => {
    expect(formatGoTime(NOW, '2006-01-02T15:04:05.000Z07:00')).toBe('2024-05-06T07:08:09.120Z');
  });
});
