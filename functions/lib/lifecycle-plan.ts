/**
 * The lifecycle's rules (docs/lifecycle.md), as a pure function: the family's images as found
 * in every account and region, the family's settings and the time → one action per image,
 * each with its reason. Nothing here calls AWS, so the dry run and the real run decide alike
 * and the rules are tested without a cloud.
 *
 * - An image is the family's when its FAMILY_TAG names the family; it is the factory's when it
 *   also carries BUILD_ID_TAG. An image of another family (or none) is not the lifecycle's
 *   business and is left out; one with the family tag but no build id was tagged by someone
 *   else and is listed as skipped.
 * - "Newest N" counts builds, not images: a build's copies in several regions and accounts
 *   are one release, and a release is kept or retired whole. A build's age is that of its
 *   first image (the build region's; a copy comes later). Builds as old as the Nth newest are
 *   kept with it: ties have no order, so the rules err towards keeping.
 * - Older builds' images are deprecated, and deregistered (with the snapshots their build
 *   made) once the image itself is older than deregister_after_days: counted per image, so a
 *   copy made later (a re-distribution) is never removed before it is that old.
 * - The keep tag, instances still using an image (skip_in_use), and a state other than
 *   available each stop the lifecycle from touching it; ranking ignores them.
 */
import { BUILD_ID_TAG } from '../../contract/execution.ts';
import { FAMILY_TAG, type Lifecycle } from '../../contract/factory-config.ts';
import type { LeftSnapshot, LifecycleAction, LifecycleImage } from '../../contract/lifecycle.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A deprecation due this soon counts as done: the lifecycle deprecates "now" as the next whole
 * minute (EC2 refuses a time in the past), so its own deprecation is still pending for a moment.
 */
export const DEPRECATION_PENDING_MS = 5 * 60 * 1000;

/** A snapshot an image maps, with the build id tag it carries (null without). */
export interface FoundSnapshot {
  snapshotId: string;
  buildId: string | null;
}

/** An image as the inventory found it in one account and region. */
export interface FoundImage {
  accountId: string;
  region: string;
  imageId: string;
  name: string;
  /** EC2's CreationDate (ISO 8601). */
  creationDate: string;
  /** EC2's State: available, pending, failed, disabled, ... */
  state: string;
  tags: Readonly<Record<string, string>>;
  snapshots: readonly FoundSnapshot[];
  /** EC2's DeprecationTime, null when none is set. */
  deprecationTime: string | null;
  /**
   * Instances launched from it (pending, running, stopping or stopped) in the accounts that may
   * launch it there; `error` when a check failed, so the count may be short. Absent when not checked.
   */
  usage?: { instances: number; error: string | null };
}

/** An image with its action: the report's entry before it is applied. */
export type PlannedImage = Omit<LifecycleImage, 'outcome' | 'error'>;

export interface PlanInput {
  family: string;
  lifecycle: Lifecycle;
  images: readonly FoundImage[];
  now: Date;
}

interface Build {
  buildId: string;
  /** Milliseconds; null when none of its images has a readable creation date. */
  created: number | null;
}

const time = (iso: string | null): number | null => {
  if (iso === null) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
};

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

const ordinal = (n: number): string => `#${n}`;

/** Builds newest first; a build without a readable creation date counts as newest (it is kept), ties by id. */
function rankBuilds(images: readonly FoundImage[]): Build[] {
  const times = new Map<string, number[]>();
  for (const image of images) {
    const buildId = image.tags[BUILD_ID_TAG];
    if (buildId === undefined) continue;
    const ms = time(image.creationDate);
    times.set(buildId, [...(times.get(buildId) ?? []), ...(ms === null ? [] : [ms])]);
  }
  return [...times]
    .map(([buildId, all]) => ({ buildId, created: all.length === 0 ? null : Math.min(...all) }))
    .sort((a, b) => (b.created ?? Infinity) - (a.created ?? Infinity) || b.buildId.localeCompare(a.buildId));
}

/** Why a build is kept as one of the newest, or null when it is older. */
function newestReason(builds: readonly Build[], index: number, keep: number): string | null {
  if (index < keep) return `newest ${keep} (${ordinal(index + 1)})`;
  const last = builds[keep - 1];
  const build = builds[index];
  if (last !== undefined && build !== undefined && build.created === last.created) {
    return `newest ${keep}: created at the same time as the ${ordinal(keep)}, which is kept`;
  }
  return null;
}

function decideOlder(image: FoundImage, lifecycle: Lifecycle, keep: number, now: number): { action: LifecycleAction; reason: string } {
  const created = time(image.creationDate);
  if (created === null) return { action: 'skip', reason: `no readable creation date ("${image.creationDate}")` };
  const older = `older than the newest ${keep}`;
  const days = lifecycle.deregister_after_days;
  const deregisterOn = days === undefined ? null : created + days * DAY_MS;
  let wanted: { action: LifecycleAction; reason: string };
  if (deregisterOn !== null && now > deregisterOn) {
    wanted = { action: 'deregister', reason: `${older} and ${Math.floor((now - created) / DAY_MS)} days old (deregister_after_days ${days ?? ''})` };
  } else {
    const then = deregisterOn === null ? 'never deregistered (no deregister_after_days)' : `deregistered after ${day(deregisterOn)}`;
    const deprecated = time(image.deprecationTime);
    if (deprecated !== null && deprecated <= now + DEPRECATION_PENDING_MS) {
      return { action: 'keep', reason: `${older}, deprecated since ${image.deprecationTime ?? ''}; ${then}` };
    }
    const forward = deprecated === null ? '' : `; its deprecation at ${image.deprecationTime ?? ''} is brought forward`;
    wanted = { action: 'deprecate', reason: `${older}${forward}; ${then}` };
  }
  if (image.tags[lifecycle.keep_tag] !== undefined) return { action: 'skip', reason: `tagged ${lifecycle.keep_tag} (would ${wanted.action})` };
  if (image.state !== 'available') return { action: 'skip', reason: `${image.state}, not available (would ${wanted.action})` };
  if (lifecycle.skip_in_use) {
    const usage = image.usage;
    if (usage === undefined) return { action: 'skip', reason: `not checked for instances using it (would ${wanted.action})` };
    if (usage.instances > 0) {
      return { action: 'skip', reason: `in use by ${usage.instances} instance${usage.instances === 1 ? '' : 's'} (would ${wanted.action})` };
    }
    if (usage.error !== null) return { action: 'skip', reason: `could not check for instances using it (${usage.error}); would ${wanted.action}` };
  }
  return wanted;
}

const where = (image: { accountId: string; region: string }): string => `${image.accountId}/${image.region}`;

/**
 * The snapshots each deregistration deletes: only those its own build made, none that an image
 * which stays maps, and a snapshot several deregistered images map only with the last of them
 * (EC2 refuses to delete a snapshot a registered image still maps).
 */
function withSnapshots(entries: readonly Decided[]): PlannedImage[] {
  const stays = new Map<string, string>();
  const lastDeregistered = new Map<string, string>();
  for (const { image, action } of entries) {
    for (const snapshot of image.snapshots) {
      const key = `${where(image)}/${snapshot.snapshotId}`;
      if (action === 'deregister') lastDeregistered.set(key, image.imageId);
      else stays.set(key, image.imageId);
    }
  }
  return entries.map(({ image, buildId, action, reason }) => {
    const deleteSnapshots: string[] = [];
    const leftSnapshots: LeftSnapshot[] = [];
    if (action === 'deregister' && buildId !== null) {
      for (const { snapshotId, buildId: maker } of image.snapshots) {
        const key = `${where(image)}/${snapshotId}`;
        const user = stays.get(key);
        const last = lastDeregistered.get(key);
        if (maker !== buildId) {
          const reason = maker === null ? `not made by the factory (no ${BUILD_ID_TAG} tag)` : `made by build ${maker}, not by ${buildId}`;
          leftSnapshots.push({ snapshotId, reason });
        } else if (user !== undefined) leftSnapshots.push({ snapshotId, reason: `also used by ${user}, which stays` });
        else if (last !== image.imageId) leftSnapshots.push({ snapshotId, reason: `also used by ${last ?? ''}: deleted with it` });
        else deleteSnapshots.push(snapshotId);
      }
    }
    const { accountId, region, imageId, name, creationDate } = image;
    return { accountId, region, imageId, name, creationDate, buildId, action, reason, deleteSnapshots, leftSnapshots };
  });
}

interface Decided {
  image: FoundImage;
  buildId: string | null;
  action: LifecycleAction;
  reason: string;
}

export function planLifecycle({ family, lifecycle, images, now }: PlanInput): PlannedImage[] {
  const mine = images.filter((image) => image.tags[FAMILY_TAG] === family);
  const builds = rankBuilds(mine);
  const rank = new Map(builds.map((build, index) => [build.buildId, index]));
  const keep = lifecycle.keep_newest;
  const decided = mine.map((image): Decided => {
    const buildId = image.tags[BUILD_ID_TAG] ?? null;
    if (buildId === null) return { image, buildId, action: 'skip', reason: `not made by the factory (no ${BUILD_ID_TAG} tag)` };
    const newest = newestReason(builds, rank.get(buildId) ?? 0, keep);
    if (newest !== null) return { image, buildId, action: 'keep', reason: newest };
    return { image, buildId, ...decideOlder(image, lifecycle, keep, now.getTime()) };
  });
  const order = ({ buildId }: Decided): number => (buildId === null ? builds.length : (rank.get(buildId) ?? builds.length));
  decided.sort((a, b) => order(a) - order(b) || where(a.image).localeCompare(where(b.image)) || a.image.imageId.localeCompare(b.image.imageId));
  return withSnapshots(decided);
}
