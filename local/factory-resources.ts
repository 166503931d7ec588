/**
 * The local factory's AWS resources, made in the local AWS from the deployment itself: the
 * CloudFormation template that `serverless package` writes from serverless.yml. Queues (with
 * their dead-letter redrive), the artifacts bucket and the state machine (its definition and
 * substitutions) come from that template, and so do the functions' environment variables,
 * so nothing here is a second hand-kept copy of the deployment.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { localAwsClientConfig } from './moto-server.ts';
import { cacheDir, repoRoot } from './paths.ts';

export const LOCAL_STAGE = 'local';
export const LOCAL_REGION = 'us-east-1';
const ACCOUNT_ID = '123456789012';
/** The local AWS's one account. */
export const LOCAL_ACCOUNT_ID = ACCOUNT_ID;

export interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}

/** The parts of a CloudFormation template the local factory and the deployment tests read. */
export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export interface FactoryResources {
  claimsQueueUrl: string;
  hostQueuePrefix: string;
  artifactsBucket: string;
  /** The build-image workflow. */
  stateMachineArn: string;
  /** The distribute-image workflow (re-distributions). */
  distributeStateMachineArn: string;
  /** The regional-call function's queue: its trigger is the local factory's to run. */
  regionalCallsQueueUrl: string;
  /** The resource-waits function's queue: its trigger is the local factory's to run too. */
  resourceWaitsQueueUrl: string;
  /** The volume pool tender's queue: refills after builds took pooled volumes. */
  volumePoolsQueueUrl: string;
  /** Each function's environment, by handler module (`functions/submit-build`). */
  functionEnvironments: Record<string, Record<string, string>>;
}

/**
 * What the packaged template is made from: the deployment's configuration, its plugins and
 * scripts, the rendered workflows and request models, the factory configuration, the locked
 * dependencies, and the functions' code with what it bundles. Tests, docs, the worker, the
 * CLI and the local factory are not in it.
 */
const PACKAGE_INPUTS = ['serverless.yml', 'factory.yml', 'package-lock.json', 'scripts', 'statemachine', 'functions', 'contract', 'model', 'examples'];

/** SHA-256 over the inputs' paths and contents, in a stable order. */
async function packageInputsHash(): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (path: string): Promise<void> => {
    const info = await stat(join(repoRoot, path));
    if (info.isDirectory()) {
      for (const entry of (await readdir(join(repoRoot, path))).sort()) await visit(join(path, entry));
      return;
    }
    hash.update(`${path}\u0000`).update(await readFile(join(repoRoot, path))).update('\u0000');
  };
  for (const input of PACKAGE_INPUTS) await visit(input);
  return hash.digest('hex');
}

/**
 * Runs `serverless package` offline and reads the CloudFormation template it writes, or reuses
 * the stage's last package when none of its inputs changed (most of `npm start`'s time
 * otherwise). The check and the packaging run under one lock, so two callers never read a
 * package the other is rewriting.
 */
export async function packageDeployment(stage = LOCAL_STAGE): Promise<Template> {
  const packageDir = join(cacheDir, 'package', stage);
  // flock: one packaging at a time in this checkout (scripts/package-and-lint.sh takes the
  // same lock): the framework and its esbuild plugin share work folders.
  await mkdir(cacheDir, { recursive: true });
  const lock = join(cacheDir, 'package.lock');
  const inputs = await packageInputsHash();
  const script = [
    'if [ -f "$DIR/inputs.sha256" ] && [ "$(cat "$DIR/inputs.sha256")" = "$INPUTS" ] && [ -f "$DIR/cloudformation-template-update-stack.json" ]; then exit 0; fi',
    'rm -f "$DIR/inputs.sha256"',
    'npx --no-install serverless package --stage "$STAGE" --region "$REGION" --package "$DIR"',
    'printf %s "$INPUTS" > "$DIR/inputs.sha256"',
  ].join('\n');
  await execa('flock', [lock, 'sh', '-ec', script], {
    cwd: repoRoot,
    preferLocal: true,
    env: { SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', DIR: packageDir, INPUTS: inputs, STAGE: stage, REGION: LOCAL_REGION },
  });
  return JSON.parse(await readFile(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
}

/** Physical ids of what has been created so far, for Ref and Fn::GetAtt. */
interface Physical {
  ref: string;
  attributes: Record<string, string>;
}

function resolver(created: Map<string, Physical>) {
  const pseudo: Record<string, string> = {
    'AWS::Region': LOCAL_REGION,
    'AWS::AccountId': ACCOUNT_ID,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
  };
  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    if (typeof value !== 'object' || value === null) return value;
    const node = value as Record<string, unknown>;
    if ('Ref' in node) {
      const name = String(node.Ref);
      const found = pseudo[name] ?? created.get(name)?.ref;
      if (found === undefined) throw new Error(`the local factory cannot resolve Ref ${name}`);
      return found;
    }
    if ('Fn::GetAtt' in node) {
      const [logicalId, attribute] = node['Fn::GetAtt'] as [string, string];
      const found = created.get(logicalId)?.attributes[attribute];
      if (found === undefined) throw new Error(`the local factory cannot resolve Fn::GetAtt ${logicalId}.${attribute}`);
      return found;
    }
    if ('Fn::Sub' in node) {
      const text = String(node['Fn::Sub']);
      return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
        const [logicalId, attribute] = name.split('.');
        if (attribute !== undefined) return String(resolve({ 'Fn::GetAtt': [logicalId, attribute] }));
        return String(resolve({ Ref: name }));
      });
    }
    if ('Fn::Join' in node) {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => String(resolve(p))).join(separator);
    }
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolve(v)]));
  };
  return resolve;
}

/** A resolved scalar property as text (template properties are typed `unknown`). */
const text = (value: unknown): string =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);

const ofType = (template: Template, type: string): [string, Resource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/** Creates the template's queues, bucket and state machine in the local AWS at `endpoint`. */
export async function createFactoryResources(endpoint: string, template: Template): Promise<FactoryResources> {
  const config = localAwsClientConfig(endpoint, LOCAL_REGION);
  const sqs = new SQSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const sfn = new SFNClient(config);
  const created = new Map<string, Physical>();
  const resolve = resolver(created);

  // Queues: dead-letter queues first, so a redrive policy can name their ARN.
  const queues = ofType(template, 'AWS::SQS::Queue').sort(([, a]) => (a.Properties?.RedrivePolicy ? 1 : -1));
  for (const [logicalId, queue] of queues) {
    const properties = resolve(queue.Properties ?? {}) as Record<string, unknown>;
    const attributes: Record<string, string> = {};
    for (const name of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds']) {
      if (properties[name] !== undefined) attributes[name] = text(properties[name]);
    }
    if (properties.RedrivePolicy) attributes.RedrivePolicy = JSON.stringify(properties.RedrivePolicy);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: text(properties.QueueName ?? logicalId), Attributes: attributes }));
    const url = QueueUrl ?? '';
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    created.set(logicalId, { ref: url, attributes: { Arn: Attributes?.QueueArn ?? '', QueueUrl: url, QueueName: String(properties.QueueName) } });
  }

  for (const [logicalId] of ofType(template, 'AWS::S3::Bucket')) {
    if (logicalId === 'ServerlessDeploymentBucket') continue; // where `serverless deploy` uploads code
    const name = `ami-factory-${LOCAL_STAGE}-${logicalId.toLowerCase()}`;
    await s3.send(new CreateBucketCommand({ Bucket: name }));
    created.set(logicalId, { ref: name, attributes: { Arn: `arn:aws:s3:::${name}` } });
  }

  const stateMachines: Record<string, string> = {};
  for (const [logicalId, machine] of ofType(template, 'AWS::StepFunctions::StateMachine')) {
    const properties = machine.Properties ?? {};
    const substitutions = resolve(properties.DefinitionSubstitutions ?? {}) as Record<string, string>;
    const definition = String(properties.DefinitionString).replace(/\$\{(\w+)\}/g, (placeholder, name: string) =>
      substitutions[name] !== undefined ? JSON.stringify(substitutions[name]).slice(1, -1) : placeholder,
    );
    const { stateMachineArn: arn } = await sfn.send(
      new CreateStateMachineCommand({
        name: text(properties.StateMachineName ?? logicalId),
        definition,
        // The local AWS does not check roles: the deployed role is not modelled here.
        roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/ami-factory-${LOCAL_STAGE}-state-machine`,
        type: 'STANDARD',
      }),
    );
    stateMachines[logicalId] = arn ?? '';
    created.set(logicalId, { ref: arn ?? '', attributes: { Arn: arn ?? '', Name: String(properties.StateMachineName) } });
  }

  const functionEnvironments: Record<string, Record<string, string>> = {};
  for (const [, fn] of ofType(template, 'AWS::Lambda::Function')) {
    const handler = text(fn.Properties?.Handler ?? '').replace(/\.handler$/, '');
    const variables = (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
    functionEnvironments[handler] = Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, String(resolve(v))]));
  }

  const output = (name: string): string => String(resolve(template.Outputs?.[name]?.Value ?? ''));
  return {
    claimsQueueUrl: output('ClaimsQueueUrl'),
    hostQueuePrefix: output('HostQueuePrefix'),
    artifactsBucket: output('ArtifactsBucket'),
    stateMachineArn: stateMachines.BuildImageStateMachine ?? '',
    distributeStateMachineArn: stateMachines.DistributeImageStateMachine ?? '',
    regionalCallsQueueUrl: created.get('RegionalCallsQueue')?.ref ?? '',
    resourceWaitsQueueUrl: created.get('ResourceWaitsQueue')?.ref ?? '',
    volumePoolsQueueUrl: created.get('VolumePoolsQueue')?.ref ?? '',
    functionEnvironments,
  };
}
