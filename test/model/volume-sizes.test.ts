/** Sizes EC2 would refuse are errors when the template is read, not when CreateVolume runs. */
import { describe, expect, it } from 'vitest';
import { baseBuilder, errorsOf, parse } from './support.ts';

describe('EBS size limits', () => {
  it('refuses a root volume larger than any EBS volume, and one beyond its type', () => {
    expect(errorsOf(() => parse({ builders: [{ ...baseBuilder, root_volume_size: 1e9 }] }))).toContainEqual({
      path: 'builders[0].root_volume_size',
      message: 'root_volume_size must be at most 65536 GiB, the largest EBS volume',
    });
    expect(errorsOf(() => parse({ builders: [{ ...baseBuilder, root_volume_size: 2048, root_volume_type: 'standard' }] }))).toContainEqual({
      path: 'builders[0].root_volume_size',
      message: 'root_volume_size must be between 1 and 1024 GiB for standard volumes',
    });
  });

  it('refuses a mapping smaller than its type allows', () => {
    const mapping = { device_name: '/dev/sdb', volume_type: 'st1', volume_size: 10 };
    expect(errorsOf(() => parse({ builders: [{ ...baseBuilder, ami_block_device_mappings: [mapping] }] }))).toContainEqual({
      path: 'builders[0].ami_block_device_mappings[0].volume_size',
      message: 'volume_size must be between 125 and 16384 GiB for st1 volumes',
    });
  });

  it('accepts the sizes EC2 accepts', () => {
    expect(() => parse({ builders: [{ ...baseBuilder, root_volume_size: 16_384, root_volume_type: 'gp3' }] })).not.toThrow();
  });
});
