/**
 * The deployment as CloudFormation will see it. Runs scripts/package-and-lint.sh (the
 * offline `serverless package` and cfn-lint), then checks the template and the function
 * zips for what a review of serverless.yml is there to catch: a function without its own
 * role, a wildcard permission, a state machine placeholder nobody fills, a queue without a
 * dead-letter queue, an unsigned API route, and chroot engine code in a Lambda bundle.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { iamReference, type IamReference } from './iam-reference.ts';
import type { Resource, Template } from '../../local/factory-resources.ts';
import { loadFactoryConfig } from '../../functions/lib/factory-config.ts';
import { PARSER_WASM_FILES } from '../../model/hcl2/parser.ts';
import { REQUEST_MODELS_DIR } from '../../scripts/request-models.ts';
import { byRoute, documentedRoutes, frameworkFunctionId, serverlessRoutes } from './api-routes.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CFN_LINT = join(ROOT, '.cache/venv/bin/cfn-lint');
/** The package's own folder: other suites package too, and the framework clears .serverless. */
const SERVERLESS_DIR = join(ROOT, '.cache', 'package', 'lint-test');

/** One Lambda function per handler module, each exporting `handler`. */
const HANDLERS = [
  'functions/submit-build.handler',
  'functions/list-builds.handler',
  'functions/get-build.handler',
  'functions/get-build-log.handler',
  'functions/get-build-manifest.handler',
  'functions/cancel-build.handler',
  'functions/clean-up-build.handler',
  'functions/regional-call.handler',
  'functions/wait-for-resources.handler',
  'functions/tend-volume-pools.handler',
  'functions/distribute-image.handler',
  'functions/run-schedule.handler',
  'functions/list-families.handler',
  'functions/start-family-run.handler',
  'functions/lifecycle.handler',
  'functions/lifecycle.scheduledHandler',
];

/**
 * Roles that serve more than one function, and why. The lifecycle is one job with two entry
 * points: the API's (within API Gateway's 29 s) and the schedule's (minutes); target accounts
 * trust the one role (deploy/target-account-role.yml).
 */
const SHARED_ROLES: Readonly<Record<string, number>> = { LifecycleRole: 2 };

/** The API's routes come from its OpenAPI document, which the deployment must match. */
const ROUTES = documentedRoutes(ROOT);

/**
 * The only actions a role may grant on `Resource: '*'`: AWS offers no resource-level
 * permissions for them (the test checks that against cfn-lint's copy of the IAM reference).
 */
const UNSCOPED_ACTIONS: Readonly<Record<string, string>> = {
  'ec2:DescribeVolumes': 'EC2 Describe calls cannot be limited to resources',
  'ec2:DescribeSnapshots': 'EC2 Describe calls cannot be limited to resources',
  'ec2:DescribeImages': 'EC2 Describe calls cannot be limited to resources',
  'ec2:DescribeInstances': 'EC2 Describe calls cannot be limited to resources',
  'ec2:DescribeSubnets': 'EC2 Describe calls cannot be limited to resources',
  'states:SendTaskSuccess': 'task-token calls name no resource: the token is the authority',
  'states:SendTaskFailure': 'task-token calls name no resource: the token is the authority',
  'states:SendTaskHeartbeat': 'task-token calls name no resource: the token is the authority',
  'logs:CreateLogDelivery': 'Step Functions log delivery: the vended-logs calls have no resource-level permissions',
  'logs:GetLogDelivery': 'Step Functions log delivery: the vended-logs calls have no resource-level permissions',
  'logs:UpdateLogDelivery': 'Step Functions log delivery: the vended-logs calls have no resource-level permissions',
  'logs:DeleteLogDelivery': 'Step Functions log delivery: the vended-logs calls have no resource-level permissions',
  'logs:ListLogDeliveries': 'Step Functions log delivery: the vended-logs calls have no resource-level permissions',
  'logs:PutResourcePolicy': 'Step Functions log delivery writes the log group resource policy; no resource-level permissions',
  'logs:DescribeResourcePolicies': 'Step Functions log delivery reads the resource policies; no resource-level permissions',
  'logs:DescribeLogGroups': 'Step Functions log delivery checks the log group; no resource-level permissions',
};

/**
 * Queues that must not have a dead-letter queue, and why. A redrive would end a message after
 * maxReceiveCount receives (SQS allows at most 1,000), whatever the message's own bound says.
 */
const WITHOUT_DEAD_LETTER_QUEUE: Readonly<Record<string, string>> = {
  ResourceWaitsQueue:
    'a wait comes back once per check until it is over and ends at its own bound (polling.maxAttempts, up to 10,000 checks): a redrive would cut long waits short',
  VolumePoolsQueue:
    'a refill request that cannot be handled needs no keeping: the tender\'s five-minute schedule refills every pool from what it finds',
};

/** What only the chroot engine and the block-device code contain. */
const CHROOT_MARKERS = ['worker/chroot/', 'worker/devices/', 'worker/provisioners/', 'policy-rc.d'];


interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}


const skipReason = existsSync(CFN_LINT) ? undefined : '.cache/venv/bin/cfn-lint is missing (scripts/setup.sh installs it)';
if (skipReason !== undefined) console.warn(`skipping the deployment package test: ${skipReason}`);

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The logical id a `Ref` or `Fn::GetAtt` points at. */
function target(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const ref = (value as { Ref?: unknown }).Ref;
  if (typeof ref === 'string') return ref;
  const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
  return Array.isArray(getAtt) && typeof getAtt[0] === 'string' ? getAtt[0] : undefined;
}

/** The logical id of the function a method's Lambda proxy integration invokes. */
function integratedFunction(integration: unknown): string | undefined {
  if (typeof integration !== 'object' || integration === null) return undefined;
  const getAtt = (integration as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[1] === 'Arn') return target(integration);
  for (const value of Object.values(integration)) {
    const found = integratedFunction(value);
    if (found !== undefined) return found;
  }
  return undefined;
}

function ofType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function statementsOf(role: Resource): Statement[] {
  const policies = list(role.Properties?.Policies as { PolicyDocument: { Statement: Statement | Statement[] } }[] | undefined);
  return policies.flatMap((policy) => list(policy.PolicyDocument.Statement));
}


function resourceTypesOf(reference: IamReference, action: string): string[] | undefined {
  const [service = '', name = ''] = action.split(':');
  const entry = reference[service]?.Actions[name.toLowerCase()];
  return entry === undefined ? undefined : (entry.Resources ?? []);
}

/** The files of a zip archive (stored or deflated entries: what the packager writes). */
function readZip(path: string): Map<string, Buffer> {
  const zip = readFileSync(path);
  let end = -1;
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 65_557); at--) {
    if (zip.readUInt32LE(at) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new Error(`${path} is not a zip archive`);
  const files = new Map<string, Buffer>();
  let entry = zip.readUInt32LE(end + 16);
  for (let count = zip.readUInt16LE(end + 10); count > 0; count--) {
    if (zip.readUInt32LE(entry) !== 0x02014b50) throw new Error(`${path}: broken central directory`);
    const method = zip.readUInt16LE(entry + 10);
    const size = zip.readUInt32LE(entry + 20);
    const nameLength = zip.readUInt16LE(entry + 28);
    const local = zip.readUInt32LE(entry + 42);
    const name = zip.toString('utf8', entry + 46, entry + 46 + nameLength);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + size);
    if (method !== 0 && method !== 8) throw new Error(`${path}: ${name} uses compression method ${method}`);
    if (!name.endsWith('/')) files.set(name, method === 8 ? inflateRawSync(data) : data);
    entry += 46 + nameLength + zip.readUInt16LE(entry + 30) + zip.readUInt16LE(entry + 32);
  }
  return files;
}

describe('the API routes', () => {
  it('are documented, each with its function', () => {
    expect(ROUTES.length).toBeGreaterThan(0);
    for (const { route, functionId } of ROUTES) expect(functionId, route).toMatch(/^[A-Z]\w+Function$/);
  });

  it('are what serverless.yml wires, each to the function the document names', () => {
    expect(serverlessRoutes(ROOT).sort(byRoute)).toEqual([...ROUTES].sort(byRoute));
  });
});

describe.skipIf(skipReason !== undefined)('deployment package (serverless package + cfn-lint)', () => {
  let run: { exitCode: number | undefined; all: string };
  let template: Template;
  let lambdas: [string, Resource][];
  let workDir: string;

  beforeAll(async () => {
    const started = performance.now();
    const result = await execa('bash', [join(ROOT, 'scripts/package-and-lint.sh')], { cwd: ROOT, all: true, reject: false, env: { PACKAGE_DIR: SERVERLESS_DIR } });
    console.info(`scripts/package-and-lint.sh: exit ${String(result.exitCode)} after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    run = { exitCode: result.exitCode, all: result.all };
    const path = join(SERVERLESS_DIR, 'cloudformation-template-update-stack.json');
    template = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Template) : { Resources: {} };
    lambdas = ofType(template, 'AWS::Lambda::Function');
    workDir = await mkdtemp(join(tmpdir(), 'deploy-package-'));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('packages offline and passes cfn-lint', () => {
    expect(run.exitCode, run.all).toBe(0);
  });

  it('has one nodejs24.x Lambda function per handler, each with a role of its own or a listed shared one', () => {
    expect(lambdas.map(([, fn]) => fn.Properties?.Handler).sort()).toEqual([...HANDLERS].sort());
    for (const [id, fn] of lambdas) expect(fn.Properties?.Runtime, id).toBe('nodejs24.x');

    const roles = lambdas.map(([, fn]) => target(fn.Properties?.Role));
    const shared = Object.values(SHARED_ROLES).reduce((sum, functions) => sum + functions - 1, 0);
    expect(new Set(roles).size).toBe(lambdas.length - shared);
    const usedBy = (role: string): number =>
      Object.values(template.Resources).filter((resource) => target(resource.Properties?.Role) === role || target(resource.Properties?.RoleArn) === role).length;
    for (const role of new Set(roles)) {
      expect(role, 'a function role is a Fn::GetAtt of a role in the template').toBeDefined();
      expect(template.Resources[role ?? '']?.Type).toBe('AWS::IAM::Role');
      expect(usedBy(role ?? ''), `${role ?? ''} serves ${SHARED_ROLES[role ?? ''] ?? 1} function(s)`).toBe(SHARED_ROLES[role ?? ''] ?? 1);
    }
  });

  it('grants no wildcard action, and Resource "*" only for actions that cannot be scoped', () => {
    const reference = iamReference();
    const roles = ofType(template, 'AWS::IAM::Role');
    expect(roles.length).toBeGreaterThan(lambdas.length);
    for (const [id, role] of roles) {
      expect(role.Properties?.ManagedPolicyArns, `${id} attaches no managed policy`).toBeUndefined();
      for (const statement of statementsOf(role)) {
        const where = `${id} ${statement.Sid ?? '(no Sid)'}`;
        const actions = list(statement.Action);
        expect(statement.Effect, where).toBe('Allow');
        expect(actions.filter((action) => action.includes('*')), `${where}: wildcard actions`).toEqual([]);
        if (list(statement.Resource).includes('*')) {
          expect(actions.filter((action) => UNSCOPED_ACTIONS[action] === undefined), `${where}: actions on Resource "*"`).toEqual([]);
        }
        if (reference !== undefined) {
          expect(actions.filter((action) => resourceTypesOf(reference, action) === undefined), `${where}: unknown actions`).toEqual([]);
        }
      }
    }
    // The list above is only as good as its reasons: none of them may take a resource type.
    if (reference !== undefined) {
      const scopable = Object.keys(UNSCOPED_ACTIONS).filter((action) => (resourceTypesOf(reference, action) ?? []).length > 0);
      expect(scopable, 'actions listed as unscopable that do support resource-level permissions').toEqual([]);
    }
  });

  it('fills every placeholder of the state machines\' definitions', () => {
    const machines = ofType(template, 'AWS::StepFunctions::StateMachine');
    const expected: Record<string, string[]> = {
      BuildImageStateMachine: ['ClaimsQueueUrl', 'EventBusName', 'RegionalCallsQueueUrl', 'ResourceWaitsQueueUrl', 'VolumePoolsQueueUrl'],
      DistributeImageStateMachine: ['EventBusName', 'RegionalCallsQueueUrl'],
    };
    expect(machines.map(([id]) => id).sort()).toEqual(Object.keys(expected));
    for (const [id, machine] of machines) {
      const definition = machine.Properties?.DefinitionString;
      // A plain string: wrapped in Fn::Sub, the placeholders would be read as references.
      expect(typeof definition, id).toBe('string');
      const substitutions = record(machine.Properties?.DefinitionSubstitutions ?? {}, 'DefinitionSubstitutions');
      const placeholders = [...new Set(Array.from(String(definition).matchAll(/\$\{([^}]*)\}/g), (match) => match[1] ?? ''))];
      expect(placeholders.filter((name) => !(name in substitutions)), `${id}: placeholders without a substitution`).toEqual([]);
      for (const [name, value] of Object.entries(substitutions)) {
        // The event bus is a name the stage chooses (the account's default bus unless set), not a resource of the stack.
        if (name === 'EventBusName') expect(value, name).toBe('default');
        else expect(template.Resources[target(value) ?? ''], `${name} refers to a resource of the stack`).toBeDefined();
      }
      expect(Object.keys(substitutions).sort(), id).toEqual(expected[id]);
      const filled = String(definition).replace(/\$\{([^}]*)\}/g, (_match, name: string) => `substituted-${name}`);
      expect(filled).not.toContain('${');
      expect(record(JSON.parse(filled), 'definition').StartAt).toEqual(expect.any(String));
    }
  });

  it('gives every queue a dead-letter queue', () => {
    const queues = ofType(template, 'AWS::SQS::Queue');
    const deadLetterTargets = new Set<string | undefined>([
      ...queues.map(([, queue]) => target(record(queue.Properties?.RedrivePolicy ?? {}, 'RedrivePolicy').deadLetterTargetArn)),
      ...ofType(template, 'AWS::Lambda::EventInvokeConfig').map(([, config]) =>
        target((config.Properties?.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination),
      ),
      ...ofType(template, 'AWS::Events::Rule').flatMap(([, rule]) =>
        list(rule.Properties?.Targets as { DeadLetterConfig?: { Arn?: unknown } }[] | undefined).map((t) => target(t.DeadLetterConfig?.Arn)),
      ),
    ]);
    deadLetterTargets.delete(undefined);
    expect(queues.length).toBeGreaterThan(0);
    for (const [id, queue] of queues) {
      if (deadLetterTargets.has(id)) continue;
      if (WITHOUT_DEAD_LETTER_QUEUE[id] !== undefined) {
        // Listed, so it must really be without one: the list may not excuse a queue that has a redrive.
        expect(queue.Properties?.RedrivePolicy, `${id} is listed as having no dead-letter queue`).toBeUndefined();
        continue;
      }
      const redrive = record(queue.Properties?.RedrivePolicy, `${id} RedrivePolicy`);
      expect(template.Resources[target(redrive.deadLetterTargetArn) ?? '']?.Type, `${id} dead-letter queue`).toBe('AWS::SQS::Queue');
      expect(redrive.maxReceiveCount, id).toEqual(expect.any(Number));
    }
    for (const id of deadLetterTargets) expect(template.Resources[id ?? '']?.Type, `dead-letter target ${id ?? ''}`).toBe('AWS::SQS::Queue');
    // A listed queue that is gone from the template leaves a stale excuse behind.
    for (const id of Object.keys(WITHOUT_DEAD_LETTER_QUEUE)) expect(template.Resources[id]?.Type, `${id} (listed without a dead-letter queue)`).toBe('AWS::SQS::Queue');
  });

  it('signs every API route with IAM (SigV4)', () => {
    const pathOf = (resource: unknown): string => {
      const id = target(resource);
      const node = template.Resources[id ?? ''];
      if (node?.Type !== 'AWS::ApiGateway::Resource') return '';
      return `${pathOf(node.Properties?.ParentId)}/${String(node.Properties?.PathPart)}`;
    };
    const methods = ofType(template, 'AWS::ApiGateway::Method');
    const routes = methods.map(([, method]) => ({
      route: `${String(method.Properties?.HttpMethod)} ${pathOf(method.Properties?.ResourceId) || '/'}`,
      functionId: integratedFunction(method.Properties?.Integration),
    }));
    // Every documented route, each to the function the document's integration names.
    expect(routes.sort(byRoute)).toEqual(ROUTES.map(({ route, functionId }) => ({ route, functionId: frameworkFunctionId(functionId) })).sort(byRoute));
    for (const [id, method] of methods) expect(method.Properties?.AuthorizationType, id).toBe('AWS_IAM');
  });

  it('throttles each caller\'s API key on its own: every route wants a key of the usage plan', () => {
    for (const [id, method] of ofType(template, 'AWS::ApiGateway::Method')) expect(method.Properties?.ApiKeyRequired, id).toBe(true);
    const plans = ofType(template, 'AWS::ApiGateway::UsagePlan');
    expect(plans).toHaveLength(1);
    const [, plan] = plans[0] ?? ['', { Type: '' }];
    expect(plan.Properties?.Throttle).toEqual({ RateLimit: 10, BurstLimit: 20 });
    expect(plan.Properties?.ApiStages).toEqual([{ ApiId: { Ref: 'ApiGatewayRestApi' }, Stage: expect.any(String) as unknown }]);
  });

  it('validates POST /builds against the model rendered from the OpenAPI document', async () => {
    const [, post] = ofType(template, 'AWS::ApiGateway::Method').find(([, method]) => method.Properties?.HttpMethod === 'POST') ?? ['', { Type: '' }];
    const validator = template.Resources[target(post.Properties?.RequestValidatorId) ?? ''];
    expect(validator?.Properties).toMatchObject({ ValidateRequestBody: true });
    const models = record(post.Properties?.RequestModels, 'RequestModels');
    const model = template.Resources[target(models['application/json']) ?? ''];
    const rendered = JSON.parse(await readFile(join(REQUEST_MODELS_DIR, 'submit-request.json'), 'utf8')) as unknown;
    expect(model?.Properties?.Schema).toEqual(rendered);
  });

  it('cleans up after ABORTED, TIMED_OUT and FAILED executions of the state machine', () => {
    // The other rules are schedules (the volume pool tender's).
    const rules = ofType(template, 'AWS::Events::Rule').filter(([, rule]) => rule.Properties?.EventPattern !== undefined);
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0] ?? ['', { Type: '' }];
    const pattern = record(rule.Properties?.EventPattern, 'EventPattern');
    expect(pattern.source).toEqual(['aws.states']);
    expect(pattern['detail-type']).toEqual(['Step Functions Execution Status Change']);
    const detail = record(pattern.detail, 'detail');
    expect(list(detail.status as string[]).sort()).toEqual(['ABORTED', 'FAILED', 'TIMED_OUT']);
    expect(list(detail.stateMachineArn as unknown[]).map(target)).toEqual(['BuildImageStateMachine']);
    const targets = list(rule.Properties?.Targets as { Arn: unknown }[] | undefined);
    const cleanUp = lambdas.find(([, fn]) => fn.Properties?.Handler === 'functions/clean-up-build.handler');
    expect(targets.map((t) => target(t.Arn))).toEqual([cleanUp?.[0]]);
  });

  it('schedules each family of factory.yml on EventBridge Scheduler, invoking the scheduler function with the family', async () => {
    const config = await loadFactoryConfig(join(ROOT, 'factory.yml'));
    const scheduled = Object.entries(config.families).filter(([, family]) => family.schedule !== undefined);
    expect(scheduled.length).toBeGreaterThan(0);
    const runSchedule = lambdas.find(([, fn]) => fn.Properties?.Handler === 'functions/run-schedule.handler')?.[0];
    const builds = ofType(template, 'AWS::Scheduler::Schedule').filter(([, schedule]) => target(record(schedule.Properties?.Target, 'Target').Arn) === runSchedule);
    expect(builds.map(([, schedule]) => schedule.Properties?.Name).sort()).toEqual(scheduled.map(([name]) => `build-${name}`).sort());
    for (const [name, family] of scheduled) {
      const [, schedule] = builds.find(([, candidate]) => candidate.Properties?.Name === `build-${name}`) ?? ['', { Type: '' }];
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: `cron(${family.schedule?.cron ?? ''})`,
        ScheduleExpressionTimezone: family.schedule?.timezone,
        State: family.schedule?.enabled === false ? 'DISABLED' : 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
      });
      const scheduleTarget = record(schedule.Properties?.Target, 'Target');
      expect(JSON.parse(String(scheduleTarget.Input))).toEqual({ family: name });
      // The one scheduler role, which may invoke the scheduled functions and nothing else.
      const role = template.Resources[target(scheduleTarget.RoleArn) ?? ''];
      const statements = statementsOf(role ?? { Type: '' });
      expect(statements.flatMap((statement) => list(statement.Action))).toEqual(['lambda:InvokeFunction']);
      expect(statements.flatMap((statement) => list(statement.Resource)).map(target)).toContain(runSchedule);
    }
  });

  it('packages factory.yml, and the folders of its families\' templates, with the functions that run families', async () => {
    const config = await loadFactoryConfig(join(ROOT, 'factory.yml'));
    for (const handler of ['functions/run-schedule.handler', 'functions/start-family-run.handler', 'functions/list-families.handler']) {
      const [id, fn] = lambdas.find(([, candidate]) => candidate.Properties?.Handler === handler) ?? ['', { Type: '' }];
      const files = [...readZip(join(SERVERLESS_DIR, basename(String(record(fn.Properties?.Code, `${id} Code`).S3Key)))).keys()];
      expect(files, id).toContain('factory.yml');
      if (handler === 'functions/list-families.handler') continue;
      for (const family of Object.values(config.families)) expect(files, id).toContain(family.template);
    }
  });

  it('ships the HCL2 parser\'s WASM files with every function that loads templates', () => {
    for (const handler of ['functions/submit-build.handler', 'functions/run-schedule.handler', 'functions/start-family-run.handler']) {
      const [id, fn] = lambdas.find(([, candidate]) => candidate.Properties?.Handler === handler) ?? ['', { Type: '' }];
      const files = [...readZip(join(SERVERLESS_DIR, basename(String(record(fn.Properties?.Code, `${id} Code`).S3Key)))).keys()];
      for (const wasm of PARSER_WASM_FILES) expect(files, id).toContain(wasm);
    }
  });

  it('names what a user needs in the outputs', () => {
    for (const name of ['ApiUrl', 'ClaimsQueueUrl', 'ArtifactsBucket', 'StateMachineArn', 'WorkerInstanceProfile', 'HostQueuePrefix']) {
      expect(template.Outputs?.[name], name).toBeDefined();
    }
  });

  it('keeps the artifacts bucket private, encrypted, TLS-only and expiring', () => {
    const [[id, bucket] = ['', { Type: '' }]] = ofType(template, 'AWS::S3::Bucket').filter(([name]) => name === 'ArtifactsBucket');
    expect(id).toBe('ArtifactsBucket');
    expect(Object.values(record(bucket.Properties?.PublicAccessBlockConfiguration, 'PublicAccessBlockConfiguration'))).toEqual([true, true, true, true]);
    expect(bucket.Properties?.BucketEncryption).toBeDefined();
    const rules = list((bucket.Properties?.LifecycleConfiguration as { Rules: { Prefix?: string; ExpirationInDays?: number }[] }).Rules);
    for (const prefix of ['bundles/', 'logs/']) {
      expect(rules.find((rule) => rule.Prefix === prefix)?.ExpirationInDays, prefix).toBeGreaterThan(0);
    }
    const policies = ofType(template, 'AWS::S3::BucketPolicy').filter(([, policy]) => target(policy.Properties?.Bucket) === id);
    const statements = policies.flatMap(([, policy]) => list((policy.Properties?.PolicyDocument as { Statement: unknown[] }).Statement));
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('zips each function without chroot engine code, and the bundle loads', async () => {
    expect(lambdas.length).toBe(HANDLERS.length);
    for (const [id, fn] of lambdas) {
      const key = String(record(fn.Properties?.Code, `${id} Code`).S3Key);
      const files = readZip(join(SERVERLESS_DIR, basename(key)));
      const handler = String(fn.Properties?.Handler);
      const module = `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`;
      expect([...files.keys()], id).toContain(module);
      for (const [name, content] of files) {
        const text = content.toString('utf8');
        expect(CHROOT_MARKERS.filter((marker) => text.includes(marker)), `${id}: ${name}`).toEqual([]);
      }

      // The ES module bundle must load under Node as Lambda loads it, with `handler` exported:
      // a CommonJS dependency that trips over the ESM output fails here, not at the first request.
      const dir = join(workDir, id);
      for (const [name, content] of files) {
        await mkdir(dirname(join(dir, name)), { recursive: true });
        await writeFile(join(dir, name), content);
      }
      const probe = 'const m = await import(process.argv[1]); if (typeof m.handler !== "function") throw new Error("no handler export");';
      const loaded = await execa(process.execPath, ['--input-type=module', '-e', probe, pathToFileURL(join(dir, module)).href], {
        cwd: dir,
        reject: false,
        all: true,
      });
      expect(loaded.exitCode, `${id}: ${loaded.all}`).toBe(0);
    }
  });

  it('keeps the bundles lean: no SDK shapes of operations no handler sends, no whole zod', () => {
    for (const [id, fn] of lambdas) {
      const key = String(record(fn.Properties?.Code, `${id} Code`).S3Key);
      const handler = String(fn.Properties?.Handler);
      const module = `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`;
      const text = readZip(join(SERVERLESS_DIR, basename(key))).get(module)?.toString('utf8') ?? '';
      // EC2's shapes for an operation the factory never calls (scripts/esbuild-plugins.js),
      // and zod's locales but the English one (the named `z` import keeps them all: eslint.config.js).
      expect(text, id).not.toContain('AcceptAddressTransferRequest');
      expect(text, id).not.toContain('zod/v4/locales/de.js');
      // Was 3.9 MB for submit-build; the biggest is 2.1 MB now.
      expect(text.length, id).toBeLessThan(2_600_000);
    }
  });
});
