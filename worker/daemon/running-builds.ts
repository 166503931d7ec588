/**
 * The provisions running on this host, each with the abort controller that stops it. The
 * chroot engine honours the signal: it kills the running command and unwinds the build's
 * journal, so an aborted build leaves the host as clean as a failed one.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Why a build was stopped from outside; its name is the task failure's `error`. */
export class BuildAbortedError extends Error {
  override name = 'BuildAborted';
}

interface RunningBuild {
  controller: AbortController;
  done: Promise<void>;
}

export class RunningBuilds {
  readonly #builds = new Map<string, RunningBuild>();

  get size(): number {
    return this.#builds.size;
  }

  ids(): string[] {
    return [...this.#builds.keys()];
  }

  has(buildId: string): boolean {
    return this.#builds.has(buildId);
  }

  /** Runs `build` in the background; it must report its own outcome (it is never awaited for one). */
  start(buildId: string, build: (controller: AbortController) => Promise<void>): void {
    if (this.#builds.has(buildId)) throw new Error(`internal: build ${buildId} is already running`);
    const controller = new AbortController();
    const done = build(controller)
      .catch(() => undefined)
      .finally(() => this.#builds.delete(buildId));
    this.#builds.set(buildId, { controller, done });
  }

  abort(buildId: string, reason: BuildAbortedError): void {
    this.#builds.get(buildId)?.controller.abort(reason);
  }

  /** Resolves when the build is over (at once if it is not running). */
  async settled(buildId: string): Promise<void> {
    await this.#builds.get(buildId)?.done;
  }

  /** Waits for every running build; past `timeoutMs` aborts those left and waits for their clean-up. */
  async drain(timeoutMs: number, reason: () => BuildAbortedError): Promise<{ aborted: string[] }> {
    const all = (): Promise<unknown> => Promise.allSettled([...this.#builds.values()].map((b) => b.done));
    const timer = new AbortController();
    const inTime = await Promise.race([
      all().then(() => true),
      sleep(timeoutMs, false, { signal: timer.signal }).catch(() => false),
    ]);
    timer.abort();
    const aborted = inTime ? [] : this.ids();
    for (const build of this.#builds.values()) build.controller.abort(reason());
    await all();
    return { aborted };
  }
}
