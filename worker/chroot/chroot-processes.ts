/**
 * Finding and ending the processes that keep a chroot's mounts busy. A package's postinst
 * that starts a daemon, or a provisioner's `sleep 1000 &`, leaves a process whose root
 * directory is the chroot; Packer users meet it as "target is busy" on unmount.
 */
import { readdir, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { isAtOrUnder } from './mount-table.ts';

export interface ProcessHold {
  pid: number;
  command: string;
  /** What ties it to the path: its root, cwd, an open file or a mapped file. */
  via: string;
}

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number).filter((p) => p !== process.pid);
}

const commandOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
};

const link = async (path: string): Promise<string | undefined> => {
  try {
    return await readlink(path);
  } catch {
    return undefined; // the process ended, or the link is not ours to read
  }
};

/** Processes whose root directory is `chrootPath` or below it: they run inside the chroot. */
export async function processesInChroot(chrootPath: string): Promise<ProcessHold[]> {
  const found: ProcessHold[] = [];
  for (const pid of await pids()) {
    const root = await link(`/proc/${pid}/root`);
    if (root !== undefined && isAtOrUnder(root, chrootPath)) {
      found.push({ pid, command: commandOf(pid), via: `root ${root}` });
    }
  }
  return found;
}

/** Every process using something at or below `path`: for naming who holds a busy mount. */
export async function processesHolding(path: string): Promise<ProcessHold[]> {
  const found: ProcessHold[] = [];
  for (const pid of await pids()) {
    const hold = await holdOf(pid, path);
    if (hold) found.push({ pid, command: commandOf(pid), via: hold });
  }
  return found;
}

async function holdOf(pid: number, path: string): Promise<string | undefined> {
  for (const name of ['root', 'cwd', 'exe']) {
    const target = await link(`/proc/${pid}/${name}`);
    if (target !== undefined && isAtOrUnder(target, path)) return `${name} ${target}`;
  }
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    const target = await link(`/proc/${pid}/fd/${fd}`);
    if (target !== undefined && isAtOrUnder(target, path)) return `open file ${target}`;
  }
  try {
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    const mapped = maps.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).find((f) => f && isAtOrUnder(f, path));
    if (mapped) return `mapped file ${mapped}`;
  } catch {
    // gone or unreadable: nothing holds through it
  }
  return undefined;
}

export const describeHolds = (holds: readonly ProcessHold[]): string =>
  holds.map((h) => `pid ${h.pid} (${h.command}, ${h.via})`).join('; ');

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Ends every process inside the chroot: SIGTERM, a grace period, then SIGKILL, repeated
 * until none is left, since a dying daemon may fork. Returns what it ended.
 */
export async function endProcessesInChroot(chrootPath: string, graceMs = 2_000): Promise<ProcessHold[]> {
  const ended: ProcessHold[] = [];
  for (let round = 0; round < 5; round++) {
    const inside = await processesInChroot(chrootPath);
    if (inside.length === 0) return ended;
    ended.push(...inside);
    const signal = round === 0 ? 'SIGTERM' : 'SIGKILL';
    for (const { pid } of inside) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    const deadline = Date.now() + (round === 0 ? graceMs : 1_000);
    while (Date.now() < deadline && inside.some((p) => isRunning(p.pid))) await sleep(25);
  }
  const survivors = await processesInChroot(chrootPath);
  if (survivors.length > 0) {
    throw new Error(`processes inside ${chrootPath} survived SIGKILL: ${describeHolds(survivors)}`);
  }
  return ended;
}
