/**
 * The chroot hosts as CloudFormation will see them (`serverless package`, offline; cfn-lint
 * runs in package.test.ts): a launch template with IMDSv2 only, an encrypted root volume and
 * the worker's instance profile, whose user data installs the worker artifact after checking
 * its sha256; an Auto Scaling group from the stack's parameters, only when subnets are given;
 * the termination hook the worker's drain completes; scaling on the claims queue's backlog.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageDeployment, type Resource, type Template } from '../../local/factory-resources.ts';

interface FleetTemplate extends Template {
  Parameters?: Record<string, { Type: string; Default?: unknown }>;
  Conditions?: Record<string, unknown>;
}

type Node = Record<string, unknown>;

const { version: VERSION } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string };

let template: FleetTemplate;

beforeAll(async () => {
  template = await packageDeployment('ci');
}, 180_000);

function resource(id: string): Resource & { Condition?: string } {
  const found = template.Resources[id];
  if (found === undefined) throw new Error(`no resource ${id}`);
  return found;
}

const props = (id: string): Node => resource(id).Properties ?? {};

/** The user data's script, before Fn::Sub fills it. */
function userData(): string {
  const data = (props('WorkerLaunchTemplate').LaunchTemplateData as Node).UserData as { 'Fn::Base64': { 'Fn::Sub': string } };
  return data['Fn::Base64']['Fn::Sub'];
}

describe('the fleet of chroot hosts', () => {
  it('launches hosts with IMDSv2 only (hop limit 1), the worker instance profile and an encrypted root volume', () => {
    const data = props('WorkerLaunchTemplate').LaunchTemplateData as Node;
    expect(data.MetadataOptions).toEqual({ HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data.IamInstanceProfile).toEqual({ Arn: { 'Fn::GetAtt': ['WorkerInstanceProfile', 'Arn'] } });
    expect(data.InstanceType).toEqual({ Ref: 'WorkerInstanceType' });
    expect(data.ImageId).toEqual({ Ref: 'WorkerImageId' });
    const [root, ...others] = data.BlockDeviceMappings as { DeviceName: string; Ebs: Node }[];
    expect(others).toEqual([]);
    expect(root?.Ebs).toMatchObject({
      Encrypted: true,
      DeleteOnTermination: true,
      VolumeSize: { Ref: 'WorkerRootVolumeSize' },
      VolumeType: { Ref: 'WorkerRootVolumeType' },
    });
  });

  it('takes instance type, volume, sizes and subnets from parameters whose defaults are the stage\'s params', () => {
    expect(template.Parameters).toMatchObject({
      WorkerSubnetIds: { Type: 'String', Default: '' },
      WorkerInstanceType: { Type: 'String', Default: 'm6i.large' },
      WorkerRootVolumeSize: { Type: 'Number', Default: 30 },
      WorkerRootVolumeType: { Type: 'String', Default: 'gp3' },
      WorkerMinHosts: { Type: 'Number', Default: 0 },
      WorkerMaxHosts: { Type: 'Number', Default: 4 },
      WorkerBuildsPerHost: { Type: 'Number', Default: 2 },
      WorkerImageId: { Type: 'AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>' },
    });
  });

  it('installs the worker from the deployment\'s artifact, checking its sha256 first, and starts the unit', () => {
    const script = userData();
    const output = String(template.Outputs?.WorkerArtifactKey?.Value);
    const [key = '', sha256 = ''] = output.split(' ');
    expect(sha256).toMatch(/^([0-9a-f]{64}|unpackaged)$/);
    // The key names the version and the checksum: a new artifact is a new launch template version.
    expect(key).toBe(`ami-factory-worker/ami-factory-worker-${VERSION}-${sha256.slice(0, 16)}.tgz`);
    const lines = script.split('\n');
    const at = (pattern: RegExp): number => lines.findIndex((line) => pattern.test(line));
    const download = at(/^aws s3 cp .*"s3:\/\/\$\{ServerlessDeploymentBucket\}\/(.+)" "\$artifact"$/);
    const check = at(new RegExp(`^echo "${sha256}  \\$artifact" \\| sha256sum --check --strict$`));
    const unpack = at(/^tar --extract .*--file "\$artifact" --directory \/opt\/ami-factory/);
    const start = at(/^systemctl enable --now ami-factory-worker$/);
    expect(lines[download], script).toContain(key);
    expect([download, check, unpack, start].every((line) => line >= 0), script).toBe(true);
    expect(download < check && check < unpack && unpack < start, 'download, verify, unpack, start').toBe(true);
    expect(lines[0]).toBe('#!/bin/bash');
    expect(script).toContain('set -euo pipefail');
    expect(script).not.toMatch(/git (clone|checkout)|npm (ci|install)/);
  });

  it('writes the worker config from the stack: queues, bucket, region, group and drain hook', () => {
    const script = userData();
    const config = /<<'CONFIG'\n([\s\S]*?)\nCONFIG\n/.exec(script)?.[1] ?? '';
    // Fn::Sub's references stand in for their values; then it is the JSON the worker reads.
    const filled = config.replace(/\$\{([A-Za-z:]+)\}/g, (_match, name: string) => (name === 'WorkerBuildsPerHost' ? '2' : `value-of-${name}`));
    expect(JSON.parse(filled)).toEqual({
      region: 'value-of-AWS::Region',
      claimsQueueUrl: 'value-of-ClaimsQueue',
      hostQueuePrefix: 'ami-factory-ci',
      artifactsBucket: 'value-of-ArtifactsBucket',
      maxConcurrentBuilds: 2,
      drainTimeoutSeconds: 1800,
      autoScaling: { groupName: 'ami-factory-ci-workers', lifecycleHookName: 'ami-factory-ci-drain' },
    });
    expect(script).toContain('--check --config /etc/ami-factory/worker.json');
  });

  it('has an Auto Scaling group across the subnets only when subnets are given, sized from parameters', () => {
    expect(template.Conditions?.HasWorkerSubnets).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'WorkerSubnetIds' }, ''] }] });
    for (const id of ['WorkerAutoScalingGroup', 'WorkerScaleOutPolicy', 'WorkerScaleInPolicy', 'WorkerBacklogAlarm', 'WorkerIdleAlarm']) {
      expect(resource(id).Condition, id).toBe('HasWorkerSubnets');
    }
    expect(props('WorkerAutoScalingGroup')).toMatchObject({
      AutoScalingGroupName: 'ami-factory-ci-workers',
      LaunchTemplate: { LaunchTemplateId: { Ref: 'WorkerLaunchTemplate' }, Version: { 'Fn::GetAtt': ['WorkerLaunchTemplate', 'LatestVersionNumber'] } },
      MinSize: { Ref: 'WorkerMinHosts' },
      MaxSize: { Ref: 'WorkerMaxHosts' },
      VPCZoneIdentifier: { 'Fn::Split': [',', { Ref: 'WorkerSubnetIds' }] },
    });
  });

  it('holds a terminating host until its worker drained, longer than the worker\'s drain timeout', () => {
    const hooks = props('WorkerAutoScalingGroup').LifecycleHookSpecificationList as Node[];
    expect(hooks).toEqual([
      {
        LifecycleHookName: 'ami-factory-ci-drain',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 2400,
        DefaultResult: 'CONTINUE',
      },
    ]);
    expect(Number(hooks[0]?.HeartbeatTimeout)).toBeGreaterThan(1800 + 20);
  });

  it('replaces hosts one at a time on a deploy that changes them, each draining through the hook, with scaling suspended meanwhile', () => {
    const group = resource('WorkerAutoScalingGroup') as Resource & { UpdatePolicy?: { AutoScalingRollingUpdate?: Node } };
    expect(group.UpdatePolicy?.AutoScalingRollingUpdate).toMatchObject({ MaxBatchSize: 1, MinInstancesInService: 0 });
    expect(group.UpdatePolicy?.AutoScalingRollingUpdate?.SuspendProcesses).toEqual(expect.arrayContaining(['AlarmNotification', 'ReplaceUnhealthy']));
  });

  it('gives the hosts a security group of their own, with no inbound rule, when the VPC is given', () => {
    const group = resource('WorkerSecurityGroup');
    expect(group.Condition).toBe('HasWorkerVpc');
    expect(props('WorkerSecurityGroup').SecurityGroupIngress).toBeUndefined();
    const egress = props('WorkerSecurityGroup').SecurityGroupEgress as { IpProtocol: string; FromPort: number }[];
    expect(egress.map((rule) => `${rule.IpProtocol}/${rule.FromPort}`).sort()).toEqual(['tcp/443', 'tcp/53', 'tcp/80', 'udp/53']);
    expect((props('WorkerLaunchTemplate').LaunchTemplateData as Node).SecurityGroupIds).toEqual({
      'Fn::If': ['HasWorkerVpc', [{ Ref: 'WorkerSecurityGroup' }], { Ref: 'AWS::NoValue' }],
    });
    expect(template.Parameters?.WorkerVpcId).toMatchObject({ Type: 'String', Default: '' });
  });

  it('lets the hosts protect themselves from scale-in while they have builds, in their own group only', () => {
    const role = props('WorkerInstanceRole');
    const statements = ((role.Policies as { PolicyDocument: { Statement: Node[] } }[]).flatMap((policy) => policy.PolicyDocument.Statement));
    const protect = statements.find((statement) => statement.Sid === 'ProtectWhileBusy');
    expect(protect?.Action).toBe('autoscaling:SetInstanceProtection');
    expect(JSON.stringify(protect?.Resource)).toContain('autoScalingGroupName/ami-factory-ci-workers');
  });

  it('scales out on waiting claims from zero hosts, and in one host at a time after 15 idle minutes', () => {
    const queueDepth = {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ClaimsQueue', 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 60,
    };
    expect(props('WorkerBacklogAlarm')).toMatchObject({
      ...queueDepth,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: 'WorkerScaleOutPolicy' }],
    });
    expect(props('WorkerIdleAlarm')).toMatchObject({
      ...queueDepth,
      Threshold: 0,
      EvaluationPeriods: 15,
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: 'WorkerScaleInPolicy' }],
    });
    const out = props('WorkerScaleOutPolicy');
    expect(out).toMatchObject({ AutoScalingGroupName: { Ref: 'WorkerAutoScalingGroup' }, PolicyType: 'StepScaling', AdjustmentType: 'ChangeInCapacity' });
    const steps = out.StepAdjustments as { MetricIntervalLowerBound?: number; MetricIntervalUpperBound?: number; ScalingAdjustment: number }[];
    // Every backlog above the threshold adds hosts; the steps are contiguous and grow.
    expect(steps[0]?.MetricIntervalLowerBound).toBe(0);
    expect(steps.at(-1)?.MetricIntervalUpperBound).toBeUndefined();
    for (let i = 1; i < steps.length; i++) {
      expect(steps[i]?.MetricIntervalLowerBound).toBe(steps[i - 1]?.MetricIntervalUpperBound);
      expect(steps[i]?.ScalingAdjustment).toBeGreaterThan(steps[i - 1]?.ScalingAdjustment ?? 0);
    }
    expect(props('WorkerScaleInPolicy')).toMatchObject({
      PolicyType: 'StepScaling',
      AdjustmentType: 'ChangeInCapacity',
      StepAdjustments: [{ MetricIntervalUpperBound: 0, ScalingAdjustment: -1 }],
    });
  });
});
