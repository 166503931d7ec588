/**
 * What the factory configuration (factory.yml) adds to the deployment, worked out at package
 * time (scripts/serverless-factory-config.js hands it to the Serverless Framework):
 *
 * - the files the functions that read the configuration need beside their bundle: factory.yml
 *   itself and the folder of each family's template (its scripts and files), as
 *   `package.patterns`;
 * - per family schedule, an EventBridge Scheduler schedule invoking the scheduler function
 *   (functions/run-schedule.ts) with `{"family": NAME}`, in the stack's own schedule group;
 *   per family lifecycle, one invoking the lifecycle function on the lifecycle's schedule (the
 *   family's otherwise), when the deployment has that function; and the one role the
 *   schedules invoke with, allowed to invoke exactly those functions.
 *
 * The configuration is read and checked by the functions' own loader, so a file the functions
 * would refuse fails the package, and a cron EventBridge would refuse fails it too.
 */
import { join, posix } from 'node:path';
import type { FactoryConfig, Schedule } from '../contract/factory-config.ts';
import { FACTORY_CONFIG_FILE } from '../functions/lib/factory-config.ts';
import { scheduleExpression } from '../functions/lib/schedule-cron.ts';
import { PARSER_WASM_FILES } from '../model/hcl2/parser.ts';

/** The Lambda functions the schedules invoke, by their logical ids in the template. */
export interface ScheduledFunctions {
  runSchedule: string;
  /** Absent while the deployment has no lifecycle function: no lifecycle schedules then. */
  lifecycle?: string;
}

export interface CloudFormationResource {
  Type: string;
  Properties: Record<string, unknown>;
}

/**
 * `factory.yml` and each family's template folder (the loader holds each template to a folder
 * of its own inside the configuration's), relative to the service's folder.
 */
export function factoryPackagePatterns(config: FactoryConfig): string[] {
  const folders = new Set(Object.values(config.families).map((family) => posix.normalize(posix.dirname(family.template.split('\\').join('/')))));
  // The families' templates may be HCL2: the functions that evaluate them need the parser's WASM files.
  return [FACTORY_CONFIG_FILE, ...[...folders].sort().map((folder) => `${folder}/**`), ...PARSER_WASM_FILES];
}

/** `web-base` -> `WebBase`: a family's part of a logical id. */
const pascal = (name: string): string =>
  name
    .split('-')
    .map((part) => `${part.charAt(0).toUpperCase()}${part.slice(1)}`)
    .join('');

export const SCHEDULE_GROUP_ID = 'FactoryScheduleGroup';
export const SCHEDULER_ROLE_ID = 'FactorySchedulerRole';

const getAtt = (logicalId: string, attribute = 'Arn'): Record<string, unknown> => ({ 'Fn::GetAtt': [logicalId, attribute] });

function schedule(name: string, description: string, target: string, family: string, on: Schedule): CloudFormationResource {
  return {
    Type: 'AWS::Scheduler::Schedule',
    Properties: {
      Name: name,
      GroupName: { Ref: SCHEDULE_GROUP_ID },
      Description: description,
      ScheduleExpression: scheduleExpression(on.cron),
      ScheduleExpressionTimezone: on.timezone,
      State: on.enabled ? 'ENABLED' : 'DISABLED',
      // Run at the time the cron says: a family's schedule is a promise to its team.
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: getAtt(target),
        RoleArn: getAtt(SCHEDULER_ROLE_ID),
        Input: JSON.stringify({ family }),
        // Only an invocation EventBridge could not make is retried here; the function's own
        // failures are Lambda's asynchronous retries.
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    },
  };
}

/**
 * The schedules of every family, the group they live in and the role they invoke with; none
 * of it when no family has a schedule. `groupName` is the stack's prefix (`<service>-<stage>`):
 * schedule names (`build-<family>`, `lifecycle-<family>`) are unique within their group.
 */
export function scheduleResources(config: FactoryConfig, functions: ScheduledFunctions, groupName: string): Record<string, CloudFormationResource> {
  const resources: Record<string, CloudFormationResource> = {};
  const invoked = new Set<string>();
  const add = (logicalId: string, resource: CloudFormationResource, family: string): void => {
    if (resources[logicalId] !== undefined) {
      throw new Error(`${FACTORY_CONFIG_FILE}: families "${family}" and another one make the same CloudFormation id ${logicalId}; rename one`);
    }
    resources[logicalId] = resource;
  };
  for (const [name, family] of Object.entries(config.families)) {
    if (family.schedule !== undefined) {
      add(`FamilyBuildSchedule${pascal(name)}`, schedule(`build-${name}`, `Rebuild family ${name} when its bake key changed (factory.yml)`, functions.runSchedule, name, family.schedule), name);
      invoked.add(functions.runSchedule);
    }
    const lifecycleSchedule = family.lifecycle?.schedule ?? family.schedule;
    if (functions.lifecycle !== undefined && family.lifecycle !== undefined && lifecycleSchedule !== undefined) {
      add(`FamilyLifecycleSchedule${pascal(name)}`, schedule(`lifecycle-${name}`, `Retire family ${name}'s old images (factory.yml)`, functions.lifecycle, name, lifecycleSchedule), name);
      invoked.add(functions.lifecycle);
    }
  }
  if (invoked.size === 0) return {};
  resources[SCHEDULE_GROUP_ID] = { Type: 'AWS::Scheduler::ScheduleGroup', Properties: { Name: groupName } };
  resources[SCHEDULER_ROLE_ID] = {
    Type: 'AWS::IAM::Role',
    Properties: {
      Description: "Role EventBridge Scheduler invokes the factory's scheduled functions with (factory.yml)",
      AssumeRolePolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'scheduler.amazonaws.com' },
            Action: 'sts:AssumeRole',
            // Only the stack's own schedules may use the role.
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: { 'aws:SourceArn': { 'Fn::Sub': `arn:\${AWS::Partition}:scheduler:\${AWS::Region}:\${AWS::AccountId}:schedule/${groupName}/*` } },
            },
          },
        ],
      },
      Policies: [
        {
          PolicyName: 'invoke-scheduled-functions',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [{ Sid: 'InvokeScheduledFunctions', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [...invoked].sort().map((id) => getAtt(id)) }],
          },
        },
      ],
    },
  };
  return resources;
}

/** The factory configuration's path in a service folder. */
export const factoryConfigFile = (serviceDir: string): string => join(serviceDir, FACTORY_CONFIG_FILE);
