/**
 * The target-account role (deploy/target-account-role.yml, docs/target-account-role.md): the
 * template passes cfn-lint, and its policies, rendered for given parameters as CloudFormation
 * would, hold what a target account is promised. Only the factory's named roles may assume it
 * (with the external id when one is set); no action is a wildcard; only Describe calls reach
 * every resource; every EC2 change is held by the factory's tag, so the role can finish and
 * remove the factory's copies and touch nothing else of the account; KMS keys are usable only
 * when named, and only through EC2. A small evaluator of the condition operators the template
 * uses answers "would IAM allow this request?" for the cases that matter.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { iamReference } from './iam-reference.ts';
import { parse } from 'yaml';
import { BUILD_ID_TAG } from '../../contract/execution.ts';
import { REGIONAL_ACTIONS } from '../../contract/regional-call.ts';
import { DEFAULT_TARGET_ROLE_NAME } from '../../contract/targets.ts';
import { idempotentBuildId, newBuildId } from '../../functions/lib/build-id.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TEMPLATE_PATH = join(ROOT, 'deploy/target-account-role.yml');
const CFN_LINT = join(ROOT, '.cache/venv/bin/cfn-lint');

const skipLint = existsSync(CFN_LINT) ? undefined : '.cache/venv/bin/cfn-lint is missing (scripts/setup.sh installs it)';
if (skipLint !== undefined) console.warn(`skipping cfn-lint of deploy/target-account-role.yml: ${skipLint}`);

/** What the lifecycle calls in a target account, besides what REGIONAL_ACTIONS lists. */
const LIFECYCLE_ACTIONS = ['DescribeImages', 'DescribeSnapshots', 'DescribeInstances', 'EnableImageDeprecation', 'DeregisterImage', 'DeleteSnapshot'];

const FACTORY = '111111111111';
const TARGET = '222222222222';
const OTHER = '333333333333';
const REGIONAL_CALL_ROLE = `arn:aws:iam::${FACTORY}:role/ami-factory-prod-RegionalCallRole-1A2B3C4D5E6F`;
const LIFECYCLE_ROLE = `arn:aws:iam::${FACTORY}:role/ami-factory-prod-LifecycleRole-6F5E4D3C2B1A`;
const FACTORY_ROLE_PATTERNS = [`arn:aws:iam::${FACTORY}:role/ami-factory-prod-RegionalCallRole-*`, `arn:aws:iam::${FACTORY}:role/ami-factory-prod-LifecycleRole-*`];
const TARGET_KEY = `arn:aws:kms:eu-west-1:${TARGET}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const FACTORY_KEY = `arn:aws:kms:us-east-1:${FACTORY}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;

const IMAGE = 'arn:aws:ec2:eu-west-1::image/ami-0123456789abcdef0';
const SNAPSHOT = 'arn:aws:ec2:eu-west-1::snapshot/snap-0123456789abcdef0';
const SOURCE_IMAGE = 'arn:aws:ec2:us-east-1::image/ami-0fedcba9876543210';
const BUILD_ID = newBuildId();

interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: { AWS?: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
  [other: string]: unknown;
}

interface Role {
  RoleName: string;
  MaxSessionDuration: number;
  AssumeRolePolicyDocument: { Statement: Statement[] };
  Policies: { PolicyName: string; PolicyDocument: { Statement: Statement[] } }[];
}

interface Template {
  Parameters: Record<string, { Type: string; Default?: string; AllowedPattern?: string }>;
  Conditions: Record<string, unknown>;
  Resources: Record<string, { Type: string; Properties: unknown }>;
  Outputs: Record<string, { Value: unknown }>;
}

const template = parse(readFileSync(TEMPLATE_PATH, 'utf8')) as Template;

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

// ---------------------------------------------------------------- rendering, as CloudFormation

const NO_VALUE = Symbol('AWS::NoValue');
type Values = Record<string, string | string[]>;

/** The parameter values CloudFormation would take: defaults filled in, each value checked against its AllowedPattern. */
function parameterValues(given: Record<string, string>): Values {
  const values: Values = {};
  for (const [name, parameter] of Object.entries(template.Parameters)) {
    const raw = given[name] ?? parameter.Default;
    if (raw === undefined) throw new Error(`parameter ${name} has no value and no default`);
    const value = parameter.Type === 'CommaDelimitedList' ? raw.split(',') : raw;
    const pattern = parameter.AllowedPattern === undefined ? undefined : new RegExp(parameter.AllowedPattern);
    for (const item of list(value)) {
      if (pattern !== undefined && !pattern.test(item)) throw new Error(`parameter ${name}: "${item}" does not match ${parameter.AllowedPattern}`);
    }
    values[name] = value;
  }
  for (const name of Object.keys(given)) if (!(name in template.Parameters)) throw new Error(`no parameter ${name}`);
  return values;
}

function render(node: unknown, values: Values): unknown {
  if (Array.isArray(node)) return node.map((item) => render(item, values)).filter((item) => item !== NO_VALUE);
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node);
  const [key, argument] = entries[0] ?? [];
  if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) return intrinsic(key, argument, values);
  return Object.fromEntries(entries.map(([name, value]) => [name, render(value, values)]).filter(([, value]) => value !== NO_VALUE));
}

function ref(name: string, values: Values): string | string[] | typeof NO_VALUE {
  if (name === 'AWS::Partition') return 'aws';
  if (name === 'AWS::URLSuffix') return 'amazonaws.com';
  if (name === 'AWS::NoValue') return NO_VALUE;
  const value = values[name];
  if (value === undefined) throw new Error(`Ref to unknown ${name}`);
  return value;
}

function condition(name: string, values: Values): boolean {
  const expression = template.Conditions[name];
  if (expression === undefined) throw new Error(`unknown condition ${name}`);
  const result = render(expression, values);
  if (typeof result !== 'boolean') throw new Error(`condition ${name} is not a boolean`);
  return result;
}

function intrinsic(name: string, argument: unknown, values: Values): unknown {
  const args = argument as unknown[];
  switch (name) {
    case 'Ref':
      return ref(argument as string, values);
    case 'Fn::Sub':
      return (argument as string).replace(/\$\{([\w:]+)\}/g, (_, variable: string) => {
        const value = ref(variable, values);
        if (typeof value !== 'string') throw new Error(`Fn::Sub of the list ${variable}`);
        return value;
      });
    case 'Fn::Join':
      return (render(args[1], values) as string[]).join(args[0] as string);
    case 'Fn::Equals':
      return render(args[0], values) === render(args[1], values);
    case 'Fn::Not':
      return !(render(args[0], values) as boolean);
    case 'Fn::If':
      return render(condition(args[0] as string, values) ? args[1] : args[2], values);
    default:
      throw new Error(`the test does not render ${name}`);
  }
}

/** The role as CloudFormation would create it with these parameters. */
function renderRole(given: Record<string, string>): Role {
  const roles = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::IAM::Role');
  expect(roles).toHaveLength(1);
  return render(roles[0]?.Properties, parameterValues(given)) as Role;
}

const BASE = { FactoryAccountId: FACTORY, FactoryRoleArns: FACTORY_ROLE_PATTERNS.join(',') };
const FULL = { ...BASE, ExternalId: 'factory-prod-7f3a', KmsKeyArns: `${TARGET_KEY},${FACTORY_KEY}` };

const permissions = (role: Role): Statement[] => role.Policies.flatMap((policy) => policy.PolicyDocument.Statement);

// ---------------------------------------------------------------- evaluation, as IAM

type Context = Record<string, string | undefined>;

function glob(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

/** The operators the template uses; any other fails the test, so the evaluator cannot silently pass one. */
function conditionHolds(operator: string, key: string, expected: string[], context: Context): boolean {
  const actual = context[key];
  const ifExists = operator.endsWith('IfExists');
  const base = ifExists ? operator.slice(0, -'IfExists'.length) : operator;
  if (base === 'Null') return expected.some((value) => (value === 'true') === (actual === undefined));
  if (actual === undefined) return ifExists;
  switch (base) {
    case 'StringEquals':
      return expected.includes(actual);
    case 'StringLike':
      return expected.some((pattern) => glob(pattern, actual));
    case 'ArnLike':
      return expected.some((pattern) => glob(pattern, actual));
    case 'Bool':
      return expected.some((value) => value.toLowerCase() === actual.toLowerCase());
    default:
      throw new Error(`the evaluator does not know the operator ${operator}`);
  }
}

function conditionsHold(statement: Statement, context: Context): boolean {
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => conditionHolds(operator, key, list(expected), context)),
  );
}

/** Whether the role's permissions allow one action on one resource in this request context. */
function allows(role: Role, action: string, resource: string, context: Context = {}): boolean {
  return permissions(role).some(
    (statement) =>
      statement.Effect === 'Allow' &&
      list(statement.Action).some((granted) => granted.toLowerCase() === action.toLowerCase()) &&
      list(statement.Resource).some((granted) => glob(granted, resource)) &&
      conditionsHold(statement, context),
  );
}

/** Whether the trust policy lets a role of some account assume this one. */
function trusts(role: Role, callerRoleArn: string, externalId?: string): boolean {
  const callerAccount = callerRoleArn.split(':')[4];
  const context: Context = { 'aws:PrincipalArn': callerRoleArn, 'sts:ExternalId': externalId };
  return role.AssumeRolePolicyDocument.Statement.some(
    (statement) =>
      statement.Effect === 'Allow' &&
      list(statement.Action).includes('sts:AssumeRole') &&
      list(statement.Principal?.AWS).some((principal) => principal === callerRoleArn || principal === `arn:aws:iam::${callerAccount ?? ''}:root`) &&
      conditionsHold(statement, context),
  );
}

const tagged = (key: 'aws:ResourceTag' | 'aws:RequestTag', value = BUILD_ID): Context => ({ [`${key}/${BUILD_ID_TAG}`]: value, [`ec2:${key.slice(4)}/${BUILD_ID_TAG}`]: value });

// ---------------------------------------------------------------- the tests

describe.skipIf(skipLint !== undefined)('deploy/target-account-role.yml with cfn-lint', () => {
  it('passes without errors or warnings', async () => {
    const result = await execa(CFN_LINT, ['--', TEMPLATE_PATH], { all: true, reject: false });
    // cfn-lint's exit status is a bit mask: 2 errors, 4 warnings, 8 informational, 1 a crash.
    expect((result.exitCode ?? 1) & (1 | 2 | 4), result.all).toBe(0);
  });
});

describe('the target-account role', () => {
  it('is named as the factory expects unless the deployment names another, and says its ARN', () => {
    expect(template.Parameters.RoleName?.Default).toBe(DEFAULT_TARGET_ROLE_NAME);
    const role = renderRole(BASE);
    expect(role.RoleName).toBe(DEFAULT_TARGET_ROLE_NAME);
    expect(renderRole({ ...BASE, RoleName: 'images-from-factory' }).RoleName).toBe('images-from-factory');
    // The factory asks for one-hour sessions (functions/lib/target-clients.ts).
    expect(role.MaxSessionDuration).toBeGreaterThanOrEqual(3600);
    expect(template.Outputs.RoleArn?.Value).toEqual({ 'Fn::GetAtt': ['TargetRole', 'Arn'] });
  });

  it('refuses parameters that are not what they claim to be', () => {
    expect(() => renderRole({ ...BASE, FactoryAccountId: '12345' })).toThrow(/FactoryAccountId/);
    expect(() => renderRole({ ...BASE, FactoryRoleArns: '*' })).toThrow(/FactoryRoleArns/);
    expect(() => renderRole({ ...BASE, FactoryRoleArns: `arn:aws:iam::${FACTORY}:role/*/x` })).toThrow(/FactoryRoleArns/);
    expect(() => renderRole({ ...BASE, FactoryRoleArns: `arn:aws:iam::${FACTORY}:user/alice` })).toThrow(/FactoryRoleArns/);
    expect(() => renderRole({ ...BASE, KmsKeyArns: `arn:aws:kms:eu-west-1:${TARGET}:alias/aws/ebs` })).toThrow(/KmsKeyArns/);
    expect(() => renderRole({ ...BASE, KmsKeyArns: '*' })).toThrow(/KmsKeyArns/);
    expect(() => renderRole({ ...BASE, RoleName: 'a role' })).toThrow(/RoleName/);
    expect(() => renderRole({ ...BASE, ExternalId: 'x' })).toThrow(/ExternalId/);
    expect(() => renderRole({ FactoryAccountId: FACTORY })).toThrow(/FactoryRoleArns/);
  });
});

describe('the trust policy', () => {
  it('lets only the factory\'s named roles assume the role', () => {
    const role = renderRole(BASE);
    const [statement, ...others] = role.AssumeRolePolicyDocument.Statement;
    expect(others).toEqual([]);
    expect(statement?.Principal).toEqual({ AWS: `arn:aws:iam::${FACTORY}:root` });
    expect(statement?.Action).toBe('sts:AssumeRole');
    expect(statement?.Condition).toEqual({ ArnLike: { 'aws:PrincipalArn': FACTORY_ROLE_PATTERNS } });

    expect(trusts(role, REGIONAL_CALL_ROLE)).toBe(true);
    expect(trusts(role, LIFECYCLE_ROLE)).toBe(true);
    expect(trusts(role, `arn:aws:iam::${FACTORY}:role/ami-factory-prod-SubmitBuildRole-0A1B2C3D4E5F`)).toBe(false);
    expect(trusts(role, `arn:aws:iam::${FACTORY}:role/ami-factory-staging-RegionalCallRole-1A2B3C4D5E6F`)).toBe(false);
    expect(trusts(role, REGIONAL_CALL_ROLE.replace(FACTORY, OTHER))).toBe(false);
  });

  it('lets nobody in when a named role is in another account', () => {
    const role = renderRole({ ...BASE, FactoryRoleArns: REGIONAL_CALL_ROLE.replace(FACTORY, OTHER) });
    expect(trusts(role, REGIONAL_CALL_ROLE.replace(FACTORY, OTHER))).toBe(false);
    expect(trusts(role, REGIONAL_CALL_ROLE)).toBe(false);
  });

  it('asks for the external id when one is set, and only then', () => {
    expect(JSON.stringify(renderRole(BASE).AssumeRolePolicyDocument)).not.toContain('sts:ExternalId');
    const role = renderRole({ ...BASE, ExternalId: 'factory-prod-7f3a' });
    expect(role.AssumeRolePolicyDocument.Statement[0]?.Condition).toEqual({
      ArnLike: { 'aws:PrincipalArn': FACTORY_ROLE_PATTERNS },
      StringEquals: { 'sts:ExternalId': 'factory-prod-7f3a' },
    });
    expect(trusts(role, REGIONAL_CALL_ROLE, 'factory-prod-7f3a')).toBe(true);
    expect(trusts(role, REGIONAL_CALL_ROLE)).toBe(false);
    expect(trusts(role, REGIONAL_CALL_ROLE, 'factory-prod-0000')).toBe(false);
    expect(trusts(role, REGIONAL_CALL_ROLE.replace(FACTORY, OTHER), 'factory-prod-7f3a')).toBe(false);
  });
});

describe('the permissions', () => {
  const role = renderRole(FULL);
  const statements = permissions(role);

  it('allow, by name, with no wildcard action, no Not* element and a Sid each', () => {
    expect(statements.length).toBeGreaterThan(5);
    for (const statement of statements) {
      expect(statement.Effect, statement.Sid).toBe('Allow');
      expect(Object.keys(statement).filter((key) => key.startsWith('Not')), statement.Sid).toEqual([]);
      expect(statement.Sid).toMatch(/^\w+$/);
      for (const action of list(statement.Action)) expect(action, statement.Sid).toMatch(/^(ec2|kms):[A-Za-z]+$/);
    }
    expect(new Set(statements.map((statement) => statement.Sid)).size).toBe(statements.length);
  });

  it('reach every resource only with Describe calls, which have no resource-level permissions', () => {
    const reference = iamReference();
    for (const statement of statements) {
      const everything = list(statement.Resource).some((resource) => resource === '*' || /^arn:aws:(ec2|kms):\*:\*?:\*$/.test(resource));
      if (!everything) continue;
      for (const action of list(statement.Action)) {
        expect(action, statement.Sid).toMatch(/^ec2:Describe/);
        if (reference !== undefined) expect(reference.ec2?.Actions[action.slice(4).toLowerCase()]?.Resources ?? [], action).toEqual([]);
      }
    }
  });

  it('hold every EC2 change by the factory\'s tag, or by CopyImage creating what is tagged', () => {
    const tagKeys = [`aws:RequestTag/${BUILD_ID_TAG}`, `aws:ResourceTag/${BUILD_ID_TAG}`, `ec2:ResourceTag/${BUILD_ID_TAG}`];
    let changes = 0;
    for (const statement of statements) {
      const mutating = list(statement.Action).filter((action) => action.startsWith('ec2:') && !action.startsWith('ec2:Describe'));
      if (mutating.length === 0) continue;
      changes += mutating.length;
      const keys = Object.values(statement.Condition ?? {}).flatMap((keysOf) => Object.keys(keysOf));
      const byTag = keys.some((key) => tagKeys.includes(key));
      const byCreation = mutating.every((action) => action === 'ec2:CreateTags') && statement.Condition?.StringEquals?.['ec2:CreateAction'] === 'CopyImage';
      expect(byTag || byCreation, `${statement.Sid ?? ''}: ${mutating.join(', ')}`).toBe(true);
      // Only images and snapshots, in any region (a target account's copies may be anywhere).
      for (const resource of list(statement.Resource)) expect(resource, statement.Sid).toMatch(/^arn:aws:ec2:\*::(image|snapshot)\/\*$/);
    }
    expect(changes).toBeGreaterThanOrEqual(9);
  });

  it('match the factory\'s build ids with the tag value they ask for', () => {
    for (const buildId of [newBuildId(), idempotentBuildId('key', 'caller')]) {
      expect(allows(role, 'ec2:DeregisterImage', IMAGE, tagged('aws:ResourceTag', buildId)), buildId).toBe(true);
    }
    expect(allows(role, 'ec2:DeregisterImage', IMAGE, tagged('aws:ResourceTag', 'someone-elses'))).toBe(false);
  });

  it('grant every call the regional-call function and the lifecycle make in a target account', () => {
    const granted = new Set(statements.flatMap((statement) => list(statement.Action)));
    for (const action of [...REGIONAL_ACTIONS, ...LIFECYCLE_ACTIONS]) expect(granted, action).toContain(`ec2:${action}`);
  });

  it('let CopyImage make only a copy tagged as it is created', () => {
    const asCreated = tagged('aws:RequestTag');
    for (const resource of [SOURCE_IMAGE, IMAGE, SNAPSHOT]) expect(allows(role, 'ec2:CopyImage', resource, asCreated), resource).toBe(true);
    expect(allows(role, 'ec2:CopyImage', IMAGE)).toBe(false);
    expect(allows(role, 'ec2:CopyImage', IMAGE, tagged('aws:RequestTag', ''))).toBe(false);
    for (const resource of [IMAGE, SNAPSHOT]) {
      expect(allows(role, 'ec2:CreateTags', resource, { ...asCreated, 'ec2:CreateAction': 'CopyImage' }), resource).toBe(true);
    }
  });

  it('never let the role claim an image or snapshot it did not make', () => {
    for (const resource of [IMAGE, SNAPSHOT]) {
      // Adding the factory's tag to an untagged resource would hand it to every other statement.
      expect(allows(role, 'ec2:CreateTags', resource, tagged('aws:RequestTag')), resource).toBe(false);
      expect(allows(role, 'ec2:CreateTags', resource, { ...tagged('aws:RequestTag'), 'ec2:CreateAction': 'CreateSnapshot' }), resource).toBe(false);
      expect(allows(role, 'ec2:CreateTags', resource, { ...tagged('aws:RequestTag'), 'ec2:CreateAction': 'RegisterImage' }), resource).toBe(false);
      expect(allows(role, 'ec2:CreateTags', resource, tagged('aws:ResourceTag')), resource).toBe(true);
    }
    const untouchable: [string, string, Context][] = [
      ['ec2:ModifyImageAttribute', IMAGE, { 'ec2:Attribute': 'launchPermission' }],
      ['ec2:ModifySnapshotAttribute', SNAPSHOT, { 'ec2:Attribute': 'createVolumePermission' }],
      ['ec2:EnableImageDeprecation', IMAGE, {}],
      ['ec2:EnableImageDeregistrationProtection', IMAGE, {}],
      ['ec2:DeregisterImage', IMAGE, {}],
      ['ec2:DeleteSnapshot', SNAPSHOT, {}],
    ];
    for (const [action, resource, context] of untouchable) {
      expect(allows(role, action, resource, context), `${action} untagged`).toBe(false);
      expect(allows(role, action, resource, { ...context, ...tagged('aws:ResourceTag') }), `${action} tagged`).toBe(true);
    }
  });

  it('change no attribute of a copy but its launch and create-volume permissions', () => {
    const onCopy = tagged('aws:ResourceTag');
    expect(allows(role, 'ec2:ModifyImageAttribute', IMAGE, { ...onCopy, 'ec2:Attribute': 'description' })).toBe(false);
    expect(allows(role, 'ec2:ModifyImageAttribute', IMAGE, { ...onCopy, 'ec2:Attribute': 'productCodes' })).toBe(false);
    expect(allows(role, 'ec2:ModifySnapshotAttribute', SNAPSHOT, { ...onCopy, 'ec2:Attribute': 'productCodes' })).toBe(false);
  });

  it('grant nothing else', () => {
    const onCopy = tagged('aws:ResourceTag');
    for (const action of ['ec2:DisableImageDeregistrationProtection', 'ec2:DeleteTags', 'ec2:ResetImageAttribute', 'ec2:CopySnapshot', 'ec2:RunInstances', 'iam:PassRole']) {
      expect(allows(role, action, IMAGE, onCopy), action).toBe(false);
      expect(allows(role, action, '*', onCopy), action).toBe(false);
    }
    expect(allows(role, 'ec2:DescribeImages', '*')).toBe(true);
  });

  it('use no KMS key unless keys are named, and the named ones only through EC2', () => {
    expect(JSON.stringify(permissions(renderRole(BASE)))).not.toContain('kms:');
    const viaEc2: Context = { 'kms:ViaService': 'ec2.eu-west-1.amazonaws.com' };
    for (const key of [TARGET_KEY, FACTORY_KEY]) {
      for (const action of ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo']) {
        expect(allows(role, action, key, viaEc2), `${action} ${key}`).toBe(true);
        expect(allows(role, action, key), `${action} ${key} directly`).toBe(false);
        expect(allows(role, action, key, { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' }), `${action} ${key} through S3`).toBe(false);
      }
      expect(allows(role, 'kms:CreateGrant', key, { ...viaEc2, 'kms:GrantIsForAWSResource': 'true' }), key).toBe(true);
      expect(allows(role, 'kms:CreateGrant', key, viaEc2), `${key} grant for a person`).toBe(false);
    }
    const otherKey = TARGET_KEY.replace('1234abcd', '9999abcd');
    expect(allows(role, 'kms:Decrypt', otherKey, viaEc2)).toBe(false);
    for (const action of ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:ScheduleKeyDeletion', 'kms:PutKeyPolicy']) expect(allows(role, action, TARGET_KEY, viaEc2), action).toBe(false);
  });
});


