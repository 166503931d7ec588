/**
 * What factory.yml adds to the deployment (scripts/factory-schedules.ts), worked out without
 * packaging: the files packaged with the functions that run families, and the EventBridge
 * Scheduler schedules, their group and role. test/deploy/package.test.ts checks the packaged
 * template itself.
 */
import { describe, expect, it } from 'vitest';
import { parseFactoryConfig } from '../../functions/lib/factory-config.ts';
import { factoryPackagePatterns, scheduleResources, SCHEDULE_GROUP_ID, SCHEDULER_ROLE_ID } from '../../scripts/factory-schedules.ts';
import { PARSER_WASM_FILES } from '../../model/hcl2/parser.ts';

const config = parseFactoryConfig(
  `
families:
  web-base:
    template: web/base/template.json
    team: web
    schedule: { cron: "30 2 ? * MON-FRI *", timezone: America/New_York }
    lifecycle: { keep_newest: 2 }
  batch:
    template: ./batch/template.json
    team: data
    schedule: { cron: "0 4 1 * ? *", enabled: false }
    lifecycle: { keep_newest: 5, schedule: { cron: "0 5 ? * SUN *" } }
  on-demand:
    template: web/base/template.json
    team: web
`,
  'factory.yml',
);

const FUNCTIONS = { runSchedule: 'RunScheduleLambdaFunction', lifecycle: 'LifecycleScheduledLambdaFunction' };

describe("factory.yml's part of the deployment", () => {
  it('packages the configuration, each template folder once, and the template parser', () => {
    expect(factoryPackagePatterns(config)).toEqual(['factory.yml', 'batch/**', 'web/base/**', ...PARSER_WASM_FILES]);
    expect(factoryPackagePatterns({ families: {} })).toEqual(['factory.yml', ...PARSER_WASM_FILES]);
  });

  it('schedules each family schedule and lifecycle, in the stack\'s group, invoking with {"family": NAME}', () => {
    const resources = scheduleResources(config, FUNCTIONS, 'ami-factory-prod');
    expect(Object.keys(resources).sort()).toEqual(
      ['FamilyBuildScheduleBatch', 'FamilyBuildScheduleWebBase', 'FamilyLifecycleScheduleBatch', 'FamilyLifecycleScheduleWebBase', SCHEDULE_GROUP_ID, SCHEDULER_ROLE_ID].sort(),
    );
    expect(resources.FamilyBuildScheduleWebBase?.Properties).toEqual({
      Name: 'build-web-base',
      GroupName: { Ref: SCHEDULE_GROUP_ID },
      Description: expect.any(String) as unknown,
      ScheduleExpression: 'cron(30 2 ? * MON-FRI *)',
      ScheduleExpressionTimezone: 'America/New_York',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': ['RunScheduleLambdaFunction', 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [SCHEDULER_ROLE_ID, 'Arn'] },
        Input: '{"family":"web-base"}',
        RetryPolicy: expect.any(Object) as unknown,
      },
    });
    // A paused schedule stays deployed, DISABLED; a lifecycle runs on its own schedule if it has one, the family's otherwise.
    expect(resources.FamilyBuildScheduleBatch?.Properties).toMatchObject({ State: 'DISABLED', ScheduleExpressionTimezone: 'UTC' });
    expect(resources.FamilyLifecycleScheduleBatch?.Properties).toMatchObject({
      Name: 'lifecycle-batch',
      ScheduleExpression: 'cron(0 5 ? * SUN *)',
      State: 'ENABLED',
      Target: { Arn: { 'Fn::GetAtt': ['LifecycleScheduledLambdaFunction', 'Arn'] }, Input: '{"family":"batch"}' },
    });
    expect(resources.FamilyLifecycleScheduleWebBase?.Properties).toMatchObject({ ScheduleExpression: 'cron(30 2 ? * MON-FRI *)' });
    expect(resources[SCHEDULE_GROUP_ID]?.Properties).toEqual({ Name: 'ami-factory-prod' });
  });

  it('gives the schedules one role, which only the stack\'s schedules assume and which invokes only the scheduled functions', () => {
    const role = scheduleResources(config, FUNCTIONS, 'ami-factory-prod')[SCHEDULER_ROLE_ID]?.Properties;
    expect(JSON.stringify(role?.AssumeRolePolicyDocument)).toContain('schedule/ami-factory-prod/*');
    expect(role?.Policies).toEqual([
      {
        PolicyName: 'invoke-scheduled-functions',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'InvokeScheduledFunctions',
              Effect: 'Allow',
              Action: 'lambda:InvokeFunction',
              Resource: [{ 'Fn::GetAtt': ['LifecycleScheduledLambdaFunction', 'Arn'] }, { 'Fn::GetAtt': ['RunScheduleLambdaFunction', 'Arn'] }],
            },
          ],
        },
      },
    ]);
  });

  it('leaves the lifecycle schedules out while the deployment has no lifecycle function', () => {
    const resources = scheduleResources(config, { runSchedule: FUNCTIONS.runSchedule }, 'ami-factory-prod');
    expect(Object.keys(resources).filter((id) => id.startsWith('FamilyLifecycle'))).toEqual([]);
    expect(JSON.stringify(resources[SCHEDULER_ROLE_ID])).not.toContain('Lifecycle');
  });

  it('adds nothing when no family has a schedule', () => {
    expect(scheduleResources(parseFactoryConfig('families: { x: { template: x/t.json, team: web } }', 'factory.yml'), FUNCTIONS, 'p')).toEqual({});
  });

  it('refuses two families whose names make one CloudFormation id', () => {
    const clash = parseFactoryConfig(
      'families: { a-1: { template: x/t.json, team: web, schedule: { cron: "0 1 * * ? *" } }, a1: { template: x/t.json, team: web, schedule: { cron: "0 1 * * ? *" } } }',
      'factory.yml',
    );
    expect(() => scheduleResources(clash, FUNCTIONS, 'p')).toThrow(/families "a1" and another one make the same CloudFormation id FamilyBuildScheduleA1; rename one/);
  });
});
