/**
 * A build's write-ahead undo log. Each step records what it is about to change before it
 * changes it; clean-up replays the records newest first. The log lives on disk, owned by
 * the process identity that runs the build, so that a build killed with SIGKILL leaves a
 * precise list of what to undo for the next run of the engine on this host.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { currentProcessIdentity, type ProcessIdentity } from '../devices/process-identity.ts';
import type { UndoAction } from './undo-actions.ts';

interface JournalFile {
  buildId: string;
  owner: ProcessIdentity;
  startedAt: string;
  actions: UndoAction[];
}

export class UndoJournal {
  readonly path: string;
  readonly #state: JournalFile;
  /** Serialises writes: the file is rewritten whole and renamed into place. */
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string, state: JournalFile) {
    this.path = path;
    this.#state = state;
  }

  static async create(dir: string, buildId: string): Promise<UndoJournal> {
    await mkdir(dir, { recursive: true });
    const journal = new UndoJournal(join(dir, `${buildId}.json`), {
      buildId,
      owner: await currentProcessIdentity(),
      startedAt: new Date().toISOString(),
      actions: [],
    });
    await journal.#flush();
    return journal;
  }

  get buildId(): string {
    return this.#state.buildId;
  }

  get owner(): ProcessIdentity {
    return this.#state.owner;
  }

  /** Newest first: the order in which they must be undone. */
  get pending(): readonly UndoAction[] {
    return [...this.#state.actions].reverse();
  }

  /** Durably records a change that is about to be made. */
  async record(action: UndoAction): Promise<void> {
    this.#state.actions.push(action);
    await this.#flush();
  }

  /** Forgets a change that has been undone (or turned out not to need undoing). */
  async settle(action: UndoAction): Promise<void> {
    const index = this.#state.actions.lastIndexOf(action);
    if (index >= 0) this.#state.actions.splice(index, 1);
    await this.#flush();
  }

  /** Deletes the journal once everything in it is undone. */
  async close(): Promise<void> {
    await this.#writing;
    await rm(this.path, { force: true });
  }

  #flush(): Promise<void> {
    const snapshot = JSON.stringify(this.#state, null, 2);
    const write = async (): Promise<void> => {
      const temporary = `${this.path}.tmp`;
      await writeFile(temporary, snapshot);
      await rename(temporary, this.path);
    };
    this.#writing = this.#writing.then(write, write);
    return this.#writing;
  }

  /** Journals on this host, for recovery. Unreadable ones are reported, not skipped. */
  static async listAll(dir: string): Promise<{ path: string; journal?: UndoJournal; error?: string }[]> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const found = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const path = join(dir, name);
      try {
        const state = JSON.parse(await readFile(path, 'utf8')) as JournalFile;
        found.push({ path, journal: new UndoJournal(path, state) });
      } catch (error) {
        found.push({ path, error: String(error) });
      }
    }
    return found;
  }
}
