/**
 * EBS's size limits per volume type (the EC2 user guide, "Amazon EBS volume types"), so a
 * size EC2 would refuse is an error at validation and at submit, not minutes later when the
 * workflow calls CreateVolume.
 */

/** GiB, inclusive. io2 is Block Express's; standard is magnetic. */
const SIZE_LIMITS: Readonly<Record<string, readonly [number, number]>> = {
  gp2: [1, 16_384],
  gp3: [1, 16_384],
  io1: [4, 16_384],
  io2: [4, 65_536],
  st1: [125, 16_384],
  sc1: [125, 16_384],
  standard: [1, 1_024],
};

/** The largest volume any type allows: the bound when the type is not known yet. */
const LARGEST = Math.max(...Object.values(SIZE_LIMITS).map(([, max]) => max));

/** Why EC2 would refuse this size, or undefined. */
export function volumeSizeProblem(sizeGiB: number, volumeType: string | undefined): string | undefined {
  const limits = volumeType === undefined ? undefined : SIZE_LIMITS[volumeType];
  if (limits === undefined) {
    return sizeGiB > LARGEST ? `must be at most ${LARGEST} GiB, the largest EBS volume` : undefined;
  }
  const [min, max] = limits;
  if (sizeGiB < min || sizeGiB > max) return `must be between ${min} and ${max} GiB for ${volumeType ?? ''} volumes`;
  return undefined;
}
