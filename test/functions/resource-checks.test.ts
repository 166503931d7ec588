/**
 * What a check of a resource wait concludes from what EC2 listed: ready, never going to be
 * (failed, with a reason that names the resource and its state), or not yet; and how a state
 * reads in a cause.
 */
import { describe, expect, it } from 'vitest';
import { RESOURCE_WAIT_KINDS } from '../../contract/resource-wait.ts';
import { describeState, judge, RESOURCE_OF, type Observation } from '../../functions/lib/resource-checks.ts';

const VOLUME = 'vol-0123456789abcdef0';
const SNAPSHOT = 'snap-0123456789abcdef0';
const IMAGE = 'ami-0123456789abcdef0';

const volume = (state: string, attachmentStates: string[] = []): Observation => ({ state, attachmentStates });

describe('judge', () => {
  it('volume-available: ready when available; failed on error or deletion; otherwise not yet', () => {
    expect(judge('volume-available', VOLUME, volume('available'))).toEqual({ outcome: 'ready' });
    for (const state of ['error', 'deleting', 'deleted']) {
      expect(judge('volume-available', VOLUME, volume(state)), state).toEqual({
        outcome: 'failed',
        reason: `volume ${VOLUME} went to the ${state} state while it was created`,
      });
    }
    expect(judge('volume-available', VOLUME, volume('creating'))).toEqual({ outcome: 'not-yet' });
    // Not listed yet: EC2's describes are eventually consistent for a volume just made.
    expect(judge('volume-available', VOLUME, undefined)).toEqual({ outcome: 'not-yet' });
  });

  it('volume-detached: ready only when available with no attachment left', () => {
    expect(judge('volume-detached', VOLUME, volume('available'))).toEqual({ outcome: 'ready' });
    expect(judge('volume-detached', VOLUME, { state: 'available' })).toEqual({ outcome: 'ready' });
    // Detaching: EC2 keeps the volume in-use with its attachment `detaching` until it is free.
    expect(judge('volume-detached', VOLUME, volume('in-use', ['detaching']))).toEqual({ outcome: 'not-yet' });
    expect(judge('volume-detached', VOLUME, volume('in-use', ['attached']))).toEqual({ outcome: 'not-yet' });
    // An attachment still listed keeps it waiting even if the volume's own state says available.
    expect(judge('volume-detached', VOLUME, volume('available', ['detaching']))).toEqual({ outcome: 'not-yet' });
    for (const state of ['error', 'deleting', 'deleted']) {
      expect(judge('volume-detached', VOLUME, volume(state)), state).toEqual({
        outcome: 'failed',
        reason: `volume ${VOLUME} went to the ${state} state while it was detached`,
      });
    }
  });

  it('volume-detached: a volume no longer listed has gone and fails at once', () => {
    expect(judge('volume-detached', VOLUME, undefined)).toEqual({ outcome: 'failed', reason: `volume ${VOLUME} no longer exists` });
  });

  it('snapshot-completed: ready when completed, failed on error, pending is not yet', () => {
    expect(judge('snapshot-completed', SNAPSHOT, { state: 'completed', progressPercent: 100 })).toEqual({ outcome: 'ready' });
    expect(judge('snapshot-completed', SNAPSHOT, { state: 'error' })).toEqual({ outcome: 'failed', reason: `snapshot ${SNAPSHOT} went to the error state` });
    expect(judge('snapshot-completed', SNAPSHOT, { state: 'pending', progressPercent: 99 })).toEqual({ outcome: 'not-yet' });
    expect(judge('snapshot-completed', SNAPSHOT, undefined)).toEqual({ outcome: 'not-yet' });
  });

  it('image-available: ready when available, failed in a state it never leaves, pending is not yet', () => {
    expect(judge('image-available', IMAGE, { state: 'available' })).toEqual({ outcome: 'ready' });
    for (const state of ['failed', 'invalid', 'error', 'deregistered']) {
      expect(judge('image-available', IMAGE, { state }), state).toEqual({ outcome: 'failed', reason: `image ${IMAGE} went to the ${state} state` });
    }
    expect(judge('image-available', IMAGE, { state: 'pending' })).toEqual({ outcome: 'not-yet' });
    expect(judge('image-available', IMAGE, { state: 'transient' })).toEqual({ outcome: 'not-yet' });
    expect(judge('image-available', IMAGE, undefined)).toEqual({ outcome: 'not-yet' });
  });

  it('takes another kind\'s ready state for not yet: a snapshot is not "available", an image not "completed"', () => {
    expect(judge('snapshot-completed', SNAPSHOT, { state: 'available' })).toEqual({ outcome: 'not-yet' });
    expect(judge('image-available', IMAGE, { state: 'completed' })).toEqual({ outcome: 'not-yet' });
    expect(judge('volume-available', VOLUME, volume('in-use', ['attached']))).toEqual({ outcome: 'not-yet' });
  });

  it('knows which describe every kind needs', () => {
    expect(Object.fromEntries(RESOURCE_WAIT_KINDS.map((kind) => [kind, RESOURCE_OF[kind]]))).toEqual({
      'volume-available': 'volume',
      'volume-detached': 'volume',
      'snapshot-completed': 'snapshot',
      'image-available': 'image',
      'snapshot-capacity': 'account',
    });
  });
});

describe('describeState', () => {
  it('reads as a cause says it', () => {
    expect(describeState(undefined)).toBe('not listed');
    expect(describeState({ state: 'creating' })).toBe('creating');
    expect(describeState(volume('available'))).toBe('available');
    expect(describeState(volume('in-use', ['detaching']))).toBe('in-use (detaching)');
    expect(describeState(volume('in-use', ['attached', 'detaching']))).toBe('in-use (attached, detaching)');
    expect(describeState({ state: 'pending', progressPercent: 45 })).toBe('pending (45%)');
    expect(describeState({ state: 'pending', progressPercent: 0 })).toBe('pending (0%)');
  });
});
