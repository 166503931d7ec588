/**
 * Host-local locks for device allocation: a short host-wide lock around choosing and
 * claiming a device, and one lease per device held for a whole build.
 *
 * proper-lockfile provides the atomic mkdir, the timer that keeps a held lock's mtime moving
 * and the clean-up on normal exit. Its take-over policy is replaced: it judges staleness from
 * the mtime alone, so a SIGKILLed build blocks everyone for the stale period, and two waiters
 * can both "take over" the same stale lock, the second removing the first one's fresh lock.
 * Here each lock directory holds an owner record (pid, process start time, boot id); a lock
 * is taken over at once when its owner is provably dead, and a lock without a readable owner
 * (its process died between mkdir and writing the record) only once its mtime has stopped
 * moving for a while. Every take-over happens under a tiny guard lock, so a lock is broken
 * by one process at a time and re-checked after the verdict.
 *
 * The lock directory must be local to this host (e.g. under /run): owners are identified by
 * this host's boot id and process table.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as fs from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { z } from 'zod';
import { releaseOnce } from './device-lease.ts';
import { currentProcessIdentity, isErrno, isProcessAlive } from './process-identity.ts';

const LockOwnerSchema = z.object({
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative(),
  bootId: z.string().min(1),
  hostname: z.string(),
  token: z.string().min(1),
  acquiredAt: z.string(),
  purpose: z.string().optional(),
});
export type LockOwner = z.infer<typeof LockOwnerSchema>;

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

const OWNER_FILE = 'owner.json';
const HOST_LOCK = 'host';
const DEVICE_PREFIX = 'device-';
const GUARD = '.guard';
/** How often a held lock's mtime is refreshed; the owner-less rule below relies on it. */
const REFRESH_MS = 2_000;
const DEFAULT_OWNERLESS_STALE_MS = 30_000;
/** Switches proper-lockfile's own mtime take-over off; only breakIfAbandoned takes over. */
const NEVER_MS = 100 * 365 * 24 * 3600 * 1000;
const HOST_LOCK_WAIT_MS = 120_000;
const MAX_POLL_MS = 250;
/** Host lock directories held by the current async call chain. */
const hostLocksHeldHere = new AsyncLocalStorage<ReadonlySet<string>>();

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

/** Runs fn while holding the host-wide lock; meant for short critical sections such as claiming a device. */
export async function withHostLock<T>(
  lockDir: string,
  fn: () => Promise<T>,
  options: AcquireOptions = {},
): Promise<T> {
  const key = resolve(lockDir);
  const held = hostLocksHeldHere.getStore() ?? new Set<string>();
  // Taking it again from inside fn would wait on ourselves until the timeout.
  if (held.has(key)) throw new Error(`the host lock in ${lockDir} is not re-entrant and is already held by this call chain`);
  const lock = await acquireLock(lockDir, HOST_LOCK, { waitMs: HOST_LOCK_WAIT_MS, ...options });
  try {
    return await hostLocksHeldHere.run(new Set([...held, key]), fn);
  } finally {
    await lock.release();
  }
}

export interface DeviceLock extends HeldLock {
  readonly deviceName: string;
}

/**
 * A lease on one device name for a whole build. Fails at once with LockBusyError when a live
 * build holds it (unless waitMs is given); a dead holder's lease is taken over. Names are
 * taken literally: callers that have aliases (sdf/xvdf) lock one canonical spelling.
 */
export async function lockDevice(
  lockDir: string,
  deviceName: string,
  options: AcquireOptions = {},
): Promise<DeviceLock> {
  const lock = await acquireLock(lockDir, deviceLockName(deviceName), {
    purpose: `build using ${deviceName}`,
    ...options,
  });
  return Object.assign(lock, { deviceName });
}

export function deviceLockName(deviceName: string): string {
  return `${DEVICE_PREFIX}${basename(deviceName)}`;
}

/** The device base name ("sdf") a device lease is for, or undefined for other locks. */
export function deviceOfLockName(lockName: string): string | undefined {
  return lockName.startsWith(DEVICE_PREFIX) ? lockName.slice(DEVICE_PREFIX.length) : undefined;
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

/** True unless the owner is provably dead; an owner on another host cannot be judged. */
export async function isLockOwnerAlive(owner: LockOwner): Promise<boolean> {
  if (owner.hostname !== hostname()) return true;
  return isProcessAlive(owner);
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

async function writeOwner(lockPath: string, owner: LockOwner): Promise<void> {
  // Written then renamed so that a reader never sees half a record.
  const tmp = join(lockPath, `${OWNER_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(owner)}\n`);
  await rename(tmp, join(lockPath, OWNER_FILE));
}

async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(join(lockPath, OWNER_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
  try {
    const parsed = LockOwnerSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function lockPathOf(lockDir: string, name: string): string {
  return join(lockDir, `${name}.lock`);
}

function assertLockName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new Error(`invalid lock name ${JSON.stringify(name)}`);
}
