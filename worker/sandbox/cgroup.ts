/**
 * A build's control group: memory, process count and CPU weight for everything its
 * sandboxed commands start, and the handle that ends all of it. cgroup v2 on current EC2
 * distributions (memory.max, pids.max, cpu.weight, cgroup.kill); v1 where the host mounts
 * the hierarchies separately (memory.limit_in_bytes, pids.max, cpu.shares, and the freezer
 * to end processes without a fork racing the kill). No systemd needed: the directories are
 * made and removed here, below one `ami-factory` parent per hierarchy.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exists } from '../devices/fs-probe.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';
const PARENT = 'ami-factory';
/** The v1 hierarchies a build joins: its limits, and the freezer to end it. */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'] as const;

export type CgroupVersion = 'v1' | 'v2';

export interface CgroupLimits {
  memoryBytes: number;
  maxProcesses: number;
  /** cgroup v2's scale: 1 to 10000, 100 being an ordinary process's share. */
  cpuWeight: number;
}

export async function cgroupVersion(root = CGROUP_ROOT): Promise<CgroupVersion> {
  return (await exists(join(root, 'cgroup.controllers'))) ? 'v2' : 'v1';
}

/** The directories of build `name`'s cgroup: one on v2, one per controller on v1. */
export function cgroupDirs(version: CgroupVersion, name: string, root = CGROUP_ROOT): string[] {
  return version === 'v2'
    ? [join(root, PARENT, name)]
    : V1_CONTROLLERS.map((controller) => join(root, controller, PARENT, name));
}

/** v2 weight to v1 shares: the default weight 100 is the default 1024 shares. */
export const cpuSharesOf = (weight: number): number => Math.max(2, Math.round((weight * 1024) / 100));

async function enableV2Controllers(root: string): Promise<void> {
  const parent = join(root, PARENT);
  await mkdir(parent, { recursive: true });
  // A child can only be limited by controllers its parent hands down.
  for (const dir of [root, parent]) {
    await writeFile(join(dir, 'cgroup.subtree_control'), '+memory +pids +cpu');
  }
}

/** Makes the cgroup and sets its limits. Record `cgroupDirs` in the journal before calling. */
export async function createCgroup(version: CgroupVersion, dirs: readonly string[], limits: CgroupLimits, root = CGROUP_ROOT): Promise<void> {
  if (version === 'v2') {
    await enableV2Controllers(root);
    const [dir] = dirs;
    if (dir === undefined) throw new Error('internal: a v2 cgroup has one directory');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'memory.max'), String(limits.memoryBytes));
    // No swap either, or a build over its memory limit would swap instead of being stopped.
    if (await exists(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
    await writeFile(join(dir, 'pids.max'), String(limits.maxProcesses));
    await writeFile(join(dir, 'cpu.weight'), String(limits.cpuWeight));
    return;
  }
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  const [memory, pids, cpu] = dirs;
  if (memory === undefined || pids === undefined || cpu === undefined) throw new Error('internal: v1 cgroup directories missing');
  await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
  const memsw = join(memory, 'memory.memsw.limit_in_bytes');
  if (await exists(memsw)) await writeFile(memsw, String(limits.memoryBytes));
  await writeFile(join(pids, 'pids.max'), String(limits.maxProcesses));
  await writeFile(join(cpu, 'cpu.shares'), String(cpuSharesOf(limits.cpuWeight)));
}

async function readPids(dir: string): Promise<number[]> {
  try {
    return (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean).map(Number);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Every process in the cgroup (the union over v1's hierarchies). */
export async function processesIn(dirs: readonly string[]): Promise<number[]> {
  const all = new Set<number>();
  for (const dir of dirs) for (const pid of await readPids(dir)) all.add(pid);
  return [...all];
}

const killEach = (pids: readonly number[]): void => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};

async function writeIfPresent(path: string, value: string): Promise<boolean> {
  try {
    await writeFile(path, value);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Ends every process in the cgroup and waits until it is empty; returns the pids it found.
 * A process forking while it is killed cannot slip out: v2's cgroup.kill is atomic, and on
 * v1 the group is frozen first, so the list read is the whole group.
 */
export async function killCgroup(dirs: readonly string[], timeoutMs = 10_000): Promise<number[]> {
  const found = await processesIn(dirs);
  if (found.length === 0) return [];
  const freezer = dirs.find((dir) => dir.includes('/freezer/'));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await processesIn(dirs);
    if (left.length === 0) return found;
    if (Date.now() > deadline) throw new Error(`processes in cgroup ${dirs[0] ?? ''} survived SIGKILL: ${left.join(', ')}`);
    const [first] = dirs;
    const cgroupKill = first === undefined ? undefined : join(first, 'cgroup.kill');
    if (cgroupKill !== undefined && (await exists(cgroupKill))) {
      // v2 (Linux 5.14+): the kernel ends them all at once.
      await writeFile(cgroupKill, '1');
    } else if (freezer !== undefined) {
      await writeIfPresent(join(freezer, 'freezer.state'), 'FROZEN');
      killEach(await processesIn(dirs));
      // SIGKILL is delivered as a frozen task thaws.
      await writeIfPresent(join(freezer, 'freezer.state'), 'THAWED');
    } else {
      killEach(left);
    }
    await sleep(10);
  }
}

/** Ends what is left in the cgroup and removes it; a cgroup already gone is fine. */
export async function removeCgroup(dirs: readonly string[]): Promise<void> {
  await killCgroup(dirs);
  for (const dir of dirs) {
    try {
      await rmdir(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code !== 'EBUSY') throw error;
      // A killed process is still leaving (its exit not yet accounted): give it a moment.
      await sleep(50);
      await rmdir(dir);
    }
  }
}
