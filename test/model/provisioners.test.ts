import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorsOf, expectErrors, parse, scratchDir, template } from './support.ts';

let dir = '';

beforeAll(() => {
  dir = scratchDir();
  writeFileSync(join(dir, 'setup.sh'), 'echo setup\n');
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'a.sh'), 'echo a\n');
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'files', 'motd'), 'hello\n');
});

function provisioners(list: unknown[], builder: Record<string, unknown> = {}) {
  return parse(template(builder, { provisioners: list }), { templateDir: dir }).provisioners;
}

function provisionerErrors(list: unknown[], builder: Record<string, unknown> = {}) {
  return errorsOf(() => provisioners(list, builder));
}

describe('shell provisioner', () => {
  it('applies Packer defaults', () => {
    expect(provisioners([{ type: 'shell', inline: ['echo hi'] }])).toEqual([
      {
        type: 'shell',
        index: 0,
        inline: ['echo hi'],
        scripts: [],
        environment_vars: [],
        env: {},
        execute_command: 'chmod +x {{.Path}}; {{.Vars}} {{.Path}}',
        inline_shebang: '/bin/sh -e',
        remote_folder: '/tmp',
        remote_file: undefined,
        skip_clean: false,
        valid_exit_codes: [0],
        pause_before_ms: 0,
        timeout_ms: undefined,
        max_retries: 0,
      },
    ]);
  });

  it('resolves scripts against the template directory', () => {
    const [one, many] = provisioners([
      { type: 'shell', script: 'setup.sh' },
      { type: 'shell', scripts: ['./scripts/a.sh', join(dir, 'setup.sh')] },
    ]);
    expect(one).toMatchObject({ scripts: [join(dir, 'setup.sh')], inline: undefined });
    expect(many).toMatchObject({ scripts: [join(dir, 'scripts', 'a.sh'), join(dir, 'setup.sh')] });
  });

  it('takes every option', () => {
    const [shell] = provisioners([
      {
        type: 'shell',
        inline: ['apt-get update'],
        environment_vars: ['DEBIAN_FRONTEND=noninteractive', 'EMPTY=', 'X=a=b'],
        env: { LANG: 'C.UTF-8', N: 3 },
        execute_command: 'sudo -E sh -c "{{.Vars}} {{.Path}}"',
        inline_shebang: '/bin/bash -ex',
        remote_path: '/var/tmp/provision.sh',
        skip_clean: true,
        valid_exit_codes: [0, 100],
        pause_before: '1m30s',
        timeout: '5m',
        max_retries: '2',
        binary: true,
        start_retry_timeout: '10m',
        expect_disconnect: false,
      },
    ]);
    expect(shell).toMatchObject({
      environment_vars: ['DEBIAN_FRONTEND=noninteractive', 'EMPTY=', 'X=a=b'],
      env: { LANG: 'C.UTF-8', N: '3' },
      execute_command: 'sudo -E sh -c "{{.Vars}} {{.Path}}"',
      inline_shebang: '/bin/bash -ex',
      remote_folder: '/var/tmp',
      remote_file: 'provision.sh',
      skip_clean: true,
      valid_exit_codes: [0, 100],
      pause_before_ms: 90_000,
      timeout_ms: 300_000,
      max_retries: 2,
    });
  });
});

describe('file provisioner', () => {
  it('uploads files, directories (a trailing "/" kept) and content', () => {
    expect(
      provisioners([
        { type: 'file', source: 'files/motd', destination: '/etc/motd' },
        { type: 'file', sources: ['files/', 'files'], source: 'setup.sh', destination: '/opt/', direction: 'upload', generated: false },
        { type: 'file', content: 'year={{isotime `2006`}}\n', destination: '/etc/x.conf' },
      ]),
    ).toEqual([
      { type: 'file', index: 0, sources: [join(dir, 'files', 'motd')], content: undefined, destination: '/etc/motd' },
      { type: 'file', index: 1, sources: [`${join(dir, 'files')}/`, join(dir, 'files'), join(dir, 'setup.sh')], content: undefined, destination: '/opt/' },
      { type: 'file', index: 2, sources: [], content: 'year=2024\n', destination: '/etc/x.conf' },
    ]);
  });
});

describe('only, except and override', () => {
  it('keeps template indices and applies the override for this build', () => {
    const list = provisioners(
      [
        { type: 'shell', inline: ['skipped'], except: ['debian'] },
        { type: 'shell', inline: ['kept'], only: ['debian'], override: { debian: { inline: ['overridden'], pause_before: '2s' } } },
      ],
      { name: 'debian' },
    );
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ index: 1, inline: ['overridden'], pause_before_ms: 2000 });
  });

  it('names the override in error paths and refuses unknown builds', () => {
    expectErrors(
      provisionerErrors([
        { type: 'shell', inline: ['x'], override: { 'amazon-chroot': { inlin: ['y'] }, 'amazon-ebs': {} }, only: ['amazon-ebs'] },
      ]),
      [
        ['provisioners[0].only[0]', 'no build is named "amazon-ebs" (this template\'s build is "amazon-chroot")'],
        ['provisioners[0].override.amazon-chroot.inlin', 'unknown configuration key "inlin"; did you mean "inline"?'],
        ['provisioners[0].override.amazon-ebs', 'no build is named "amazon-ebs"'],
      ],
    );
  });
});

interface BadCase {
  name: string;
  provisioner: unknown;
  errors: [string, string][];
}

const BAD: BadCase[] = [
  { name: 'not an object', provisioner: 'shell', errors: [['', 'a provisioner must be a JSON object']] },
  { name: 'no type', provisioner: { inline: ['x'] }, errors: [['.type', 'type is required (one of shell, file, ansible-local, shell-local)']] },
  { name: 'unsupported type', provisioner: { type: 'ansible', playbook_file: 'x.yml' }, errors: [['.type', 'provisioner type "ansible" is not supported (it connects over SSH or WinRM from the requesting machine, and a chroot build has no connection: use "ansible-local", which runs the image\'s own Ansible in the chroot); supported types: shell, file, ansible-local, shell-local']] },
  { name: 'shell without commands', provisioner: { type: 'shell', inline: [] }, errors: [['', 'one of inline, script or scripts is required']] },
  {
    name: 'shell with inline, script and scripts',
    provisioner: { type: 'shell', inline: ['x'], script: 'setup.sh', scripts: ['setup.sh'] },
    errors: [['.script', 'conflicts with inline'], ['.scripts', 'conflicts with inline']],
  },
  { name: 'missing script', provisioner: { type: 'shell', script: 'nope.sh' }, errors: [['.script', 'no such file: ']] },
  { name: 'directory as a script', provisioner: { type: 'shell', scripts: ['setup.sh', 'scripts'] }, errors: [['.scripts[1]', 'is a directory, not a file']] },
  {
    name: 'environment variables',
    provisioner: { type: 'shell', inline: ['x'], environment_vars: ['OK=1', 'NOEQUALS', '1BAD=x', '=x'], env: { 'BAD-NAME': 'x' } },
    errors: [
      ['.env.BAD-NAME', 'is not a valid environment variable name'],
      ['.environment_vars[1]', 'must be KEY=VALUE'],
      ['.environment_vars[2]', '"1BAD" is not a valid environment variable name'],
      ['.environment_vars[3]', '"" is not a valid environment variable name'],
    ],
  },
  { name: 'durations', provisioner: { type: 'shell', inline: ['x'], pause_before: '10', timeout: '-1s' }, errors: [['.pause_before', 'must be a duration'], ['.timeout', 'must be a duration']] },
  { name: 'exit codes', provisioner: { type: 'shell', inline: ['x'], valid_exit_codes: [0, 256] }, errors: [['.valid_exit_codes[1]', 'at most 255']] },
  {
    name: 'remote paths',
    provisioner: { type: 'shell', inline: ['x'], remote_folder: 'tmp', remote_file: 'a/b.sh', remote_path: '/tmp/../etc/x' },
    errors: [['.remote_file', 'a file name'], ['.remote_folder', 'absolute path'], ['.remote_path', 'without ".." segments']],
  },
  {
    name: 'options a chroot cannot honour',
    provisioner: { type: 'shell', inline: ['x'], expect_disconnect: true, use_env_var_file: true, env_var_format: '%s=%s ', pause_after: '5s' },
    errors: [
      ['.env_var_format', 'env_var_format is not supported'],
      ['.expect_disconnect', 'a chroot has no connection to lose'],
      ['.pause_after', 'pause_after is not supported'],
      ['.use_env_var_file', 'use_env_var_file is not supported'],
    ],
  },
  { name: 'unknown shell option', provisioner: { type: 'shell', inline: ['x'], scirpt: 'a' }, errors: [['.scirpt', 'unknown configuration key "scirpt"; did you mean "script"?']] },
  {
    name: 'download',
    provisioner: { type: 'file', source: '/etc/hostname', destination: 'out/', direction: 'download' },
    errors: [['.destination', 'absolute path'], ['.direction', 'no requesting machine to download to']],
  },
  { name: 'direction value', provisioner: { type: 'file', content: 'x', destination: '/x', direction: 'sideways' }, errors: [['.direction', 'must be "upload"']] },
  { name: 'file without anything', provisioner: { type: 'file' }, errors: [['', 'one of source, sources or content is required'], ['.destination', 'destination must be specified']] },
  { name: 'content and source', provisioner: { type: 'file', content: 'x', source: 'setup.sh', destination: '/x' }, errors: [['.content', 'content conflicts with source/sources']] },
  {
    name: 'missing sources',
    provisioner: { type: 'file', sources: ['files/motd', 'nope/'], source: 'setup.sh/', destination: '/x/' },
    errors: [['.source', 'is a file, not a directory'], ['.sources[1]', 'no such file or directory']],
  },
  { name: 'retries on a file provisioner', provisioner: { type: 'file', content: 'x', destination: '/x', pause_before: '1s', max_retries: 2 }, errors: [['.max_retries', 'only supported on shell'], ['.pause_before', 'only supported on shell']] },
];

describe('invalid provisioners', () => {
  it.each(BAD)('$name', ({ provisioner, errors }) => {
    expectErrors(
      provisionerErrors([{ type: 'shell', inline: ['ok'] }, provisioner]),
      errors.map(([suffix, message]) => [`provisioners[1]${suffix}`, message] as const),
    );
  });

  it('requires a list', () => {
    expectErrors(errorsOf(() => parse(template({}, { provisioners: { type: 'shell' } }))), [['provisioners', 'must be a list of provisioners']]);
  });
});

describe('ansible-local provisioner', () => {
  it("resolves its files and folders against the template's folder, with Packer's defaults", () => {
    mkdirSync(join(dir, 'roles', 'web'), { recursive: true });
    mkdirSync(join(dir, 'group_vars'), { recursive: true });
    writeFileSync(join(dir, 'site.yml'), '- hosts: all\n');
    expect(provisioners([{ type: 'ansible-local', playbook_file: 'site.yml', role_paths: ['roles/web'], group_vars: 'group_vars/', inventory_groups: 'web,db', timeout: '1m' }])).toEqual([
      {
        type: 'ansible-local',
        index: 0,
        playbook_files: [join(dir, 'site.yml')],
        playbook_dir: undefined,
        playbook_paths: [],
        role_paths: [join(dir, 'roles', 'web')],
        group_vars: join(dir, 'group_vars'),
        host_vars: undefined,
        galaxy_file: undefined,
        galaxy_command: 'ansible-galaxy',
        extra_arguments: [],
        inventory_groups: ['web', 'db'],
        inventory_file: undefined,
        command: 'ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook',
        staging_directory: undefined,
        clean_staging_directory: false,
        pause_before_ms: 0,
        timeout_ms: 60_000,
      },
    ]);
  });

  it('names each bad option', () => {
    expectErrors(provisionerErrors([{ type: 'ansible-local', playbook_dir: 'nope', staging_directory: 'relative', galaxy_command: 'g', playbok_file: 'x' }]), [
      ['provisioners[0]', 'one of playbook_file or playbook_files is required'],
      ['provisioners[0].galaxy_command', 'galaxy_command is used only with galaxy_file'],
      ['provisioners[0].playbok_file', 'did you mean "playbook_file"?'],
      ['provisioners[0].playbook_dir', 'no such file or directory'],
      ['provisioners[0].staging_directory', 'absolute path'],
    ]);
  });
});

describe('shell-local provisioner', () => {
  it("takes command, inline or scripts, with Packer's execute_command", () => {
    expect(provisioners([{ type: 'shell-local', command: 'echo {{user `x`}}hi', environment_vars: ['A=b'] }])).toEqual([
      {
        type: 'shell-local',
        index: 0,
        inline: ['echo hi'],
        scripts: [],
        environment_vars: ['A=b'],
        env: {},
        execute_command: ['/bin/sh', '-c', '{{.Vars}} {{.Script}}'],
        inline_shebang: '/bin/sh -e',
        valid_exit_codes: [0],
        pause_before_ms: 0,
        timeout_ms: undefined,
      },
    ]);
    expect(provisioners([{ type: 'shell-local', scripts: ['setup.sh'], execute_command: ['bash', '{{.Script}}'] }])[0]).toMatchObject({ scripts: [join(dir, 'setup.sh')], execute_command: ['bash', '{{.Script}}'] });
  });

  it('names each bad option', () => {
    expectErrors(provisionerErrors([{ type: 'shell-local', command: 'x', inline: ['y'], execute_command: ['/bin/sh', '{{.Path}}'] }]), [
      ['provisioners[0].execute_command[1]', '{{.Path}}'],
      ['provisioners[0].inline', 'conflicts with command'],
    ]);
  });
});
