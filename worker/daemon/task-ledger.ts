/**
 * What this host has done for each build, on disk, so that SQS's at-least-once delivery
 * never makes it act twice: a duplicate or late task, or one that arrives again after the
 * daemon restarted, is checked against the build's record before anything happens.
 *
 * One small JSON file per build under `<stateDir>/tasks/`, replaced atomically (write, fsync,
 * rename), so a crash leaves the old record or the new one, never half of one. Changes to
 * one build's record are serialised in the process; one daemon owns a state directory (the
 * worker holds a lock on it), so no other process writes here.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { isErrno } from '../devices/process-identity.ts';
import { BuildIdSchema } from '../../contract/worker-tasks.ts';

const FailureSchema = z.object({ error: z.string(), cause: z.string() });

const ProvisionRecordSchema = z.discriminatedUnion('state', [
  /** `runId` names the daemon run that started it: a record of another run is an interrupted build. */
  z.object({ state: z.literal('running'), taskToken: z.string(), runId: z.string(), startedAt: z.string() }),
  z.object({
    state: z.literal('succeeded'),
    taskToken: z.string(),
    answer: z.object({ logKey: z.string(), timings: z.record(z.string(), z.number()) }),
    finishedAt: z.string(),
  }),
  z.object({ state: z.literal('failed'), taskToken: z.string(), failure: FailureSchema, finishedAt: z.string() }),
]);

const BuildRecordSchema = z.object({
  buildId: BuildIdSchema,
  /** The device name this host leased for the build and told the workflow. */
  claim: z.object({ deviceName: z.string(), claimedAt: z.string() }).optional(),
  provision: ProvisionRecordSchema.optional(),
  /** Set by the release task: nothing more is done for the build, whatever arrives late. */
  releasedAt: z.string().optional(),
  updatedAt: z.string(),
});

export type ProvisionRecord = z.infer<typeof ProvisionRecordSchema>;
export type BuildRecord = z.infer<typeof BuildRecordSchema>;

export class TaskLedger {
  readonly dir: string;
  readonly #pending = new Map<string, Promise<unknown>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  static forStateDir(stateDir: string): TaskLedger {
    return new TaskLedger(join(stateDir, 'tasks'));
  }

  async get(buildId: string): Promise<BuildRecord | undefined> {
    return this.#read(this.#path(buildId));
  }

  /**
   * Reads the build's record, lets `decide` choose the next one (undefined: unchanged) and
   * a result, and writes it before returning the result. Updates of one build run one at a
   * time, so a decision never rests on a record that is about to change.
   */
  async update<T>(
    buildId: string,
    decide: (current: BuildRecord | undefined) => { next?: Omit<BuildRecord, 'updatedAt'>; result: T },
  ): Promise<T> {
    const path = this.#path(buildId);
    const previous = this.#pending.get(buildId) ?? Promise.resolve();
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        const { next, result } = decide(await this.#read(path));
        if (next !== undefined) await this.#write(path, { ...next, buildId, updatedAt: new Date().toISOString() });
        return result;
      });
    this.#pending.set(buildId, run);
    try {
      return await run;
    } finally {
      if (this.#pending.get(buildId) === run) this.#pending.delete(buildId);
    }
  }

  async list(): Promise<BuildRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const records: BuildRecord[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const record = await this.#read(join(this.dir, name));
      if (record !== undefined) records.push(record);
    }
    return records;
  }

  /**
   * Forgets released builds last changed before `before`. A task can only arrive late by as
   * long as SQS keeps it (at most 14 days), so older records protect against nothing.
   */
  async prune(before: Date): Promise<string[]> {
    const pruned: string[] = [];
    for (const record of await this.list()) {
      if (record.releasedAt === undefined || Date.parse(record.updatedAt) >= before.getTime()) continue;
      await rm(this.#path(record.buildId), { force: true });
      pruned.push(record.buildId);
    }
    return pruned;
  }

  #path(buildId: string): string {
    return join(this.dir, `${BuildIdSchema.parse(buildId)}.json`);
  }

  async #read(path: string): Promise<BuildRecord | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      json = err;
    }
    const parsed = BuildRecordSchema.safeParse(json);
    if (!parsed.success) {
      // Guessing would risk provisioning a volume twice; a person decides what the build's state is.
      const why = json instanceof Error ? json.message : parsed.error.message;
      throw new Error(`task ledger record ${path} is unreadable (${why}): check the build, then fix or remove the file`);
    }
    return parsed.data;
  }

  async #write(path: string, record: BuildRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temporary = `${path}.${randomUUID().slice(0, 8)}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(JSON.stringify(record, null, 2) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  }
}
