/**
 * Host-local locks with owners: a lock is a directory under the host's lock directory.
 *
 * proper-lockfile provides the atomic mkdir, the timer that keeps a held lock's mtime moving
 * and the clean-up on normal exit. Its take-over policy is replaced: it judges staleness from
 * the mtime alone, so a SIGKILLed build blocks everyone for the stale period, and two waiters
 * can both "take over" the same stale lock, the second removing the first one's fresh lock.
 * Here each lock directory holds an owner record (lock-owner.ts); a lock is taken over at once
 * when its owner is provably dead, and a lock without a readable owner (its process died
 * between mkdir and writing the record) only once its mtime has stopped moving for a while.
 * Every take-over happens under a tiny guard lock, so a lock is broken by one process at a
 * time and re-checked after the verdict.
 *
 * The lock directory must be local to this host (e.g. under /run): owners are identified by
 * this host's boot id and process table.
 */
import * as fs from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { releaseOnce } from './device-lease.ts';
import { isLockOwnerAlive, readOwner, writeOwner, type LockOwner } from './lock-owner.ts';
import { currentProcessIdentity, isErrno } from './process-identity.ts';

export type { LockOwner };

export interface HeldLock {
  readonly name: string;
  /** The lock directory. */
  readonly path: string;
  readonly owner: LockOwner;
  /** Set if someone else removed or touched the lock while it was held. */
  readonly compromised: Error | undefined;
  /** Idempotent. */
  release(): Promise<void>;
}

export interface AcquireOptions {
  /** How long to wait for a live holder; 0 fails at once with LockBusyError. */
  waitMs?: number;
  /** Recorded in the owner record, shown to whoever finds the lock busy. */
  purpose?: string;
  /** A lock with no readable owner record is abandoned once its mtime is this old. */
  ownerlessStaleMs?: number;
  onCompromised?: (err: Error) => void;
}

export interface LockInfo {
  name: string;
  path: string;
  owner: LockOwner | undefined;
  /** The owner is dead, or there is no owner record and the lock stopped being refreshed. */
  abandoned: boolean;
}

export class LockBusyError extends Error {
  readonly code = 'ELOCKED';
  readonly lockName: string;
  readonly holder: LockOwner | undefined;

  constructor(lockName: string, path: string, holder: LockOwner | undefined) {
    const by =
      holder === undefined
        ? 'a process that has not recorded itself yet'
        : `pid ${holder.pid} since ${holder.acquiredAt}${holder.purpose === undefined ? '' : ` (${holder.purpose})`}`;
    super(`lock ${lockName} (${path}) is held by ${by}`);
    this.name = 'LockBusyError';
    this.lockName = lockName;
    this.holder = holder;
  }
}

const GUARD = '.guard';
/** How often a held lock's mtime is refreshed; the owner-less rule below relies on it. */
const REFRESH_MS = 2_000;
const DEFAULT_OWNERLESS_STALE_MS = 30_000;
/** Switches proper-lockfile's own mtime take-over off; only breakIfAbandoned takes over. */
const NEVER_MS = 100 * 365 * 24 * 3600 * 1000;
const MAX_POLL_MS = 250;

export async function acquireLock(lockDir: string, name: string, options: AcquireOptions = {}): Promise<HeldLock> {
  assertLockName(name);
  await mkdir(lockDir, { recursive: true });
  const path = lockPathOf(lockDir, name);
  const identity = await currentProcessIdentity();
  const ownerlessStaleMs = options.ownerlessStaleMs ?? DEFAULT_OWNERLESS_STALE_MS;
  const deadline = Date.now() + (options.waitMs ?? 0);
  let pollMs = 10;

  for (;;) {
    const owner: LockOwner = {
      ...identity,
      hostname: hostname(),
      token: randomUUID(),
      acquiredAt: new Date().toISOString(),
      ...(options.purpose === undefined ? {} : { purpose: options.purpose }),
    };
    const state: { compromised: Error | undefined } = { compromised: undefined };
    let unlock: (() => Promise<void>) | undefined;
    try {
      unlock = await lockfile.lock(join(lockDir, name), {
        lockfilePath: path,
        realpath: false,
        stale: NEVER_MS,
        update: REFRESH_MS,
        retries: 0,
        fs: lockDirFs(owner),
        onCompromised: (err) => {
          state.compromised = err;
          options.onCompromised?.(err);
        },
      });
    } catch (err) {
      if (!isErrno(err, 'ELOCKED')) throw err;
    }
    if (unlock !== undefined) return heldLock(name, path, owner, state, unlock);

    if ((await breakIfAbandoned(lockDir, name, ownerlessStaleMs)) !== 'held') continue;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new LockBusyError(name, path, await readOwner(path));
    // Jitter keeps four builds that all saw the same release from retrying in lock-step.
    await sleep(Math.min(pollMs, remaining) * (0.5 + Math.random()));
    pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
  }
}

export async function listLocks(lockDir: string, options: Pick<AcquireOptions, 'ownerlessStaleMs'> = {}): Promise<LockInfo[]> {
  let entries: string[];
  try {
    entries = await readdir(lockDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const staleMs = options.ownerlessStaleMs ?? DEFAULT_OWNERLESS_STALE_MS;
  const infos: LockInfo[] = [];
  for (const entry of entries.sort()) {
    if (!entry.endsWith('.lock') || entry.startsWith('.')) continue;
    const name = entry.slice(0, -'.lock'.length);
    const path = join(lockDir, entry);
    const inspection = await inspectLock(path, staleMs);
    if (inspection !== undefined) infos.push({ name, path, owner: inspection.owner, abandoned: inspection.abandoned });
  }
  return infos;
}

/** For crash recovery: removes every lock whose owner is dead; returns the names broken. */
export async function breakLocksOfDeadOwners(
  lockDir: string,
  options: Pick<AcquireOptions, 'ownerlessStaleMs'> = {},
): Promise<string[]> {
  const staleMs = options.ownerlessStaleMs ?? DEFAULT_OWNERLESS_STALE_MS;
  const broken: string[] = [];
  for (const info of await listLocks(lockDir, options)) {
    if (!info.abandoned) continue;
    if ((await breakIfAbandoned(lockDir, info.name, staleMs)) === 'broken') broken.push(info.name);
  }
  return broken;
}

function heldLock(
  name: string,
  path: string,
  owner: LockOwner,
  state: { compromised: Error | undefined },
  unlock: () => Promise<void>,
): HeldLock {
  return {
    name,
    path,
    owner,
    get compromised() {
      return state.compromised;
    },
    release: releaseOnce(() => unlock().catch(ignoreAlreadyReleased)),
  };
}

/** The lock is already gone: compromised (and reported) or released through another path. */
function ignoreAlreadyReleased(err: unknown): void {
  if (!isErrno(err, 'ERELEASED') && !isErrno(err, 'ENOTACQUIRED')) throw err;
}

type BreakResult = 'broken' | 'gone' | 'held';

async function breakIfAbandoned(lockDir: string, name: string, ownerlessStaleMs: number): Promise<BreakResult> {
  const path = lockPathOf(lockDir, name);
  return withGuard(lockDir, async () => {
    const before = await inspectLock(path, ownerlessStaleMs);
    if (before === undefined) return 'gone';
    if (!before.abandoned) return 'held';
    // The holder may have released and someone else acquired between the first read and
    // the verdict. Only the same dead owner's lock (same token), or the same owner-less
    // lock (same mtime), may be removed; nobody but a guard holder removes a dead owner's lock.
    const after = await inspectLock(path, ownerlessStaleMs);
    if (after === undefined) return 'gone';
    const same =
      before.owner === undefined
        ? after.owner === undefined && after.mtimeMs === before.mtimeMs
        : after.owner?.token === before.owner.token;
    if (!same) return 'held';
    await rm(path, { recursive: true, force: true });
    return 'broken';
  });
}

interface Inspection {
  owner: LockOwner | undefined;
  mtimeMs: number;
  abandoned: boolean;
}

async function inspectLock(path: string, ownerlessStaleMs: number): Promise<Inspection | undefined> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  const owner = await readOwner(path);
  const abandoned =
    owner === undefined ? Date.now() - mtimeMs > ownerlessStaleMs : !(await isLockOwnerAlive(owner));
  return { owner, mtimeMs, abandoned };
}

async function withGuard<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  // Plain proper-lockfile semantics are right here: the guard is held for a few file
  // operations, so its 10 s mtime staleness only matters if its holder died mid-break.
  const unlock = await lockfile.lock(join(lockDir, GUARD), {
    lockfilePath: join(lockDir, `${GUARD}.lock`),
    realpath: false,
    retries: { retries: 400, factor: 1.3, minTimeout: 5, maxTimeout: 100, randomize: true },
    onCompromised: () => undefined,
  });
  try {
    return await fn();
  } finally {
    await unlock().catch(ignoreAlreadyReleased);
  }
}

/**
 * The file-system adapter given to proper-lockfile. The owner record is written inside the
 * lock directory as part of "mkdir", before proper-lockfile sets the directory's mtime, so
 * the mtime it later checks as its own is not disturbed by the record, and a lock directory
 * and its record always come and go together ("rmdir" removes both).
 */
function lockDirFs(owner: LockOwner) {
  type Callback = (err: NodeJS.ErrnoException | null) => void;
  return {
    stat: fs.stat,
    utimes: fs.utimes,
    realpath: fs.realpath,
    mkdir(path: string, callback: Callback) {
      fs.mkdir(path, (err) => {
        if (err) {
          callback(err);
          return;
        }
        writeOwner(path, owner).then(
          () => {
            callback(null);
          },
          (writeErr: unknown) => {
            fs.rm(path, { recursive: true, force: true }, () => {
              callback(writeErr instanceof Error ? writeErr : new Error(String(writeErr)));
            });
          },
        );
      });
    },
    rmdir(path: string, callback: Callback) {
      fs.rm(path, { recursive: true }, callback);
    },
    rmdirSync(path: string) {
      fs.rmSync(path, { recursive: true });
    },
  };
}

function lockPathOf(lockDir: string, name: string): string {
  return join(lockDir, `${name}.lock`);
}

function assertLockName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`invalid lock name ${JSON.stringify(name)}`);
}
