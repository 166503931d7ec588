import { describe, expect, it } from 'vitest';
import { maskSensitive, maskSensitiveDeep } from '../../model/index.ts';
import { errorsOf, expectErrors, parse, template } from './support.ts';

function withVariables(variables: Record<string, unknown>, description = '{{user `a`}}', rest: Record<string, unknown> = {}) {
  return template({ ami_description: description }, { variables, ...rest });
}

describe('variables', () => {
  it('uses declared values, --var overrides and values referring to other variables', () => {
    const json = withVariables({ a: '{{user `b`}}-x', b: 'base' });
    expect(parse(json).builder.ami_description).toBe('base-x');
    expect(parse(json, { vars: { b: 'over' } }).builder.ami_description).toBe('over-x');
    expect(parse(json, { vars: { a: 'direct=with=equals' } }).builder.ami_description).toBe('direct=with=equals');
  });

  it('takes --var values literally', () => {
    expect(parse(withVariables({ a: '' }), { vars: { a: '{{timestamp}}' } }).builder.ami_description).toBe('{{timestamp}}');
  });

  it('requires variables declared null', () => {
    const json = withVariables({ a: null });
    expectErrors(errorsOf(() => parse(json)), [['variables.a', 'is required (declared null) but no value was given: set it with --var a=VALUE']]);
    expect(parse(json, { vars: { a: 'given' } }).builder.ami_description).toBe('given');
  });

  it('accepts values for undeclared variables with a warning, as Packer does', () => {
    expect(parse(withVariables({ a: 'x' }), { vars: { region: 'eu-west-1' } }).warnings).toEqual([
      { path: 'variables.region', message: 'is given a value (--var) but is not declared in "variables": ignored' },
    ]);
  });

  it('reports cycles and bad values', () => {
    expectErrors(errorsOf(() => parse(withVariables({ a: '{{user `b`}}', b: '{{user `a`}}', c: 3 }))), [
      ['variables.b', 'variables refer to each other in a cycle: a -> b -> a'],
      ['variables.c', 'must be a string, or null to mark a required variable'],
    ]);
  });

  it('renders functions in variables, once for the build', () => {
    const json = withVariables({ a: 'v-{{timestamp}}-{{isotime "2006"}}' });
    expect(parse(json).builder.ami_description).toBe('v-1714979289-2024');
  });
});

describe('env', () => {
  const json = withVariables({ a: '{{env `HOME`}}' });

  it('is rendered from the env map given by the requesting machine', () => {
    expect(parse(json, { allowEnv: true, env: { HOME: '/home/requester' } }).builder.ami_description).toBe('/home/requester');
    expect(parse(json, { allowEnv: true, env: {} }).builder.ami_description).toBe('');
  });

  it('is refused where the loader does not allow it (the factory)', () => {
    expectErrors(errorsOf(() => parse(json, { env: { HOME: '/root' } })), [
      ['variables.a', 'env is rendered only on the requesting machine (ami-factory CLI)'],
    ]);
  });

  it('is refused outside variables, as in Packer', () => {
    expectErrors(errorsOf(() => parse(template({ ami_description: '{{env `HOME`}}' }), { allowEnv: true, env: { HOME: '/x' } })), [
      ['builders[0].ami_description', 'env can only be used in "variables" values'],
    ]);
  });
});

describe('sensitive variables', () => {
  it('collects the values of sensitive variables, overridden or not', () => {
    const json = withVariables({ a: 'public', password: 'hunter2', token: '', other: 'x' }, '{{user `a`}}', {
      'sensitive-variables': ['password', 'token', 'other'],
    });
    expect(parse(json).sensitive_values).toEqual(['hunter2', 'x']);
    expect(parse(json, { vars: { password: 'correct horse' } }).sensitive_values).toEqual(['correct horse', 'x']);
  });

  it('must be names; an undeclared one is ignored with a warning, as Packer does', () => {
    const json = withVariables({ a: 'x' }, '{{user `a`}}', { 'sensitive-variables': ['a', 'nope', 3] });
    expectErrors(errorsOf(() => parse(json)), [['sensitive-variables[2]', 'must be a variable name']]);
    const request = parse(withVariables({ a: 'x' }, '{{user `a`}}', { 'sensitive-variables': ['a', 'nope'] }));
    expect(request.sensitive_values).toEqual(['x']);
    expect(request.warnings).toEqual([{ path: 'sensitive-variables[1]', message: '"nope" is not declared in "variables": ignored' }]);
  });

  it('masks values in text and in structured data', () => {
    expect(maskSensitive('pass=hunter2 and hunter2x', ['hunter2', 'hunter2x', ''])).toBe('pass=<sensitive> and <sensitive>');
    expect(maskSensitiveDeep({ a: ['key hunter2'], hunter2: 1 }, ['hunter2'])).toEqual({ a: ['key <sensitive>'], '<sensitive>': 1 });
  });
});

describe('variables_used', () => {
  it('reproduces the request without the environment', () => {
    const json = withVariables({ a: '{{env `USER`}}-{{uuid}}', b: null }, '{{user `a`}} {{user `b`}}', { 'sensitive-variables': ['b'] });
    const first = parse(json, { allowEnv: true, env: { USER: 'me' }, vars: { b: 'secret' } });
    expect(first.variables_used.b).toBe('secret');
    expect(first.variables_used.a).toMatch(/^me-[0-9a-f-]{36}$/);
    const again = parse(json, { vars: first.variables_used });
    expect(again.builder.ami_description).toBe(first.builder.ami_description);
    expect(again.sensitive_values).toEqual(['secret']);
  });
});
