/**
 * The lifecycle's rules, without a cloud: which images of a family are kept, deprecated,
 * deregistered or skipped, and why.
 */
import { describe, expect, it } from 'vitest';
import { BUILD_ID_TAG, TEAM_TAG } from '../../contract/execution.ts';
import { DEFAULT_KEEP_TAG, FAMILY_TAG, LifecycleSchema, type Lifecycle } from '../../contract/factory-config.ts';
import { planLifecycle, type FoundImage, type PlannedImage } from '../../functions/lib/lifecycle-plan.ts';

const NOW = new Date('2030-06-30T12:00:00.000Z');
const FACTORY = '123456789012';
const TARGET = '222222222222';

const daysAgo = (days: number, extraMs = 0): string => new Date(NOW.getTime() - days * 86_400_000 - extraMs).toISOString();

const settings = (overrides: Partial<Lifecycle> = {}): Lifecycle => ({ ...LifecycleSchema.parse({ keep_newest: 2 }), ...overrides });

let counter = 0;

/** An image of the family `web` as a build of it tags it; overrides for everything else. */
function image(build: string, ageDays: number, overrides: Partial<FoundImage> & { extraTags?: Record<string, string> } = {}): FoundImage {
  counter += 1;
  const imageId = overrides.imageId ?? `ami-${String(counter).padStart(8, '0')}`;
  const { extraTags, ...rest } = overrides;
  return {
    accountId: FACTORY,
    region: 'us-east-1',
    imageId,
    name: `web-${build}`,
    creationDate: daysAgo(ageDays),
    state: 'available',
    tags: { [BUILD_ID_TAG]: build, [TEAM_TAG]: 'web', [FAMILY_TAG]: 'web', ...extraTags },
    snapshots: [{ snapshotId: `snap-${imageId.slice(4)}`, buildId: build }],
    deprecationTime: null,
    usage: { instances: 0, error: null },
    ...rest,
  };
}

const plan = (images: FoundImage[], lifecycle = settings()): PlannedImage[] => planLifecycle({ family: 'web', lifecycle, images, now: NOW });

const actions = (planned: PlannedImage[]): Record<string, string> => Object.fromEntries(planned.map((entry) => [entry.imageId, entry.action]));

const entry = (planned: PlannedImage[], imageId: string): PlannedImage => {
  const found = planned.find((candidate) => candidate.imageId === imageId);
  if (found === undefined) throw new Error(`${imageId} is not in the plan`);
  return found;
};

describe('the lifecycle plan', () => {
  it('keeps the newest N builds with all their copies, deprecates the older ones and deregisters those past the age', () => {
    const images = [
      image('b-5', 1, { imageId: 'ami-5a' }),
      image('b-5', 1, { imageId: 'ami-5b', region: 'us-west-2', creationDate: daysAgo(0.9) }),
      image('b-4', 5, { imageId: 'ami-4a' }),
      image('b-4', 5, { imageId: 'ami-4b', accountId: TARGET }),
      image('b-3', 10, { imageId: 'ami-3a' }),
      image('b-2', 40, { imageId: 'ami-2a' }),
      image('b-2', 40, { imageId: 'ami-2b', accountId: TARGET, region: 'us-west-2' }),
    ];

    const planned = plan(images, settings({ keep_newest: 2, deregister_after_days: 30 }));

    expect(actions(planned)).toEqual({
      'ami-5a': 'keep', 'ami-5b': 'keep', 'ami-4a': 'keep', 'ami-4b': 'keep',
      'ami-3a': 'deprecate', 'ami-2a': 'deregister', 'ami-2b': 'deregister',
    });
    expect(entry(planned, 'ami-5a').reason).toBe('newest 2 (#1)');
    expect(entry(planned, 'ami-4b').reason).toBe('newest 2 (#2)');
    expect(entry(planned, 'ami-3a').reason).toBe('older than the newest 2; deregistered after 2030-07-20');
    expect(entry(planned, 'ami-2a').reason).toBe('older than the newest 2 and 40 days old (deregister_after_days 30)');
    expect(entry(planned, 'ami-2a').deleteSnapshots).toEqual(['snap-2a']);
    // Newest build first, then by account and region.
    expect(planned.map((e) => e.imageId)).toEqual(['ami-5a', 'ami-5b', 'ami-4a', 'ami-4b', 'ami-3a', 'ami-2a', 'ami-2b']);
  });

  it('only deprecates when deregister_after_days is not set', () => {
    const planned = plan([image('b-2', 900, { imageId: 'ami-old' }), image('b-3', 2), image('b-4', 1)], settings({ keep_newest: 2 }));
    expect(entry(planned, 'ami-old')).toMatchObject({ action: 'deprecate', reason: 'older than the newest 2; never deregistered (no deregister_after_days)' });
  });

  it('keeps everything when there are fewer builds than N', () => {
    const planned = plan([image('b-1', 400), image('b-1', 400, { region: 'eu-west-1' }), image('b-2', 300)], settings({ keep_newest: 3, deregister_after_days: 1 }));
    expect(planned.map((e) => e.action)).toEqual(['keep', 'keep', 'keep']);
  });

  it('counts a build\'s age from its first image, so a late copy does not make an old release new', () => {
    const planned = plan([
      image('b-1', 20, { imageId: 'ami-first' }),
      image('b-1', 0.1, { imageId: 'ami-late-copy', region: 'eu-west-1' }),
      image('b-2', 10, { imageId: 'ami-b2' }),
    ], settings({ keep_newest: 1, deregister_after_days: 15 }));
    expect(actions(planned)).toEqual({ 'ami-b2': 'keep', 'ami-first': 'deregister', 'ami-late-copy': 'deprecate' });
  });

  it('keeps builds made at the same time as the Nth newest: ties have no order', () => {
    const planned = plan([
      image('b-a', 3, { imageId: 'ami-newest' }),
      image('b-b', 5, { imageId: 'ami-tie-1' }),
      image('b-c', 5, { imageId: 'ami-tie-2' }),
      image('b-d', 6, { imageId: 'ami-older' }),
    ], settings({ keep_newest: 2 }));
    expect(actions(planned)).toEqual({ 'ami-newest': 'keep', 'ami-tie-1': 'keep', 'ami-tie-2': 'keep', 'ami-older': 'deprecate' });
    // Which of the two is #2 is arbitrary (by build id); both are kept.
    expect(entry(planned, 'ami-tie-2').reason).toBe('newest 2 (#2)');
    expect(entry(planned, 'ami-tie-1').reason).toBe('newest 2: created at the same time as the #2, which is kept');
  });

  it('skips an image tagged to keep, whatever its value, and still counts its build', () => {
    const planned = plan([
      image('b-1', 100, { imageId: 'ami-kept', extraTags: { [DEFAULT_KEEP_TAG]: '' } }),
      image('b-2', 50, { imageId: 'ami-keep-newest', extraTags: { [DEFAULT_KEEP_TAG]: 'true' } }),
      image('b-3', 40, { imageId: 'ami-b3' }),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    expect(actions(planned)).toEqual({ 'ami-b3': 'keep', 'ami-keep-newest': 'skip', 'ami-kept': 'skip' });
    expect(entry(planned, 'ami-kept').reason).toBe(`tagged ${DEFAULT_KEEP_TAG} (would deregister)`);
  });

  it('honours a family\'s own keep tag', () => {
    const planned = plan([image('b-1', 10, { imageId: 'ami-pinned', extraTags: { pinned: 'yes' } }), image('b-2', 1)], settings({ keep_newest: 1, keep_tag: 'pinned' }));
    expect(entry(planned, 'ami-pinned')).toMatchObject({ action: 'skip', reason: 'tagged pinned (would deprecate)' });
  });

  it('skips an image instances still use when skip_in_use, and acts on it when not', () => {
    const images = [image('b-1', 60, { imageId: 'ami-used', usage: { instances: 2, error: null } }), image('b-2', 1)];
    expect(entry(plan(images, settings({ keep_newest: 1, deregister_after_days: 30 })), 'ami-used')).toMatchObject({
      action: 'skip',
      reason: 'in use by 2 instances (would deregister)',
      deleteSnapshots: [],
    });
    expect(entry(plan(images, settings({ keep_newest: 1, deregister_after_days: 30, skip_in_use: false })), 'ami-used').action).toBe('deregister');
  });

  it('leaves an image alone when the check for instances using it failed or was not made', () => {
    const planned = plan([
      image('b-1', 60, { imageId: 'ami-unknown', usage: { instances: 0, error: 'AccessDenied: no' } }),
      image('b-1', 60, { imageId: 'ami-unchecked', region: 'eu-west-1', usage: undefined }),
      image('b-2', 1),
    ], settings({ keep_newest: 1 }));
    expect(entry(planned, 'ami-unknown')).toMatchObject({ action: 'skip', reason: 'could not check for instances using it (AccessDenied: no); would deprecate' });
    expect(entry(planned, 'ami-unchecked')).toMatchObject({ action: 'skip', reason: 'not checked for instances using it (would deprecate)' });
  });

  it('keeps an image already deprecated until it is old enough to deregister, and brings a later deprecation forward', () => {
    const planned = plan([
      image('b-1', 10, { imageId: 'ami-deprecated', deprecationTime: daysAgo(3) }),
      image('b-1', 10, { imageId: 'ami-pending', region: 'eu-west-1', deprecationTime: new Date(NOW.getTime() + 60_000).toISOString() }),
      image('b-1', 10, { imageId: 'ami-later', region: 'us-west-2', deprecationTime: '2031-01-01T00:00:00.000Z' }),
      image('b-0', 40, { imageId: 'ami-deprecated-old', deprecationTime: daysAgo(20) }),
      image('b-2', 1),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    expect(entry(planned, 'ami-deprecated')).toMatchObject({
      action: 'keep',
      reason: `older than the newest 1, deprecated since ${daysAgo(3)}; deregistered after 2030-07-20`,
    });
    // The lifecycle's own deprecation, due in a moment.
    expect(entry(planned, 'ami-pending').action).toBe('keep');
    expect(entry(planned, 'ami-later')).toMatchObject({
      action: 'deprecate',
      reason: 'older than the newest 1; its deprecation at 2031-01-01T00:00:00.000Z is brought forward; deregistered after 2030-07-20',
    });
    expect(entry(planned, 'ami-deprecated-old').action).toBe('deregister');
  });

  it('counts deregister_after_days from each image\'s creation, strictly', () => {
    const planned = plan([
      image('b-1', 30, { imageId: 'ami-exactly' }),
      image('b-1', 30, { imageId: 'ami-just-over', region: 'eu-west-1', creationDate: daysAgo(30, 1) }),
      image('b-2', 1),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    expect(actions(planned)).toMatchObject({ 'ami-exactly': 'deprecate', 'ami-just-over': 'deregister' });
  });

  it('leaves out images of other families and without a family; lists one without a build id as skipped', () => {
    const other = image('b-9', 100, { imageId: 'ami-other-family' });
    const untagged = image('b-9', 100, { imageId: 'ami-untagged' });
    const handTagged = image('b-9', 100, { imageId: 'ami-hand-tagged' });
    const planned = plan([
      { ...other, tags: { ...other.tags, [FAMILY_TAG]: 'api' } },
      { ...untagged, tags: {} },
      { ...handTagged, tags: { [FAMILY_TAG]: 'web' } },
      image('b-1', 1, { imageId: 'ami-mine' }),
    ], settings({ keep_newest: 1, deregister_after_days: 1 }));
    expect(actions(planned)).toEqual({ 'ami-mine': 'keep', 'ami-hand-tagged': 'skip' });
    expect(entry(planned, 'ami-hand-tagged')).toMatchObject({ buildId: null, reason: `not made by the factory (no ${BUILD_ID_TAG} tag)` });
    // Last, after every build.
    expect(planned.at(-1)?.imageId).toBe('ami-hand-tagged');
  });

  it('skips an image that is not available: a copy still pending, a failed one', () => {
    const planned = plan([
      image('b-1', 40, { imageId: 'ami-pending', state: 'pending' }),
      image('b-1', 40, { imageId: 'ami-failed', region: 'eu-west-1', state: 'failed' }),
      image('b-2', 1),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    expect(entry(planned, 'ami-pending')).toMatchObject({ action: 'skip', reason: 'pending, not available (would deregister)' });
    expect(entry(planned, 'ami-failed').action).toBe('skip');
  });

  it('counts a build whose only image is still pending among the newest', () => {
    const planned = plan([image('b-new', 0, { imageId: 'ami-pending', state: 'pending' }), image('b-1', 10, { imageId: 'ami-b1' })], settings({ keep_newest: 1 }));
    expect(actions(planned)).toEqual({ 'ami-pending': 'keep', 'ami-b1': 'deprecate' });
  });

  it('deletes only the snapshots its own build made, and none that a staying image maps', () => {
    const shared = 'snap-shared';
    const planned = plan([
      image('b-1', 40, {
        imageId: 'ami-gone',
        snapshots: [
          { snapshotId: 'snap-root', buildId: 'b-1' },
          { snapshotId: 'snap-source', buildId: 'b-0' },
          { snapshotId: 'snap-foreign', buildId: null },
          { snapshotId: shared, buildId: 'b-1' },
        ],
      }),
      image('b-1', 40, { imageId: 'ami-used', region: 'us-east-1', usage: { instances: 1, error: null }, snapshots: [{ snapshotId: shared, buildId: 'b-1' }] }),
      image('b-2', 1),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    expect(entry(planned, 'ami-gone')).toMatchObject({
      action: 'deregister',
      deleteSnapshots: ['snap-root'],
      leftSnapshots: [
        { snapshotId: 'snap-source', reason: 'made by build b-0, not by b-1' },
        { snapshotId: 'snap-foreign', reason: `not made by the factory (no ${BUILD_ID_TAG} tag)` },
        { snapshotId: shared, reason: 'also used by ami-used, which stays' },
      ],
    });
  });

  it('deletes a snapshot two deregistered images share once, with the last', () => {
    const snapshots = [{ snapshotId: 'snap-both', buildId: 'b-1' }];
    const planned = plan([
      image('b-1', 40, { imageId: 'ami-x', snapshots }),
      image('b-1', 40, { imageId: 'ami-y', snapshots }),
      image('b-2', 1),
    ], settings({ keep_newest: 1, deregister_after_days: 30 }));
    // With the last of them: EC2 refuses to delete a snapshot a registered image maps.
    expect(entry(planned, 'ami-x')).toMatchObject({ deleteSnapshots: [], leftSnapshots: [{ snapshotId: 'snap-both', reason: 'also used by ami-y: deleted with it' }] });
    expect(entry(planned, 'ami-y')).toMatchObject({ deleteSnapshots: ['snap-both'], leftSnapshots: [] });
  });

  it('skips an image whose creation date cannot be read, and keeps its build among the newest', () => {
    const planned = plan([image('b-1', 0, { imageId: 'ami-odd', creationDate: 'yesterday' }), image('b-2', 10, { imageId: 'ami-b2' }), image('b-3', 20, { imageId: 'ami-b3' })], settings({ keep_newest: 2 }));
    expect(actions(planned)).toEqual({ 'ami-odd': 'keep', 'ami-b2': 'keep', 'ami-b3': 'deprecate' });
  });

  it('is the same plan whatever order the images come in', () => {
    const images = [image('b-1', 40), image('b-2', 20, { accountId: TARGET }), image('b-2', 20), image('b-3', 10), image('b-4', 1, { region: 'eu-west-1' })];
    const lifecycle = settings({ keep_newest: 2, deregister_after_days: 30 });
    expect(plan([...images].reverse(), lifecycle)).toEqual(plan(images, lifecycle));
  });
});
