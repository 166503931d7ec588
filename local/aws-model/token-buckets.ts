/**
 * EC2's request throttling: a token bucket per API family, per account and region. A call takes
 * a token; the bucket refills continuously up to its size; an empty bucket means
 * RequestLimitExceeded. Pure: the clock is injected so tests need not wait for refills.
 */
import type { AwsModelProfile, BucketFamily } from './profile.ts';

/** Actions in EC2's "mutating volume and snapshot" bucket (100 / 5). */
const MUTATING_VOLUME_ACTIONS = new Set([
  'CreateVolume',
  'CreateSnapshot',
  'CreateSnapshots',
  'ModifyImageAttribute',
  'ModifySnapshotAttribute',
  'DeleteVolume',
  'DeleteSnapshot',
  'DeregisterImage',
]);

/**
 * The bucket an action draws from. Unfiltered volume and snapshot listings are the expensive
 * ones AWS meters hardest; with a filter or pagination they join the other Describe calls.
 */
export function bucketFamilyOf(action: string, filteredOrPaginated: boolean): BucketFamily {
  if (MUTATING_VOLUME_ACTIONS.has(action)) return 'mutatingVolume';
  if (action === 'CreateTags' || action === 'DeleteTags') return 'tags';
  if (action === 'CopyImage') return 'copyImage';
  if ((action === 'DescribeVolumes' || action === 'DescribeSnapshots') && !filteredOrPaginated) return 'describeUnfiltered';
  if (action.startsWith('Describe')) return 'describeFiltered';
  return 'default';
}

export interface BucketKey {
  accessKeyId: string;
  region: string;
  family: BucketFamily;
}

interface BucketState {
  tokens: number;
  updatedAt: number;
}

export class TokenBuckets {
  readonly #limits: AwsModelProfile['buckets'];
  readonly #now: () => number;
  readonly #buckets = new Map<string, BucketState>();

  /** `now` gives milliseconds (Date.now by default). */
  constructor(limits: AwsModelProfile['buckets'], now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Takes a token if there is one: false means the call is throttled. */
  take(key: BucketKey): boolean {
    const bucket = this.#refilled(key);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Tokens left now (fractional while refilling). */
  available(key: BucketKey): number {
    return this.#refilled(key).tokens;
  }

  #refilled(key: BucketKey): BucketState {
    const { size, refillPerSecond } = this.#limits[key.family];
    const id = `${key.accessKeyId}\u0000${key.region}\u0000${key.family}`;
    const now = this.#now();
    let bucket = this.#buckets.get(id);
    if (bucket === undefined) {
      // A new account starts with a full bucket, as on AWS.
      bucket = { tokens: size, updatedAt: now };
      this.#buckets.set(id, bucket);
      return bucket;
    }
    const elapsedSeconds = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(size, bucket.tokens + elapsedSeconds * refillPerSecond);
    bucket.updatedAt = now;
    return bucket;
  }
}
