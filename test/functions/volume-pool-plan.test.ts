/** What the tender decides from what it finds (functions/lib/volume-pool-plan.ts), case by case. */
import type { Volume } from '@aws-sdk/client-ec2';
import { describe, expect, it } from 'vitest';
import { TAKEN, VOLUME_POOL_FAMILY_TAG, VOLUME_POOL_TAG, volumePoolKey } from '../../contract/volume-pool.ts';
import { ORPHANED_ATTACHMENT_MS, tendingActions, type PoolPlan } from '../../functions/lib/volume-pool-plan.ts';

const NOW = new Date('2026-11-30T12:00:00Z');
const SPEC = { SnapshotId: 'snap-1', Size: 8 };
const KEY = volumePoolKey(SPEC);
const plan: PoolPlan = { family: 'web', config: { size: 2, fast_snapshot_restore: false }, zones: ['z-a', 'z-b'], target: { key: KEY, spec: SPEC } };

let next = 0;
function volume(overrides: Partial<Volume> & { key?: string; family?: string } = {}): Volume {
  const { key = KEY, family = 'factory/web', ...rest } = overrides;
  next += 1;
  return { VolumeId: `vol-${next}`, AvailabilityZone: 'z-a', State: 'available', Tags: [{ Key: VOLUME_POOL_TAG, Value: key }, { Key: VOLUME_POOL_FAMILY_TAG, Value: family }], ...rest };
}

describe('tending actions', () => {
  it('counts ready and creating volumes, and makes up the rest in each zone', () => {
    const actions = tendingActions('factory', [plan], [volume(), volume({ State: 'creating' }), volume({ AvailabilityZone: 'z-b' })], NOW);
    expect(actions.create).toEqual([{ family: 'web', zone: 'z-b', key: KEY, spec: SPEC }]);
    expect(actions.remove).toEqual([]);
  });

  it('removes failed volumes, other keys\' and strays from other zones, each once detached', () => {
    const failed = volume({ State: 'error' });
    const stale = volume({ key: volumePoolKey({ SnapshotId: 'snap-0', Size: 8 }) });
    const stray = volume({ AvailabilityZone: 'z-c' });
    const attachedStale = volume({ key: 'stale', State: 'in-use', Attachments: [{ InstanceId: 'i-1', Device: '/dev/sdf', AttachTime: NOW }] });
    const actions = tendingActions('factory', [plan], [failed, stale, stray, attachedStale], NOW);
    expect(actions.remove.map((each) => each.volumeId)).toEqual([failed.VolumeId, stale.VolumeId, stray.VolumeId]);
    expect(actions.release).toEqual([]);
    expect(actions.create).toHaveLength(4);
  });

  it('leaves taken volumes, other factories\' volumes and an unplannable family\'s volumes alone', () => {
    const unplanned: PoolPlan = { ...plan, family: 'db', target: null };
    const volumes = [volume({ key: TAKEN }), volume({ family: 'other/web' }), volume({ family: 'factory/db', key: 'vp-000000000000000000000000' })];
    const actions = tendingActions('factory', [plan, unplanned], volumes, NOW);
    expect(actions.remove).toEqual([]);
    expect(actions.release).toEqual([]);
    expect(actions.create).toHaveLength(4);
  });

  it('removes the volumes of a family that keeps no pool any more', () => {
    const orphan = volume({ family: 'factory/gone' });
    expect(tendingActions('factory', [], [orphan], NOW).remove).toEqual([{ volumeId: orphan.VolumeId, reason: 'family gone keeps no volume pool any more' }]);
  });

  it('releases a pristine volume attached for longer than a build takes to mark it taken', () => {
    const attachment = { InstanceId: 'i-1', Device: '/dev/sdf' };
    const fresh = volume({ State: 'in-use', Attachments: [{ ...attachment, AttachTime: new Date(NOW.getTime() - 60_000) }] });
    const old = volume({ State: 'in-use', Attachments: [{ ...attachment, AttachTime: new Date(NOW.getTime() - ORPHANED_ATTACHMENT_MS) }] });
    expect(tendingActions('factory', [plan], [fresh, old], NOW).release).toEqual([{ volumeId: old.VolumeId, instanceId: 'i-1', device: '/dev/sdf' }]);
  });
});
