import { describe, expect, it } from 'vitest';
import { BUILT_IN_PROFILES } from '../../../local/aws-model/profile.ts';
import { bucketFamilyOf, TokenBuckets } from '../../../local/aws-model/token-buckets.ts';

const limits = { ...BUILT_IN_PROFILES.typical.buckets, tags: { size: 3, refillPerSecond: 1 } };
const key = { accessKeyId: 'AKID', region: 'us-east-1', family: 'tags' } as const;

describe('token buckets', () => {
  it('empties after its size in a burst and refills at its rate', () => {
    const time = { now: 1_000_000 };
    const buckets = new TokenBuckets(limits, () => time.now);
    expect([buckets.take(key), buckets.take(key), buckets.take(key), buckets.take(key)]).toEqual([true, true, true, false]);
    time.now += 500;
    expect(buckets.take(key)).toBe(false);
    time.now += 500;
    expect(buckets.take(key)).toBe(true);
    expect(buckets.take(key)).toBe(false);
  });

  it('never holds more than its size, however long it rests', () => {
    const time = { now: 0 };
    const buckets = new TokenBuckets(limits, () => time.now);
    buckets.take(key);
    time.now += 3_600_000;
    expect(buckets.available(key)).toBe(3);
  });

  it('keeps one bucket per account, region and family', () => {
    const time = { now: 0 };
    const buckets = new TokenBuckets(limits, () => time.now);
    for (let index = 0; index < 3; index += 1) buckets.take(key);
    expect(buckets.take(key)).toBe(false);
    expect(buckets.take({ ...key, accessKeyId: 'OTHER' })).toBe(true);
    expect(buckets.take({ ...key, region: 'eu-west-1' })).toBe(true);
    expect(buckets.take({ ...key, family: 'default' })).toBe(true);
  });

  it('sorts actions into EC2 documented families', () => {
    expect(bucketFamilyOf('CreateVolume', false)).toBe('mutatingVolume');
    expect(bucketFamilyOf('DeregisterImage', false)).toBe('mutatingVolume');
    expect(bucketFamilyOf('DeleteTags', false)).toBe('tags');
    expect(bucketFamilyOf('CopyImage', false)).toBe('copyImage');
    expect(bucketFamilyOf('AttachVolume', false)).toBe('default');
    expect(bucketFamilyOf('RegisterImage', false)).toBe('default');
    expect(bucketFamilyOf('RunInstances', false)).toBe('default');
    expect(bucketFamilyOf('DescribeVolumes', false)).toBe('describeUnfiltered');
    expect(bucketFamilyOf('DescribeSnapshots', true)).toBe('describeFiltered');
    expect(bucketFamilyOf('DescribeImages', false)).toBe('describeFiltered');
    expect(bucketFamilyOf('DescribeInstances', false)).toBe('describeFiltered');
  });
});
