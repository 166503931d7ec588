/**
 * What the chroot engine holds for a build's block device, whichever way it was obtained:
 * a loop device attached to a local image, or an EBS volume attached on EC2.
 */
export interface DeviceLease {
  /** The local block device, e.g. /dev/loop3 or /dev/nvme1n1. */
  readonly device: string;
  /** Gives the device back; idempotent, and safe to call again after it failed. */
  release(): Promise<void>;
}

/**
 * Makes a release function idempotent: concurrent callers share one attempt, a success is
 * remembered, and a failure (a device still mounted, say) may be retried later.
 */
export function releaseOnce(release: () => Promise<void>): () => Promise<void> {
  let done = false;
  let pending: Promise<void> | undefined;
  return () => {
    if (done) return Promise.resolve();
    pending ??= release().then(
      () => {
        done = true;
        pending = undefined;
      },
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
    return pending;
  };
}
