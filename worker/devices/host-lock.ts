/**
 * The host-wide lock: a short critical section around choosing and claiming a device, so
 * several builds starting at once never race for the same loop device or device name.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { resolve } from 'node:path';
import { acquireLock, type AcquireOptions } from './owned-lock.ts';

const HOST_LOCK = 'host';
const HOST_LOCK_WAIT_MS = 120_000;
/** Host lock directories held by the current async call chain. */
const hostLocksHeldHere = new AsyncLocalStorage<ReadonlySet<string>>();

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

