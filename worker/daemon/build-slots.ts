/**
 * A host's build slots: one per build between its claim and its release, each holding the
 * lease on the device name the build attaches its volume under. The claims consumer asks
 * for work only while a slot is free, so the host's limit holds without any scheduler.
 */
import type { Ec2DeviceNameLease } from '../devices/ec2-allocator.ts';

export class NoFreeSlotError extends Error {
  override name = 'NoFreeSlotError';
}

export class BuildSlots {
  readonly capacity: number;
  readonly #held = new Map<string, Ec2DeviceNameLease>();
  #waiters: (() => void)[] = [];
  readonly #watchers = new Set<(used: number) => void>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get used(): number {
    return this.#held.size;
  }

  get hasFree(): boolean {
    return this.#held.size < this.capacity;
  }

  /** Hears the number of slots in use after each change; returns the way to stop hearing it. */
  watch(listener: (used: number) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#watchers) listener(this.#held.size);
  }

  lease(buildId: string): Ec2DeviceNameLease | undefined {
    return this.#held.get(buildId);
  }

  buildIds(): string[] {
    return [...this.#held.keys()];
  }

  take(buildId: string, lease: Ec2DeviceNameLease): void {
    if (this.#held.has(buildId)) throw new Error(`internal: build ${buildId} already holds a slot`);
    if (!this.hasFree) throw new NoFreeSlotError(`all ${this.capacity} build slots of this host are taken`);
    this.#held.set(buildId, lease);
    this.#changed();
  }

  /**
   * A claim taken up again after a restart: its slot is held whatever the capacity is now
   * (a lowered limit shows in fewer new claims, not in dropped builds).
   */
  restore(buildId: string, lease: Ec2DeviceNameLease): void {
    this.#held.set(buildId, lease);
    this.#changed();
  }

  /** Gives the build's device name back and frees its slot; idempotent. */
  async free(buildId: string): Promise<void> {
    const lease = this.#held.get(buildId);
    if (lease === undefined) return;
    await lease.release();
    this.#held.delete(buildId);
    this.#changed();
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves once a slot is free; rejects with the signal's reason when it is aborted. */
  async waitForFree(signal: AbortSignal): Promise<void> {
    while (!this.hasFree) {
      signal.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        this.#waiters.push(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
    signal.throwIfAborted();
  }
}
