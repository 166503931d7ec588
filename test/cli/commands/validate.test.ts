import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerValidateCommand } from '../../../cli/commands/validate.ts';
import { baseBuilder, scratchDir } from '../../model/support.ts';

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `ami-factory validate ...` in-process, with only the validate command registered. */
async function validate(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const program = new Command('ami-factory')
    .exitOverride()
    .configureOutput({ writeOut: (text) => (stdout += text), writeErr: (text) => (stderr += text) });
  registerValidateCommand(program);
  try {
    await program.parseAsync(['validate', ...args], { from: 'user' });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof CommanderError) return { exitCode: error.exitCode, stdout, stderr };
    throw error;
  }
}

let dir = '';
let valid = '';
let invalid = '';

beforeAll(() => {
  dir = scratchDir();
  writeFileSync(join(dir, 'setup.sh'), 'true\n');
  valid = join(dir, 'valid.json');
  writeFileSync(
    valid,
    JSON.stringify({
      variables: { name: 'web', password: null },
      'sensitive-variables': ['password'],
      builders: [{ ...baseBuilder, ami_name: '{{user `name`}}-{{timestamp}}', ami_description: 'pw {{user `password`}}' }],
      provisioners: [
        { type: 'shell', script: 'setup.sh' },
        { type: 'file', content: '{{user `password`}}', destination: '/etc/pw' },
      ],
    }),
  );
  invalid = join(dir, 'invalid.json');
  writeFileSync(
    invalid,
    JSON.stringify({ builders: [{ type: 'amazon-chroot', access_key: 'AKIA', chroot_mounts: [['x']] }], provisioners: [{ type: 'chef-solo' }] }),
  );
  writeFileSync(join(dir, 'vars.json'), JSON.stringify({ name: 'from-file', password: 'file-secret' }));
  writeFileSync(join(dir, 'bad-vars.json'), JSON.stringify({ name: 3 }));
});

describe('ami-factory validate', () => {
  it('prints a summary and exits 0 for a valid template', async () => {
    const run = await validate(valid, '--var', 'password=s3cret=x');
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`${valid} is valid`);
    expect(run.stdout).toMatch(/ami_name: +web-\d+/);
    expect(run.stdout).toMatch(/source: +ami-0123456789abcdef0/);
    expect(run.stdout).toMatch(/provisioners: +2 \(shell, file\)/);
    expect(run.stdout).toMatch(/chroot_mounts: +5/);
  });

  it('prints the normalised request with --json, sensitive values masked', async () => {
    const run = await validate(valid, '--var', 'password=s3cret=x', '--json');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain('s3cret');
    const request = JSON.parse(run.stdout) as { builder: { ami_description: string }; provisioners: { content?: string }[]; sensitive_values: string[] };
    expect(request.builder.ami_description).toBe('pw <sensitive>');
    expect(request.provisioners[1]?.content).toBe('<sensitive>');
    expect(request.sensitive_values).toEqual(['<sensitive>']);
  });

  it('reads --var-file, with --var taking precedence', async () => {
    const run = await validate(valid, '--var-file', join(dir, 'vars.json'), '--var', 'name=cli');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/ami_name: +cli-\d+/);
    const fromFile = await validate(valid, '--var-file', join(dir, 'vars.json'));
    expect(fromFile.stdout).toMatch(/ami_name: +from-file-\d+/);
  });

  it('exits 2 with every error, one per line, on stderr', async () => {
    const run = await validate(invalid);
    expect(run.exitCode).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`${invalid}: 5 errors`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^builders\[0\]\.access_key: .*must not carry credentials/),
      'builders[0].ami_name: ami_name must be specified',
      expect.stringMatching(/^builders\[0\]\.chroot_mounts\[0\]: each chroot_mounts entry must be 3 strings/),
      expect.stringMatching(/^builders\[0\]\.source_ami: source_ami or source_ami_filter is required/),
      expect.stringMatching(/^provisioners\[0\]\.type: provisioner type "chef-solo" is not supported/),
    ]);
    expect(run.stderr).not.toContain('Usage:');
  });

  it('exits 2 for a required variable and for a bad var file', async () => {
    const missing = await validate(valid);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('variables.password: is required');
    const badFile = await validate(valid, '--var-file', join(dir, 'bad-vars.json'));
    expect(badFile.exitCode).toBe(2);
    expect(badFile.stderr).toContain(`${join(dir, 'bad-vars.json')}.name: must be a string`);
  });

  it('prints warnings on stderr, Packer-style, and still exits 0', async () => {
    const lenient = join(dir, 'lenient.json');
    writeFileSync(lenient, JSON.stringify({ builders: [{ ...baseBuilder, ami_description: 'x{{user `undeclared`}}' }] }));
    const run = await validate(lenient, '--var', 'extra=1');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain('is valid');
    expect(run.stderr).toContain(`${lenient}: 2 warnings`);
    expect(run.stderr).toContain('builders[0].ami_description: user variable "undeclared" is not declared');
    expect(run.stderr).toContain('variables.extra: is given a value (--var) but is not declared');
  });

  it('treats a malformed --var as a usage error', async () => {
    const run = await validate(valid, '--var', 'no-equals');
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain('expected name=value');
  });
});

describe('validate --only / --except', () => {
  it('chooses a builder by name or type, comma-separated or repeated, and names a bad choice', async () => {
    const multi = join(dir, 'multi.json');
    writeFileSync(multi, JSON.stringify({
      builders: [{ ...baseBuilder, name: 'a', ami_name: 'image-a' }, { ...baseBuilder, name: 'b', ami_name: 'image-b' }, { type: 'docker', name: 'd' }],
    }));
    expect((await validate(multi)).stderr).toContain('choose one with --only NAME');
    expect((await validate(multi, '--only', 'b', '--json')).stdout).toContain('"ami_name": "image-b"');
    expect((await validate(multi, '--except', 'a,d', '--json')).stdout).toContain('"builder_path": "builders[1]"');
    const bad = await validate(multi, '--only', 'd', '--except', 'z');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('builder type "docker" is not supported (chosen by --only "d")');
    expect(bad.stderr).toContain('--except: no builder is named or of type "z"');
  });
});
