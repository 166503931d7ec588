import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AttachedDeviceNotFoundError,
  nvmeSerialOfVolume,
  resolveAttachedDevice,
  waitForAttachedDevice,
} from '../../../worker/devices/nvme.ts';
import { buildTree, nvmeController } from './fixtures/fake-tree.ts';

let root: string;
let sysRoot: string;
let devRoot: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'nvme-'));
  sysRoot = join(root, 'sys');
  devRoot = join(root, 'dev');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const nitroHost = {
  ...nvmeController(0, 'vol0root0000000000'),
  ...nvmeController(1, 'vol0aaaa1111bbbb2222'),
  ...nvmeController(2, 'vol0cccc3333dddd4444'),
  'dev/nvme0n1': '',
  'dev/nvme0n1p1': '',
  'dev/nvme1n1': '',
  'dev/nvme2n1': '',
};

describe('resolveAttachedDevice', () => {
  it('turns a volume id into the NVMe serial', () => {
    expect(nvmeSerialOfVolume('vol-0aaaa1111bbbb2222')).toBe('vol0aaaa1111bbbb2222');
    expect(() => nvmeSerialOfVolume('snap-0123')).toThrow('not an EBS volume id');
  });

  it('finds a volume by its NVMe controller serial among several controllers', async () => {
    await buildTree(root, nitroHost);
    const opts = { sysRoot, devRoot, deviceName: '/dev/sdf' };
    expect(await resolveAttachedDevice({ ...opts, volumeId: 'vol-0cccc3333dddd4444' })).toBe(join(devRoot, 'nvme2n1'));
    expect(await resolveAttachedDevice({ ...opts, volumeId: 'vol-0aaaa1111bbbb2222' })).toBe(join(devRoot, 'nvme1n1'));
  });

  it('ignores a stale /dev/sdf link on an NVMe host and trusts the serial', async () => {
    await buildTree(root, { ...nitroHost, 'dev/sdf': { symlink: 'nvme1n1' } });
    expect(
      await resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0cccc3333dddd4444', deviceName: '/dev/sdf' }),
    ).toBe(join(devRoot, 'nvme2n1'));
  });

  it('follows the by-id link when sysfs shows no controllers', async () => {
    await buildTree(root, {
      'dev/nvme3n1': '',
      'dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0aaaa1111bbbb2222': { symlink: '../../nvme3n1' },
      'dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0aaaa1111bbbb2222-part1': { symlink: '../../nvme3n1p1' },
    });
    expect(await resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0aaaa1111bbbb2222' })).toBe(
      join(devRoot, 'nvme3n1'),
    );
  });

  it('finds the Xen spelling of the requested name', async () => {
    await buildTree(root, { 'dev/xvda': '', 'dev/xvdf': '' });
    expect(await resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0123', deviceName: '/dev/sdf' })).toBe(
      join(devRoot, 'xvdf'),
    );
  });

  it('finds the requested name itself', async () => {
    await buildTree(root, { 'dev/sdg': '' });
    expect(await resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0123', deviceName: '/dev/sdg' })).toBe(
      join(devRoot, 'sdg'),
    );
  });

  it('names the volume id when the volume is nowhere to be seen', async () => {
    await buildTree(root, nitroHost);
    const attempt = resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0eeee', deviceName: '/dev/sdh' });
    await expect(attempt).rejects.toBeInstanceOf(AttachedDeviceNotFoundError);
    await expect(attempt).rejects.toThrow(
      `EBS volume vol-0eeee is not visible on this host: no NVMe controller with serial vol0eeee under ${sysRoot}/class/nvme`,
    );
    await expect(attempt).rejects.toThrow(`neither ${devRoot}/sdh nor ${devRoot}/xvdh exists`);
  });

  it('does not fall back to names while the matching controller’s node is still missing', async () => {
    await buildTree(root, { ...nvmeController(1, 'vol0aaaa'), 'dev/xvdf': '' });
    await expect(
      resolveAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0aaaa', deviceName: '/dev/sdf' }),
    ).rejects.toThrow('vol-0aaaa');
  });
});

describe('waitForAttachedDevice', () => {
  it('waits for the node to appear', async () => {
    await buildTree(root, { ...nvmeController(1, 'vol0aaaa'), dev: { dir: true } });
    setTimeout(() => void writeFile(join(devRoot, 'nvme1n1'), ''), 300);
    expect(await waitForAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0aaaa', intervalMs: 50 })).toBe(
      join(devRoot, 'nvme1n1'),
    );
  });

  it('gives up after the timeout, naming the volume', async () => {
    await expect(
      waitForAttachedDevice({ sysRoot, devRoot, volumeId: 'vol-0ffff', timeoutMs: 200, intervalMs: 50 }),
    ).rejects.toThrow('EBS volume vol-0ffff is not visible on this host after waiting 0.2 s');
  });
});
