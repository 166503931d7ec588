/**
 * Applying a lifecycle plan, with a stand-in EC2 client that records the calls and fails the
 * ones a test names: each image's failure stays on that image, and where the images are looked for.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { applyLifecyclePlan, deprecationTimeFrom, describeError } from '../../functions/lib/lifecycle-apply.ts';
import { lifecycleLocations } from '../../functions/lib/lifecycle-locations.ts';
import type { PlannedImage } from '../../functions/lib/lifecycle-plan.ts';

const FACTORY = '123456789012';
const TARGET = '222222222222';

function awsError(name: string, message = 'refused'): Error {
  return Object.assign(new Error(message), { name });
}

interface Call {
  place: string;
  command: string;
  input: Record<string, unknown>;
}

/** Clients that record every call and throw `failures[<command> <id>]` when one is named. */
function standIn(failures: Record<string, Error> = {}, unreachable: string[] = []) {
  const calls: Call[] = [];
  const clientFor = (place: { accountId: string; region: string }): Promise<EC2Client> => {
    const label = `${place.accountId}/${place.region}`;
    if (unreachable.includes(label)) return Promise.reject(awsError('AccessDenied', `not authorized to assume a role in ${place.accountId}`));
    const send = (command: { constructor: { name: string }; input: Record<string, unknown> }): Promise<object> => {
      const name = command.constructor.name.replace(/Command$/, '');
      calls.push({ place: label, command: name, input: command.input });
      const id = String(command.input.ImageId ?? command.input.SnapshotId);
      const failure = failures[`${name} ${id}`];
      return failure === undefined ? Promise.resolve({}) : Promise.reject(failure);
    };
    return Promise.resolve({ send } as unknown as EC2Client);
  };
  return { calls, clientFor };
}

function planned(imageId: string, action: PlannedImage['action'], overrides: Partial<PlannedImage> = {}): PlannedImage {
  return {
    accountId: FACTORY, region: 'us-east-1', imageId, name: imageId, creationDate: '2030-01-01T00:00:00.000Z', buildId: 'b-1',
    action, reason: 'test', deleteSnapshots: [], leftSnapshots: [], ...overrides,
  };
}

const NOW = Date.parse('2030-06-30T12:00:10.500Z');

describe('applying a lifecycle plan', () => {
  it('deprecates, deregisters and deletes the named snapshots, and leaves keep and skip alone', async () => {
    const { calls, clientFor } = standIn();
    const results = await applyLifecyclePlan([
      planned('ami-keep', 'keep'),
      planned('ami-old', 'deprecate'),
      planned('ami-gone', 'deregister', { deleteSnapshots: ['snap-1', 'snap-2'] }),
      planned('ami-skip', 'skip'),
    ], clientFor, () => NOW);
    expect(calls.map(({ command, input }) => [command, input])).toEqual([
      ['EnableImageDeprecation', { ImageId: 'ami-old', DeprecateAt: new Date('2030-06-30T12:02:00.000Z') }],
      ['DeregisterImage', { ImageId: 'ami-gone' }],
      ['DeleteSnapshot', { SnapshotId: 'snap-1' }],
      ['DeleteSnapshot', { SnapshotId: 'snap-2' }],
    ]);
    expect(results.map((entry) => [entry.imageId, entry.outcome, entry.error])).toEqual([
      ['ami-keep', 'none', null], ['ami-old', 'done', null], ['ami-gone', 'done', null], ['ami-skip', 'none', null],
    ]);
  });

  it('reports a failure on its image and goes on with the others', async () => {
    const { calls, clientFor } = standIn({
      'DeregisterImage ami-protected': awsError('OperationNotPermitted', 'deregistration protection is enabled'),
      'DeleteSnapshot snap-busy': awsError('InvalidSnapshot.InUse', 'in use by ami-x'),
      'EnableImageDeprecation ami-odd': awsError('InvalidParameterValue', 'no'),
    });
    const results = await applyLifecyclePlan([
      planned('ami-protected', 'deregister', { deleteSnapshots: ['snap-p'] }),
      planned('ami-odd', 'deprecate'),
      planned('ami-half', 'deregister', { deleteSnapshots: ['snap-busy', 'snap-ok'] }),
      planned('ami-fine', 'deregister', { deleteSnapshots: ['snap-f'] }),
    ], clientFor, () => NOW);
    expect(results.map((entry) => [entry.imageId, entry.outcome, entry.error])).toEqual([
      // A snapshot of an image still registered is not deleted.
      ['ami-protected', 'failed', 'OperationNotPermitted: deregistration protection is enabled'],
      ['ami-odd', 'failed', 'InvalidParameterValue: no'],
      ['ami-half', 'failed', 'deregistered, but DeleteSnapshot snap-busy: InvalidSnapshot.InUse: in use by ami-x'],
      ['ami-fine', 'done', null],
    ]);
    expect(calls.map((call) => call.input.SnapshotId).filter(Boolean)).toEqual(['snap-busy', 'snap-ok', 'snap-f']);
  });

  it('takes an image or snapshot that is gone already as done', async () => {
    const { clientFor } = standIn({
      'DeregisterImage ami-gone': awsError('InvalidAMIID.Unavailable'),
      'DeleteSnapshot snap-gone': awsError('InvalidSnapshot.NotFound'),
    });
    const results = await applyLifecyclePlan([planned('ami-gone', 'deregister', { deleteSnapshots: ['snap-gone'] })], clientFor);
    expect(results[0]).toMatchObject({ outcome: 'done', error: null });
  });

  it('fails the actions of a place it cannot reach, and acts elsewhere', async () => {
    const { calls, clientFor } = standIn({}, [`${TARGET}/us-east-1`]);
    const results = await applyLifecyclePlan([
      planned('ami-there', 'deregister', { accountId: TARGET }),
      planned('ami-kept-there', 'keep', { accountId: TARGET }),
      planned('ami-here', 'deprecate'),
    ], clientFor, () => NOW);
    expect(results.map((entry) => [entry.imageId, entry.outcome, entry.error])).toEqual([
      ['ami-there', 'failed', 'AccessDenied: not authorized to assume a role in 222222222222'],
      ['ami-kept-there', 'none', null],
      ['ami-here', 'done', null],
    ]);
    expect(calls.map((call) => call.place)).toEqual([`${FACTORY}/us-east-1`]);
  });

  it('deprecates at the next whole minute at least a minute ahead: EC2 refuses the past and rounds seconds', () => {
    expect(deprecationTimeFrom(Date.parse('2030-06-30T12:00:00.000Z')).toISOString()).toBe('2030-06-30T12:01:00.000Z');
    expect(deprecationTimeFrom(Date.parse('2030-06-30T12:00:00.001Z')).toISOString()).toBe('2030-06-30T12:02:00.000Z');
  });

  it('names an error in one line, with the HTTP status of an answer that is not EC2\'s', () => {
    const garbled = Object.assign(new Error('@aws-sdk XML parse error: mismatched tags\n  Deserialization error: see $response'), { $response: { statusCode: 500 } });
    expect(describeError(garbled)).toBe('Error: @aws-sdk XML parse error: mismatched tags (HTTP 500)');
    expect(describeError(awsError('UnauthorizedOperation', 'You are not authorized'))).toBe('UnauthorizedOperation: You are not authorized');
  });
});

describe('where the lifecycle looks', () => {
  it('looks in the build region, the factory\'s image in each target region, and each copy target\'s account', () => {
    const locations = lifecycleLocations({
      targets: [
        { region: 'us-west-2', mode: 'share' },
        { account: TARGET, region: 'us-west-2', mode: 'share' },
        { account: '333333333333', region: 'eu-west-1', mode: 'copy' },
        { account: TARGET, region: 'us-east-1', mode: 'copy' },
      ],
    }, { accountId: FACTORY, region: 'us-east-1' });
    expect(locations).toEqual([
      // Instances of a target account in the region may run the factory's image shared with it.
      { accountId: FACTORY, region: 'us-east-1', launchers: [FACTORY, TARGET] },
      { accountId: FACTORY, region: 'us-west-2', launchers: [FACTORY, TARGET] },
      { accountId: FACTORY, region: 'eu-west-1', launchers: [FACTORY, '333333333333'] },
      { accountId: '333333333333', region: 'eu-west-1', launchers: ['333333333333'] },
      { accountId: TARGET, region: 'us-east-1', launchers: [TARGET] },
    ]);
  });

  it('looks only in the build region of a family without targets', () => {
    expect(lifecycleLocations({ targets: [] }, { accountId: FACTORY, region: 'eu-central-1' })).toEqual([{ accountId: FACTORY, region: 'eu-central-1', launchers: [FACTORY] }]);
  });
});
