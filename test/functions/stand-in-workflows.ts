/**
 * Stand-ins for the build-image workflow, for handlers that only read what an execution did:
 * one that finishes at once with an output shaped as the real one's, one that waits in its
 * claim until stopped (and stops at once when told to), and one that a test's host claims. They use the real workflow's
 * state names (stand-in-workflows.test.ts checks them against the definition), so what the
 * handlers show of them is what they show of real builds.
 */

/** State names of the real workflow (statemachine/build-image.asl.json). */
export const REAL_STATES = {
  claim: 'Claim a host',
  provision: 'Provision on the host',
  register: 'Register image',
  report: 'Report the images',
} as const;

export const FINISHED_IMAGE_ID = 'ami-0fac70e5000000001';
export const FINISHED_SNAPSHOT_ID = 'snap-0fac70e5000000001';

/** Passes through the claim and the registration, and reports one image as the real one does. */
export const FINISHING_WORKFLOW = {
  StartAt: REAL_STATES.claim,
  States: {
    [REAL_STATES.claim]: { Type: 'Pass', Next: REAL_STATES.register },
    [REAL_STATES.register]: { Type: 'Pass', Next: REAL_STATES.report },
    [REAL_STATES.report]: {
      Type: 'Pass',
      Parameters: {
        'buildId.$': '$.buildId',
        amis: [{ 'region.$': '$.target.region', 'accountId.$': '$.target.accountId', imageId: FINISHED_IMAGE_ID, snapshotIds: [FINISHED_SNAPSHOT_ID], state: 'available' }],
      },
      End: true,
    },
  },
};

/** Waits where the real workflow waits for a host, until stopped. */
export const HOLDING_WORKFLOW = {
  StartAt: REAL_STATES.claim,
  States: {
    [REAL_STATES.claim]: { Type: 'Wait', Seconds: 3600, End: true },
  },
};

/**
 * Sends the real claim task to `claimsQueueUrl` and, once a host answers, stays in
 * provisioning until stopped: a build a test stops mid-way.
 */
export function claimingWorkflow(claimsQueueUrl: string): object {
  return {
    StartAt: REAL_STATES.claim,
    States: {
      [REAL_STATES.claim]: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: { QueueUrl: claimsQueueUrl, MessageBody: { task: 'claim', 'taskToken.$': '$$.Task.Token', 'buildId.$': '$.buildId' } },
        ResultPath: '$.host',
        Next: REAL_STATES.provision,
      },
      [REAL_STATES.provision]: { Type: 'Wait', Seconds: 3600, End: true },
    },
  };
}
