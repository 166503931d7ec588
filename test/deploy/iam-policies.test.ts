/**
 * The deployment's IAM policies as CloudFormation will see them (`serverless package`,
 * offline): every action that changes something in EC2, S3, SQS, Secrets Manager or EventBridge is held
 * either by a Condition or by resources narrower than "all of that type", and the few
 * exceptions are listed with their reasons. Then the conditions a shared factory relies on:
 * tag values, not only tag presence; a build secret readable only by the host it was tagged
 * for; the image attributes the workflow may set; events published only as the factory, on its bus.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { packageDeployment, type Resource, type Template } from '../../local/factory-resources.ts';

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const SERVICES = ['ec2', 's3', 'sqs', 'secretsmanager', 'events'];
/** Reads: what the statement lets a role look at, not change. */
const READ = /^(Describe|Get|List|Head)/;

/**
 * Statements that grant a change on every resource of a type, without a condition, and why
 * nothing narrower works. Keyed `Role/Sid`.
 */
const UNCONDITIONED: Readonly<Record<string, string>> = {
  'BuildImageStateMachineRole/CreateVolumeFromSourceSnapshot':
    'CreateVolume names the source snapshot as a resource it reads, not changes; public and shared source images belong to other accounts and carry no tag of ours',
  'TendVolumePoolsRole/CreateVolumeFromSourceSnapshot':
    'as the workflow\'s: the families\' source snapshots may be other accounts\', which carry no tag of ours',
  'TendVolumePoolsRole/FastSnapshotRestore':
    'Fast Snapshot Restore is switched on a family\'s source snapshot, which may be another account\'s and carries no tag of ours; the tender switches off only what it switched on (its record)',
  'BuildImageStateMachineRole/RegisterImageSnapshots':
    'RegisterImage names the snapshots it maps as resources it reads; extra mappings may use other accounts\' snapshots, which carry no tag of ours',
};

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** A resource as text: the Fn::Sub pattern, or the logical id a Ref or Fn::GetAtt names. */
function resourceText(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Record<string, unknown>;
  if (typeof node['Fn::Sub'] === 'string') return node['Fn::Sub'];
  if (typeof node.Ref === 'string') return `Ref:${node.Ref}`;
  if (Array.isArray(node['Fn::GetAtt'])) return `GetAtt:${(node['Fn::GetAtt'] as string[]).join('.')}`;
  return JSON.stringify(value);
}

/**
 * "Every resource of its type": `*`, or an ARN that fixes nothing below the resource type
 * (`...:volume/*`, `...:image/*`). A bucket prefix (`.../logs/*`), a queue name pattern or a
 * named resource (Ref, Fn::GetAtt) is narrower.
 */
function isEveryResource(text: string): boolean {
  if (text === '*') return true;
  return /^arn:\$\{AWS::Partition\}:(ec2|secretsmanager|sqs|s3|events):[^/]*:[a-z-]+\/\*$/.test(text) || /:(secret|queue):\*$/.test(text);
}

/** A literal, or an Fn::Join of literals, as CloudFormation renders it. */
function joined(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] } | null)?.['Fn::Join'];
  if (join === undefined) throw new Error(`not a literal or an Fn::Join: ${JSON.stringify(value)}`);
  return join[1].map(joined).join(join[0]);
}

function statementsOf(role: Resource): Statement[] {
  const policies = list(role.Properties?.Policies as { PolicyDocument: { Statement: Statement | Statement[] } }[] | undefined);
  return policies.flatMap((policy) => list(policy.PolicyDocument.Statement));
}

let template: Template;
let roles: [string, Resource][];

beforeAll(async () => {
  template = await packageDeployment('ci');
  roles = Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::IAM::Role');
}, 180_000);

function statement(roleId: string, sid: string): Statement {
  const role = template.Resources[roleId];
  const found = role === undefined ? undefined : statementsOf(role).find((candidate) => candidate.Sid === sid);
  if (found === undefined) throw new Error(`${roleId} has no statement ${sid}`);
  return found;
}

describe('the deployment\'s IAM policies', () => {
  it('hold every EC2, S3, SQS, Secrets Manager and EventBridge change by a condition or a narrow resource', () => {
    const loose: string[] = [];
    let mutations = 0;
    for (const [roleId, role] of roles) {
      for (const entry of statementsOf(role)) {
        const changes = list(entry.Action).filter((action) => {
          const [service = '', name = ''] = action.split(':');
          return SERVICES.includes(service) && !READ.test(name);
        });
        if (changes.length === 0) continue;
        mutations += changes.length;
        const where = `${roleId}/${entry.Sid ?? '(no Sid)'}`;
        const everything = list(entry.Resource).map(resourceText).filter(isEveryResource);
        const held = entry.Condition !== undefined && Object.keys(entry.Condition).length > 0;
        if (everything.length > 0 && !held && UNCONDITIONED[where] === undefined) loose.push(`${where}: ${changes.join(', ')} on ${everything.join(', ')}`);
      }
    }
    expect(mutations).toBeGreaterThan(20);
    expect(loose, 'changes on every resource of a type, without a condition').toEqual([]);
    // Each listed exception is still needed: a stale entry would hide a new loose statement.
    for (const where of Object.keys(UNCONDITIONED)) {
      const [roleId = '', sid = ''] = where.split('/');
      expect(statement(roleId, sid).Condition, where).toBeUndefined();
    }
  });

  it('lets only the workflows and the clean-up function publish events, as ami-factory and on the factory\'s bus', () => {
    const publishers = roles.flatMap(([roleId, role]) =>
      statementsOf(role)
        .filter((entry) => list(entry.Action).some((action) => action.startsWith('events:')))
        .map((entry) => ({ where: `${roleId}/${entry.Sid ?? '(no Sid)'}`, entry })),
    );
    expect(publishers.map(({ where }) => where).sort()).toEqual([
      'BuildImageStateMachineRole/PublishBuildEvents',
      'CleanUpBuildRole/PublishBuildEvents',
      'DistributeImageStateMachineRole/PublishDistributionEvents',
    ]);
    for (const { where, entry } of publishers) {
      expect(list(entry.Action), where).toEqual(['events:PutEvents']);
      // The stage's bus (params.default.eventBusName), never every bus.
      expect(list(entry.Resource).map(resourceText), where).toEqual(['arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default']);
      expect(entry.Condition, where).toEqual({ StringEquals: { 'events:source': 'ami-factory' } });
    }
  });

  it('checks the build id tag\'s value and the team tag on everything the workflow creates or changes in EC2', () => {
    for (const sid of ['CreateTaggedVolume', 'CreateTaggedSnapshot', 'RegisterTaggedImage']) {
      expect(statement('BuildImageStateMachineRole', sid).Condition, sid).toEqual({
        StringLike: { 'aws:RequestTag/ami-factory:build-id': 'b-*' },
        Null: { 'aws:RequestTag/ami-factory:team': 'false' },
      });
    }
    for (const sid of [
      'SnapshotBuildVolume',
      'TagBuildResources',
      'UseBuildVolumes',
      'ReplaceBuildImages',
      'DeleteBuildSnapshots',
      'RetireAndProtectBuildImages',
      'ShareBuildSnapshots',
    ]) {
      expect(statement('BuildImageStateMachineRole', sid).Condition, sid).toEqual({
        StringLike: { 'aws:ResourceTag/ami-factory:build-id': 'b-*' },
        Null: { 'aws:ResourceTag/ami-factory:team': 'false' },
      });
    }
  });

  it('lets the workflow set only the image attributes it plans: ImdsSupport, launch permissions, product codes', () => {
    const modify = statement('BuildImageStateMachineRole', 'SetBuildImageAttributes');
    expect(modify.Action).toBe('ec2:ModifyImageAttribute');
    expect(modify.Condition?.StringEqualsIfExists).toEqual({ 'ec2:Attribute': ['imdsSupport', 'launchPermission', 'productCodes'] });
    // The regional-call function sets the same on copies, less ImdsSupport (a copy keeps its source's).
    const copies = statement('RegionalCallRole', 'SetCopyAttributes');
    expect(copies.Condition?.StringEqualsIfExists).toEqual({ 'ec2:Attribute': ['launchPermission', 'productCodes'] });
    const others = roles.flatMap(([, role]) => statementsOf(role)).filter((entry) => list(entry.Action).includes('ec2:ModifyImageAttribute'));
    // The distribute-image workflow adds launch permissions only.
    const shares = statement('DistributeImageStateMachineRole', 'ShareImages');
    expect(shares.Condition?.StringEqualsIfExists).toEqual({ 'ec2:Attribute': ['launchPermission'] });
    expect(others).toEqual(expect.arrayContaining([modify, copies, shares]));
    expect(others).toHaveLength(3);
  });

  it('lets a host read a build secret only once it is tagged with that host\'s instance ARN', () => {
    const read = statement('WorkerInstanceRole', 'ReadOwnBuildSecrets');
    expect(read.Action).toBe('secretsmanager:GetSecretValue');
    expect(resourceText(read.Resource)).toMatch(/:secret:ami-factory\/ci\/builds\/\*$/);
    // The policy variable, as CloudFormation's Fn::Join makes it from the template's parts.
    const equals = read.Condition?.StringEquals ?? {};
    expect(Object.keys(read.Condition ?? {})).toEqual(['StringEquals']);
    expect(Object.keys(equals)).toEqual(['secretsmanager:ResourceTag/ami-factory:instance-arn']);
    expect(joined(equals['secretsmanager:ResourceTag/ami-factory:instance-arn'])).toBe('${ec2:SourceInstanceARN}');
    // No other statement of any role reads secrets.
    const readers = roles.flatMap(([id, role]) => statementsOf(role).filter((entry) => list(entry.Action).includes('secretsmanager:GetSecretValue')).map((entry) => `${id}/${entry.Sid ?? ''}`));
    expect(readers).toEqual(['WorkerInstanceRole/ReadOwnBuildSecrets']);
    // The workflow may add only the instance tag.
    expect(statement('BuildImageStateMachineRole', 'HandBuildSecretsToHosts').Condition?.['ForAllValues:StringEquals']).toEqual({ 'aws:TagKeys': ['ami-factory:instance-arn'] });
  });

  it('lets the worker write only logs, and read only bundles, its own artifact and its hosts\' queues', () => {
    const worker = statementsOf(template.Resources.WorkerInstanceRole as Resource);
    const s3Writes = worker.filter((entry) => list(entry.Action).some((action) => action.startsWith('s3:') && !READ.test(action.slice(3))));
    expect(s3Writes.map((entry) => [entry.Action, resourceText(entry.Resource)])).toEqual([['s3:PutObject', '${ArtifactsBucket.Arn}/logs/*']]);
    const s3Reads = worker.filter((entry) => list(entry.Action).includes('s3:GetObject'));
    expect(s3Reads.map((entry) => resourceText(entry.Resource))).toEqual([
      '${ArtifactsBucket.Arn}/bundles/*',
      // The worker artifact the deployment uploaded, which the user data installs.
      'arn:${AWS::Partition}:s3:::${ServerlessDeploymentBucket}/ami-factory-worker/*',
    ]);
    const queueReads = worker.filter((entry) => list(entry.Action).includes('sqs:ReceiveMessage')).flatMap((entry) => list(entry.Resource).map(resourceText));
    expect(queueReads).toEqual(['GetAtt:ClaimsQueue.Arn', expect.stringMatching(/:ami-factory-ci-host-i-\*$/) as string]);
  });

  it('lets a host complete lifecycle actions and set its scale-in protection in this stage\'s worker group only', () => {
    const worker = statementsOf(template.Resources.WorkerInstanceRole as Resource);
    const scaling = worker.filter((entry) => list(entry.Action).some((action) => action.startsWith('autoscaling:')));
    expect(scaling.map((entry) => [entry.Action, resourceText(entry.Resource)])).toEqual([
      [
        'autoscaling:CompleteLifecycleAction',
        'arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/ami-factory-ci-workers',
      ],
      [
        'autoscaling:SetInstanceProtection',
        'arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/ami-factory-ci-workers',
      ],
    ]);
    expect(template.Resources.WorkerAutoScalingGroup?.Properties?.AutoScalingGroupName).toBe('ami-factory-ci-workers');
  });

  it('lets each function reach only its own prefixes of the artifacts bucket', () => {
    const prefixes = (roleId: string): string[] =>
      statementsOf(template.Resources[roleId] as Resource)
        .filter((entry) => list(entry.Action).some((action) => action.startsWith('s3:') && action !== 's3:ListBucket'))
        .flatMap((entry) => list(entry.Resource).map(resourceText))
        .sort();
    const submit = ['${ArtifactsBucket.Arn}/bake-keys/*', '${ArtifactsBucket.Arn}/bundles/*', '${ArtifactsBucket.Arn}/names/*', '${ArtifactsBucket.Arn}/owners/*'];
    expect(prefixes('SubmitBuildRole')).toEqual(submit);
    // A family's run starts its build as a submit does, and keeps its decisions.
    for (const role of ['RunScheduleRole', 'StartFamilyRunRole']) expect(prefixes(role)).toEqual([...submit, '${ArtifactsBucket.Arn}/schedules/*']);
    expect(prefixes('ListFamiliesRole')).toEqual(['${ArtifactsBucket.Arn}/schedules/latest/*']);
    expect(prefixes('GetBuildLogRole')).toEqual(['${ArtifactsBucket.Arn}/logs/*']);
    expect(prefixes('CleanUpBuildRole')).toEqual(['${ArtifactsBucket.Arn}/names/*']);
    expect(statement('ListBuildsRole', 'ListTeamBuilds').Condition).toEqual({ StringLike: { 's3:prefix': 'owners/*' } });
  });

  it('lets the lifecycle retire only images and snapshots a build made for a family, and reach other accounts only through the target role', () => {
    const made = { StringLike: { 'aws:ResourceTag/ami-factory:build-id': 'b-*' }, Null: { 'aws:ResourceTag/ami-factory:family': 'false' } };
    const retire = statement('LifecycleRole', 'RetireFamilyImages');
    expect(list(retire.Action).sort()).toEqual(['ec2:DeregisterImage', 'ec2:EnableImageDeprecation']);
    expect(resourceText(retire.Resource)).toBe('arn:${AWS::Partition}:ec2:*::image/*');
    expect(retire.Condition).toEqual(made);
    const snapshots = statement('LifecycleRole', 'DeleteFamilySnapshots');
    expect(snapshots.Action).toBe('ec2:DeleteSnapshot');
    expect(resourceText(snapshots.Resource)).toBe('arn:${AWS::Partition}:ec2:*::snapshot/*');
    expect(snapshots.Condition).toEqual(made);
    // Nothing else it may change in EC2, and no other role than the target role to assume.
    const role = template.Resources.LifecycleRole as Resource;
    const changes = statementsOf(role).flatMap((entry) => list(entry.Action)).filter((action) => action.startsWith('ec2:') && !READ.test(action.slice(4)));
    expect(changes.sort()).toEqual(['ec2:DeleteSnapshot', 'ec2:DeregisterImage', 'ec2:EnableImageDeprecation']);
    const assume = statementsOf(role).filter((entry) => list(entry.Action).includes('sts:AssumeRole'));
    expect(assume.map((entry) => resourceText(entry.Resource))).toEqual(['arn:${AWS::Partition}:iam::*:role/ami-factory-target']);
    // The API's function and the schedule's share the role (deploy/target-account-role.yml trusts LifecycleRole).
    const users = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function' && JSON.stringify(resource.Properties?.Role ?? '').includes('LifecycleRole'));
    expect(users).toHaveLength(2);
  });
});
