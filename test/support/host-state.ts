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
}

export async function leftovers(host: HostConfig, images: readonly string[]): Promise<HostLeftovers> {
  return {
    mounts: (await mountsAtOrUnder(host.mountRoot)).map((m) => m.mountPoint),
    loopDevices: (await Promise.all(images.map(loopDevicesOf))).flat(),
    journals: await entries(join(host.stateDir, 'runs')),
    locks: (await entries(join(host.stateDir, 'locks'))).filter((n) => n.endsWith('.lock')),
  };
}

export async function expectHostClean(host: HostConfig, images: readonly string[]): Promise<void> {
  expect(await leftovers(host, images)).toEqual({ mounts: [], loopDevices: [], journals: [], locks: [] });
}
