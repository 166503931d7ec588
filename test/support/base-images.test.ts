/**
 * Self-test of the image fixtures: the layout and content the engine's tests rely on,
 * checked from outside (partition table and ext4 read by sfdisk/debugfs, no mount), so a
 * broken fixture shows up here instead of as a puzzling engine failure.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeBusyboxImage } from './base-images.ts';
import { describeIfRoot } from './root.ts';

const SBIN = { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };

/** e2fsprogs opens a file system at a byte offset inside an image with `IMAGE?offset=N`. */
function fsAt(image: string, offsetBytes: number): string {
  return offsetBytes === 0 ? image : `${image}?offset=${offsetBytes}`;
}

async function debugfs(fs: string, request: string): Promise<string> {
  const { stdout } = await execa('debugfs', ['-R', request, fs], { env: SBIN });
  return stdout;
}

async function superblock(fs: string): Promise<string> {
  const { stdout } = await execa('dumpe2fs', ['-h', fs], { env: SBIN });
  return stdout;
}

interface SfdiskJson {
  partitiontable: {
    label: string;
    sectorsize?: number;
    partitions: { start: number; size: number; type: string; bootable?: boolean }[];
  };
}

/** Checks the root tree that both layouts carry. */
async function expectBusyboxRoot(fs: string): Promise<void> {
  const sb = await superblock(fs);
  expect(sb).toMatch(/^Filesystem volume name:\s+rootfs$/m);
  expect(sb).toMatch(/^Filesystem features:.*\bhas_journal\b.*\bextent\b/m);

  const resolv = await debugfs(fs, 'stat /etc/resolv.conf');
  expect(resolv).toMatch(/Type: symlink/);
  expect(resolv).toContain('"../run/resolvconf/resolv.conf"');

  expect(await debugfs(fs, 'stat /sbin/init')).toContain('"/bin/busybox"');
  expect(await debugfs(fs, 'stat /bin/sh')).toContain('"busybox"');
  expect(await debugfs(fs, 'stat /bin/busybox')).toMatch(/Type: regular\s+Mode:\s+0755/);
  expect(await debugfs(fs, 'stat /tmp')).toMatch(/Mode:\s+01777/);
  expect(await debugfs(fs, 'cat /etc/os-release')).toContain('NAME="ami-factory base"');
  expect(await debugfs(fs, 'cat /etc/fstab')).toMatch(/^LABEL=rootfs\s+\/\s+ext4/m);

  // /usr/sbin exists and is empty: the engine's policy-rc.d goes there.
  const usrSbin = (await debugfs(fs, 'ls /usr/sbin')).split(/\s+/).filter((n) => /[^\d()]/.test(n));
  expect(usrSbin.sort()).toEqual(['.', '..']);

  const root = await debugfs(fs, 'ls /');
  for (const dir of ['bin', 'sbin', 'etc', 'usr', 'proc', 'sys', 'dev', 'run', 'root', 'tmp', 'var']) {
    expect(root).toMatch(new RegExp(`\\b${dir}\\b`));
  }
  expect(await debugfs(fs, 'ls /dev')).toMatch(/\bpts\b/);
}

describeIfRoot('busybox base images', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'base-images-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes an MBR image with one bootable Linux partition from 1 MiB holding the root', async () => {
    const image = await makeBusyboxImage(dir);
    expect((await stat(image)).size).toBe(64 * 1024 * 1024);

    const { stdout } = await execa('sfdisk', ['--json', image], { env: SBIN });
    const table = (JSON.parse(stdout) as SfdiskJson).partitiontable;
    expect(table.label).toBe('dos');
    expect(table.partitions).toHaveLength(1);
    const [part] = table.partitions;
    expect(part).toMatchObject({ start: 2048, type: '83', bootable: true });
    expect(part?.size).toBe((64 - 1) * 2048);

    await expectBusyboxRoot(fsAt(image, 2048 * 512));
  });

  it('makes a bare image whose whole extent is the file system', async () => {
    const image = await makeBusyboxImage(dir, { bare: true, sizeMiB: 32 });
    expect((await stat(image)).size).toBe(32 * 1024 * 1024);
    // No partition table: sfdisk finds nothing to dump.
    const sfdisk = await execa('sfdisk', ['--dump', image], { env: SBIN, reject: false });
    expect(sfdisk.exitCode).not.toBe(0);
    await expectBusyboxRoot(image);
  });

  it('hands out a separate sparse copy per call', async () => {
    const a = await makeBusyboxImage(dir);
    const b = await makeBusyboxImage(dir);
    expect(a).not.toBe(b);
    const [sa, sb] = await Promise.all([stat(a), stat(b)]);
    expect(sa.ino).not.toBe(sb.ino);
    // Allocated bytes well under the apparent size: holes survived the copy.
    expect(sa.blocks * 512).toBeLessThan(sa.size / 4);
  });
});
