/**
 * Test helpers for a chroot host's state: a private host (its own state dir and mount
 * root, so test files running at once never see each other's builds), and the check that
 * a build left nothing behind.
 */
import { execa } from 'execa';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { HostConfig } from '../../worker/chroot/host-config.ts';
import { mountsAtOrUnder } from '../../worker/chroot/mount-table.ts';
import { access, readFile } from 'node:fs/promises';
import { cgroupDirs } from '../../worker/sandbox/cgroup.ts';
import { networkNames } from '../../worker/sandbox/network-plan.ts';

export async function privateHost(label: string): Promise<HostConfig> {
  const root = await mkdtemp(join(tmpdir(), `ami-factory-${label}-`));
  return { stateDir: join(root, 'state'), mountRoot: join(root, 'mnt') };
}

/** Loop devices whose backing file is `imagePath`. */
export async function loopDevicesOf(imagePath: string): Promise<string[]> {
  const { stdout } = await execa('losetup', ['--associated', imagePath, '--noheadings', '--output', 'NAME']);
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

const entries = async (dir: string): Promise<string[]> => {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
};

export interface HostLeftovers {
  mounts: string[];
  loopDevices: string[];
  journals: string[];
  locks: string[];
  /** Sandbox cgroups, network namespaces, veths and nftables tables of this host's builds. */
  sandbox: string[];
}

const present = async (path: string): Promise<boolean> => {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
};

/** What remains of the sandboxes of the builds this host ran (each build leaves its log). */
export async function sandboxLeftovers(host: HostConfig): Promise<string[]> {
  const buildIds = (await entries(join(host.stateDir, 'logs'))).filter((n) => n.endsWith('.log')).map((n) => n.slice(0, -4));
  const { stdout: tables } = await execa('nft', ['list', 'tables'], { reject: false });
  const found: string[] = [];
  for (const buildId of buildIds) {
    for (const version of ['v1', 'v2'] as const) {
      for (const dir of cgroupDirs(version, `build-${buildId}`)) if (await present(dir)) found.push(`cgroup ${dir}`);
    }
    const names = networkNames(buildId);
    if (await present(`/run/netns/${names.netns}`)) found.push(`netns ${names.netns}`);
    if (await present(`/sys/class/net/${names.hostVeth}`)) found.push(`interface ${names.hostVeth}`);
    if (tables.split('\n').some((line) => line.trim() === `table inet ${names.table}`)) found.push(`nftables table ${names.table}`);
  }
  return found;
}

export async function leftovers(host: HostConfig, images: readonly string[]): Promise<HostLeftovers> {
  return {
    mounts: (await mountsAtOrUnder(host.mountRoot)).map((m) => m.mountPoint),
    loopDevices: (await Promise.all(images.map(loopDevicesOf))).flat(),
    journals: await entries(join(host.stateDir, 'runs')),
    locks: (await entries(join(host.stateDir, 'locks'))).filter((n) => n.endsWith('.lock')),
    sandbox: await sandboxLeftovers(host),
  };
}

export async function expectHostClean(host: HostConfig, images: readonly string[]): Promise<void> {
  expect(await leftovers(host, images)).toEqual({ mounts: [], loopDevices: [], journals: [], locks: [], sandbox: [] });
}

/**
 * Whether process `pid` runs in the sandbox of a build that a host below `root` is running
 * (its journal lies in a `runs/` folder there). A sandboxed process's root directory reads
 * as `/` from the host (it is its own mount namespace's), so its cgroup tells its build.
 */
export async function runsInBuildSandboxBelow(pid: number, root: string): Promise<boolean> {
  const cgroups = await readFile(`/proc/${String(pid)}/cgroup`, 'utf8').catch(() => '');
  const buildId = /\/ami-factory\/build-([^/\n]+)$/m.exec(cgroups)?.[1];
  if (buildId === undefined) return false;
  const journalBelow = async (dir: string, depth: number): Promise<boolean> => {
    if (await present(join(dir, 'runs', `${buildId}.json`))) return true;
    if (depth === 0) return false;
    for (const entry of await entries(dir)) if (await journalBelow(join(dir, entry), depth - 1)) return true;
    return false;
  };
  return journalBelow(root, 3);
}
