/**
 * Scale-in protection while the host has builds. The group's scale-in picks a host by its own
 * rules (oldest launch template, zone balance), not by which host is idle; the lifecycle hook
 * (lifecycle.ts) makes a busy host finish first, but that holds the group's capacity for the
 * length of a build and removes a busy host while an idle one stays. So the worker protects
 * its instance from scale-in while any build slot is taken and lifts the protection once all
 * are free: the group then removes idle hosts. A replacement (an unhealthy host, a new launch
 * template in a rolling update) ignores the protection and still drains through the hook.
 *
 * Calls are made one at a time, the newest wanted state winning: a burst of claims and
 * releases costs at most one call in flight and one after it. A failed call is logged and
 * made again on the next change; the hook keeps builds safe meanwhile.
 */
import { SetInstanceProtectionCommand } from '@aws-sdk/client-auto-scaling';
import type { Logger } from 'pino';
import type { AutoScalingMembership, AutoScalingSender } from './lifecycle.ts';

export interface ProtectionOptions {
  autoscaling: AutoScalingSender;
  membership: Pick<AutoScalingMembership, 'groupName'>;
  instanceId: string;
  log: Logger;
}

export class ScaleInProtection {
  readonly #options: ProtectionOptions;
  /** What the group was last told; undefined before the first call. */
  #told: boolean | undefined;
  #wanted = false;
  #inFlight: Promise<void> | undefined;

  constructor(options: ProtectionOptions) {
    this.#options = options;
  }

  /** The host has `used` builds: protected while it has any. Resolves once the group was told (or the call failed). */
  async update(used: number): Promise<void> {
    this.#wanted = used > 0;
    while (this.#inFlight !== undefined) await this.#inFlight;
    if (this.#told === this.#wanted) return;
    const wanted = this.#wanted;
    this.#inFlight = this.#tell(wanted).finally(() => {
      this.#inFlight = undefined;
    });
    await this.#inFlight;
  }

  async #tell(protect: boolean): Promise<void> {
    const { autoscaling, membership, instanceId, log } = this.#options;
    try {
      await autoscaling.send(
        new SetInstanceProtectionCommand({ AutoScalingGroupName: membership.groupName, InstanceIds: [instanceId], ProtectedFromScaleIn: protect }),
      );
      this.#told = protect;
      log.info({ protectedFromScaleIn: protect }, protect ? 'builds running: protected from scale-in' : 'idle: scale-in may remove this host');
    } catch (err) {
      log.warn({ err, protectedFromScaleIn: protect }, 'could not set scale-in protection; the next claim or release tries again');
    }
  }
}

/** Keeps the protection in step with the worker's slots from now on; returns the way to stop. */
export function protectWhileBusy(
  worker: { watchSlots(listener: (used: number) => void): () => void; readonly status: { claimedBuilds: string[] } },
  protection: ScaleInProtection,
): () => void {
  const stop = worker.watchSlots((used) => {
    void protection.update(used);
  });
  // Claims taken up again at start were restored before anyone listened.
  void protection.update(worker.status.claimedBuilds.length);
  return stop;
}
