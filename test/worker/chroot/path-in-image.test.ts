/** Paths in an untrusted image resolve inside it, whatever its symlinks say. */
import { mkdir, mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveInImage } from '../../../worker/chroot/path-in-image.ts';

describe('resolveInImage', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ami-factory-paths-'));
    await mkdir(join(root, 'etc'));
    await mkdir(join(root, 'run/systemd/resolve'), { recursive: true });
    await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    await symlink('/etc', join(root, 'evil-absolute'));
    await symlink('../../../../../../etc', join(root, 'evil-relative'));
    await symlink('loop-b', join(root, 'loop-a'));
    await symlink('loop-a', join(root, 'loop-b'));
  });

  it('follows a relative link inside the image', async () => {
    expect(await resolveInImage(root, '/etc/resolv.conf')).toBe(join(root, 'run/systemd/resolve/stub-resolv.conf'));
  });

  it('keeps the final link itself when asked (to move a symlink aside)', async () => {
    expect(await resolveInImage(root, '/etc/resolv.conf', false)).toBe(join(root, 'etc/resolv.conf'));
  });

  it('re-roots absolute link targets at the image, not the host', async () => {
    expect(await resolveInImage(root, '/evil-absolute/passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('never climbs above the image with ..', async () => {
    expect(await resolveInImage(root, '/evil-relative/shadow')).toBe(join(root, 'etc/shadow'));
    expect(await resolveInImage(root, '../../../etc/hosts')).toBe(join(root, 'etc/hosts'));
  });

  it('takes missing components literally', async () => {
    expect(await resolveInImage(root, '/opt/new/file')).toBe(join(root, 'opt/new/file'));
  });

  it('refuses symlink loops', async () => {
    await expect(resolveInImage(root, '/loop-a/x')).rejects.toThrow(/too many levels of symbolic links/);
  });
});
