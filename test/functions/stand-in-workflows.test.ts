/** The stand-in workflows name only states the real workflow has, and start where it starts. */
import { expect, it } from 'vitest';
import { loadBuildImageDefinition } from '../../statemachine/definition.ts';
import { claimingWorkflow, FINISHING_WORKFLOW, HOLDING_WORKFLOW, REAL_STATES } from './stand-in-workflows.ts';

interface Definition {
  StartAt: string;
  States: Record<string, unknown>;
}

const real = JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: 'https://sqs.example/claims', RegionalCallsQueueUrl: 'https://sqs.example/regional-calls', ResourceWaitsQueueUrl: 'https://sqs.example/resource-waits', VolumePoolsQueueUrl: 'https://sqs.example/volume-pools' })) as Definition;

it('uses state names of the real workflow', () => {
  expect(Object.keys(real.States)).toEqual(expect.arrayContaining(Object.values(REAL_STATES)));
  for (const standIn of [FINISHING_WORKFLOW, HOLDING_WORKFLOW, claimingWorkflow('https://sqs.example/claims')] as Definition[]) {
    expect(standIn.StartAt).toBe(real.StartAt);
    expect(Object.keys(real.States)).toEqual(expect.arrayContaining(Object.keys(standIn.States)));
  }
});
