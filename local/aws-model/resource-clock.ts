/**
 * When each modelled thing started and when it is done: moto finishes everything at once, so
 * the model keeps its own clock of volumes being created, attached and detached, snapshots being
 * taken and images being registered. Times are the profile's latencies times its timeScale.
 */
import type { AwsModelProfile } from './profile.ts';

/** How many GiB of a volume changed since its last snapshot: what a snapshot's time scales with. */
export type ChangedGiB = (volumeId: string) => Promise<number> | number;

/** Without a better figure, a build is taken to change an eighth of its volume. */
export const DEFAULT_CHANGED_FRACTION = 0.125;

export interface Attachment {
  volumeId: string;
  instanceId: string;
  device: string;
  attachTime?: string;
}

interface Span {
  start: number;
  end: number;
}

export class ResourceClock {
  readonly #profile: AwsModelProfile;
  readonly #changedGiB: ChangedGiB;
  readonly #now: () => number;
  readonly #volumeSizes = new Map<string, number>();
  readonly #creating = new Map<string, Span>();
  readonly #attaching = new Map<string, Span>();
  readonly #detaching = new Map<string, Span & { attachment: Attachment }>();
  readonly #snapshots = new Map<string, Span & { volumeId: string }>();
  readonly #images = new Map<string, Span>();

  constructor(options: { profile: AwsModelProfile; changedGiB?: ChangedGiB | undefined; now?: () => number }) {
    this.#profile = options.profile;
    this.#now = options.now ?? Date.now;
    this.#changedGiB = options.changedGiB ?? ((volumeId) => (this.#volumeSizes.get(volumeId) ?? 0) * DEFAULT_CHANGED_FRACTION);
  }

  /** Milliseconds of model time for this many seconds of AWS time. */
  #scaled(seconds: number): number {
    return seconds * this.#profile.timeScale * 1000;
  }

  #span(seconds: number): Span {
    const start = this.#now();
    return { start, end: start + this.#scaled(seconds) };
  }

  #active<T extends Span>(spans: Map<string, T>, id: string): T | undefined {
    const span = spans.get(id);
    if (span === undefined) return undefined;
    if (this.#now() >= span.end) {
      spans.delete(id);
      return undefined;
    }
    return span;
  }

  volumeCreated(volumeId: string, sizeGiB: number | undefined): void {
    if (sizeGiB !== undefined) this.#volumeSizes.set(volumeId, sizeGiB);
    this.#creating.set(volumeId, this.#span(this.#profile.latencySeconds.createVolume));
  }

  /** Moto knows sizes of volumes it made itself (e.g. an instance's root volume). */
  rememberVolumeSize(volumeId: string, sizeGiB: number): void {
    if (!this.#volumeSizes.has(volumeId)) this.#volumeSizes.set(volumeId, sizeGiB);
  }

  attachStarted(volumeId: string): void {
    this.#detaching.delete(volumeId);
    this.#attaching.set(volumeId, this.#span(this.#profile.latencySeconds.attachVolume));
  }

  detachStarted(attachment: Attachment): void {
    this.#attaching.delete(attachment.volumeId);
    this.#detaching.set(attachment.volumeId, { ...this.#span(this.#profile.latencySeconds.detachVolume), attachment });
  }

  async snapshotStarted(snapshotId: string, volumeId: string): Promise<void> {
    const changed = await this.#changedGiB(volumeId);
    const { snapshotBase, snapshotPerChangedGiB } = this.#profile.latencySeconds;
    this.#snapshots.set(snapshotId, { ...this.#span(snapshotBase + snapshotPerChangedGiB * Math.max(0, changed)), volumeId });
  }

  snapshotDeleted(snapshotId: string): void {
    this.#snapshots.delete(snapshotId);
  }

  imageRegistered(imageId: string): void {
    this.#images.set(imageId, this.#span(this.#profile.latencySeconds.registerImage));
  }

  isCreating(volumeId: string): boolean {
    return this.#active(this.#creating, volumeId) !== undefined;
  }

  isAttaching(volumeId: string): boolean {
    return this.#active(this.#attaching, volumeId) !== undefined;
  }

  /** The attachment being detached, while it is. */
  detaching(volumeId: string): Attachment | undefined {
    return this.#active(this.#detaching, volumeId)?.attachment;
  }

  /** 0 to 99 while the snapshot is pending; undefined once it is completed (or not modelled). */
  snapshotProgress(snapshotId: string): number | undefined {
    const span = this.#active(this.#snapshots, snapshotId);
    if (span === undefined) return undefined;
    const fraction = (this.#now() - span.start) / (span.end - span.start);
    return Math.min(99, Math.max(0, Math.floor(fraction * 100)));
  }

  /** The modelled snapshots still pending: what EC2's limit of pending snapshots counts. */
  pendingSnapshotCount(): number {
    return [...this.#snapshots.keys()].filter((snapshotId) => this.snapshotProgress(snapshotId) !== undefined).length;
  }

  /** EC2's limit on an account's pending snapshots in a region (the profile's). */
  get pendingSnapshotLimit(): number {
    return this.#profile.limits.pendingSnapshots;
  }

  isImagePending(imageId: string): boolean {
    return this.#active(this.#images, imageId) !== undefined;
  }
}
