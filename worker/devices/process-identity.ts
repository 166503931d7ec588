/**
 * Who a process is, in a form that survives pid reuse: pid alone is not enough because a
 * SIGKILLed build's pid can be handed to an unrelated process long before anyone looks at
 * its locks. The kernel start time (clock ticks since boot) plus the boot id pin it down.
 */
import { readFile } from 'node:fs/promises';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot at which the process started. */
  startTime: number;
  /** /proc/sys/kernel/random/boot_id: a pid and start time only mean something within one boot. */
  bootId: string;
}

export interface ProcStat {
  /** Field 3: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  startTime: number;
}

/** Parses /proc/PID/stat text; undefined when it is not in the expected shape. */
export function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself contain spaces and ')',
  // so fields are counted from the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = text.slice(close + 1).trim().split(/\s+/);
  const state = rest[0];
  const startTime = Number(rest[22 - 3]);
  if (state === undefined || !Number.isSafeInteger(startTime)) return undefined;
  return { state, startTime };
}

/** undefined when there is no such process. */
export async function readProcStat(pid: number, procRoot = '/proc'): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/stat`, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) return undefined;
    throw err;
  }
  return parseProcStat(text);
}

export async function readBootId(procRoot = '/proc'): Promise<string> {
  return (await readFile(`${procRoot}/sys/kernel/random/boot_id`, 'utf8')).trim();
}

let self: Promise<ProcessIdentity> | undefined;

export function currentProcessIdentity(): Promise<ProcessIdentity> {
  self ??= (async () => {
    const [stat, bootId] = await Promise.all([readProcStat(process.pid), readBootId()]);
    if (stat === undefined) throw new Error(`cannot read /proc/${process.pid}/stat`);
    return { pid: process.pid, startTime: stat.startTime, bootId };
  })();
  return self;
}

/**
 * True while the very process described is running. A zombie counts as dead: it holds
 * nothing any more and only waits for its parent to reap it.
 */
export async function isProcessAlive(identity: ProcessIdentity, procRoot = '/proc'): Promise<boolean> {
  if (identity.bootId !== (await readBootId(procRoot))) return false;
  const stat = await readProcStat(identity.pid, procRoot);
  if (stat === undefined) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return stat.startTime === identity.startTime;
}

export function isErrno(err: unknown, code: string): err is NodeJS.ErrnoException {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}
