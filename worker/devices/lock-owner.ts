/**
 * Who holds a host lock: the owner record each lock directory carries (pid, process start
 * time, boot id), so that a lock is taken over at once when its owner is provably dead
 * rather than once its mtime has gone stale.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { isErrno, isProcessAlive } from './process-identity.ts';

const OWNER_FILE = 'owner.json';

export const LockOwnerSchema = z.object({
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative(),
  bootId: z.string().min(1),
  hostname: z.string(),
  token: z.string().min(1),
  acquiredAt: z.string(),
  purpose: z.string().optional(),
});
export type LockOwner = z.infer<typeof LockOwnerSchema>;

/** True unless the owner is provably dead; an owner on another host cannot be judged. */
export async function isLockOwnerAlive(owner: LockOwner): Promise<boolean> {
  if (owner.hostname !== hostname()) return true;
  return isProcessAlive(owner);
}

/** Written then renamed so that a reader never sees half a record. */
export async function writeOwner(lockPath: string, owner: LockOwner): Promise<void> {
  const tmp = join(lockPath, `${OWNER_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(owner)}\n`);
  await rename(tmp, join(lockPath, OWNER_FILE));
}

export async function readOwner(lockPath: string): Promise<LockOwner | undefined> {
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

