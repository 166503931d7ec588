/**
 * Scale-in protection follows the host's build slots (worker/daemon/scale-in-protection.ts):
 * protected while any slot is taken, unprotected when all are free, one call at a time with
 * the newest wanted state winning, a failed call made again on the next change. The Auto
 * Scaling client is mocked: the local AWS runs no Auto Scaling group for the hosts.
 */
import { AutoScalingClient, SetInstanceProtectionCommand } from '@aws-sdk/client-auto-scaling';
import { mockClient } from 'aws-sdk-client-mock';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BuildSlots } from '../../../worker/daemon/build-slots.ts';
import { protectWhileBusy, ScaleInProtection } from '../../../worker/daemon/scale-in-protection.ts';

const log = pino({ level: 'silent' });
const membership = { groupName: 'ami-factory-ci-workers' };
const lease = (deviceName: string) => ({ deviceName, release: () => Promise.resolve() });

let autoscaling: ReturnType<typeof mockClient>;

beforeEach(() => {
  autoscaling = mockClient(AutoScalingClient);
});

afterEach(() => {
  autoscaling.restore();
});

const told = (): boolean[] => autoscaling.commandCalls(SetInstanceProtectionCommand).map((call) => call.args[0].input.ProtectedFromScaleIn ?? false);

/** A worker's slots, as protectWhileBusy sees them. */
function hostWith(slots: BuildSlots) {
  return { watchSlots: (listener: (used: number) => void) => slots.watch(listener), status: { get claimedBuilds() { return slots.buildIds(); } } };
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('scale-in protection', () => {
  it('protects the host from its first claim until its last release, and tells the group only on a change', async () => {
    autoscaling.on(SetInstanceProtectionCommand).resolves({});
    const slots = new BuildSlots(3);
    const stop = protectWhileBusy(hostWith(slots), new ScaleInProtection({ autoscaling: new AutoScalingClient({}), membership, instanceId: 'i-0123', log }));
    await settled();
    // Idle at start: the group is told once, so a host restarted while protected is freed.
    expect(told()).toEqual([false]);
    slots.take('b-1', lease('/dev/sdf'));
    slots.take('b-2', lease('/dev/sdg'));
    await settled();
    await slots.free('b-1');
    await settled();
    expect(told()).toEqual([false, true]);
    await slots.free('b-2');
    await settled();
    expect(told()).toEqual([false, true, false]);
    expect(autoscaling.commandCalls(SetInstanceProtectionCommand)[1]?.args[0].input).toEqual({
      AutoScalingGroupName: 'ami-factory-ci-workers',
      InstanceIds: ['i-0123'],
      ProtectedFromScaleIn: true,
    });
    stop();
    slots.take('b-3', lease('/dev/sdf'));
    await settled();
    expect(told()).toHaveLength(3);
  });

  it('protects a host that restarted with claims taken up again', async () => {
    autoscaling.on(SetInstanceProtectionCommand).resolves({});
    const slots = new BuildSlots(2);
    slots.restore('b-1', lease('/dev/sdf'));
    protectWhileBusy(hostWith(slots), new ScaleInProtection({ autoscaling: new AutoScalingClient({}), membership, instanceId: 'i-0123', log }));
    await settled();
    expect(told()).toEqual([true]);
  });

  it('makes one call at a time, the newest wanted state winning, and tries again after a failure', async () => {
    let release: () => void = () => undefined;
    autoscaling
      .on(SetInstanceProtectionCommand)
      .callsFakeOnce(() => new Promise((resolve) => (release = () => { resolve({}); })))
      .rejectsOnce(new Error('Throttling'))
      .resolves({});
    const protection = new ScaleInProtection({ autoscaling: new AutoScalingClient({}), membership, instanceId: 'i-0123', log });
    const first = protection.update(1);
    // While the first call is out: busy, idle, busy again. Only the last matters.
    const burst = [protection.update(0), protection.update(2)];
    release();
    await Promise.all([first, ...burst]);
    // true (in flight), then nothing more to say: the newest state is what the group was told.
    expect(told()).toEqual([true]);
    await protection.update(0); // throttled: logged
    await protection.update(0); // the next change tries again
    expect(told()).toEqual([true, false, false]);
  });
});
