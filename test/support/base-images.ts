/**
 * Test fixtures: disk images that stand in for a source AMI's root snapshot.
 *
 * Images are expensive to make (the Debian one downloads ~210 MB) and tests need many, so
 * each recipe's result is made once into the repository's `.cache/images/` and every call
 * gets its own sparse copy. Parallel vitest workers share the cache through a lock file,
 * so only one of them ever builds a given image.
 *
 * Both recipes go through examples/make-base-image.sh: tests and the README's first
 * command then build from images laid out the same way (MBR, partition 1 from 1 MiB,
 * ext4 labelled "rootfs").
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { execa, ExecaError } from 'execa';
import lockfile from 'proper-lockfile';
import { cacheDir, repoRoot } from '../../local/paths.ts';
import { isRoot } from './root.ts';

export const baseImageScript = join(repoRoot, 'examples', 'make-base-image.sh');
export const imageCacheDir = join(cacheDir, 'images');

const DEBIAN_SUITE = 'bookworm';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const DEBIAN_IMAGE_MIB = 1536;
/** Bump when the Debian recipe below changes, so caches made by the old one are ignored. */
const DEBIAN_RECIPE_VERSION = 2;

// Lock timing: the holder refreshes the lock every stale/2 ms while it works; a worker
// that died holding it blocks the others for at most `stale` ms. Waiters poll for up to
// ~20 minutes, far longer than a cold debootstrap on a slow mirror.
const LOCK_OPTIONS = {
  realpath: false,
  stale: 60_000,
  retries: { retries: 2400, factor: 1, minTimeout: 500, maxTimeout: 500 },
} as const;

export interface BusyboxImageOptions {
  /** No partition table: the ext4 file system is the whole image. */
  bare?: boolean;
  /** Image size in MiB (default 64). */
  sizeMiB?: number;
}

/**
 * A fresh busybox base image (see examples/make-base-image.sh) in `dir`, for the caller
 * to change at will. Returns its path.
 */
export async function makeBusyboxImage(dir: string, opts: BusyboxImageOptions = {}): Promise<string> {
  const bare = opts.bare ?? false;
  const sizeMiB = opts.sizeMiB ?? 64;
  if (!Number.isInteger(sizeMiB) || sizeMiB < 16) {
    throw new Error(`makeBusyboxImage: sizeMiB must be an integer >= 16, got ${sizeMiB}`);
  }
  const layout = bare ? 'bare' : 'mbr';
  const cached = join(imageCacheDir, `busybox-${layout}-${sizeMiB}M-${scriptHash()}.img`);
  await ensureCached(cached, async () => {
    requireRoot('makeBusyboxImage');
    const args = [baseImageScript, cached, '--size', `${sizeMiB}M`];
    if (bare) args.push('--bare');
    await run('bash', args);
    await pruneCache(new RegExp(`^busybox-${layout}-${sizeMiB}M-[0-9a-f]+\\.img$`), [cached]);
  });
  return sparseCopy(cached, dir, `busybox-${layout}`);
}

/**
 * A fresh Debian bookworm image in `dir`: a 1.5 GiB sparse, MBR-partitioned image whose
 * partition 1 holds ext4 ("rootfs") with a `debootstrap --variant=minbase` root. Returns
 * its path. The first call on a machine downloads from Debian's mirror (under a minute);
 * later calls copy the cached image in about a second.
 *
 * /etc/resolv.conf is a regular file, as debootstrap leaves it: a copy of the resolv.conf
 * of the machine that made the cache (absent if that machine had none), so not a symlink,
 * unlike the busybox image's.
 */
export async function makeDebianImage(dir: string): Promise<string> {
  const name = `debian-${DEBIAN_SUITE}-minbase-v${DEBIAN_RECIPE_VERSION}`;
  // The root tree is cached apart from the image, so a change in the image script costs a
  // re-pack (seconds), not a new download.
  const tarball = join(imageCacheDir, `${name}.tar`);
  const cached = join(imageCacheDir, `${name}-${DEBIAN_IMAGE_MIB}M-${scriptHash()}.img`);
  await ensureCached(cached, async () => {
    requireRoot('makeDebianImage');
    const work = join(imageCacheDir, `${name}.work-${process.pid}-${randomUUID().slice(0, 8)}`);
    const tree = join(work, 'root');
    try {
      await mkdir(work, { recursive: true });
      if (existsSync(tarball)) {
        await mkdir(tree);
        await run('tar', ['-xpf', tarball, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', tree]);
      } else {
        await debootstrap(tree);
        const partial = `${tarball}.tmp-${process.pid}`;
        await run('tar', ['-cf', partial, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', tree, '.']);
        await rename(partial, tarball);
      }
      await run('bash', [baseImageScript, cached, '--size', `${DEBIAN_IMAGE_MIB}M`, '--tree', tree]);
    } finally {
      await removeTree(work);
    }
    await pruneCache(new RegExp(`^debian-${DEBIAN_SUITE}-minbase-v\\d+(-\\d+M-[0-9a-f]+\\.img|\\.tar)$`), [cached, tarball]);
  });
  return sparseCopy(cached, dir, `debian-${DEBIAN_SUITE}`);
}

async function debootstrap(tree: string): Promise<void> {
  await ensureTool('debootstrap', 'debootstrap');
  try {
    await run('debootstrap', ['--variant=minbase', DEBIAN_SUITE, tree, DEBIAN_MIRROR]);
  } catch (err) {
    // debootstrap's own log says which package or download failed; its output rarely does.
    const log = await readFile(join(tree, 'debootstrap', 'debootstrap.log'), 'utf8').catch(() => '');
    const tail = log.split('\n').slice(-30).join('\n');
    throw new Error(`debootstrap of ${DEBIAN_SUITE} from ${DEBIAN_MIRROR} failed${tail ? `; end of its log:\n${tail}` : ''}`, {
      cause: err,
    });
  }
  // debootstrap copies the host's /etc/hostname; a fixed name keeps the cache free of it.
  await writeFile(join(tree, 'etc', 'hostname'), 'debian-base\n');
  // cp keeps the host's modes, which on container hosts can be 0755: use Debian's.
  await chmod(join(tree, 'etc', 'hostname'), 0o644);
  await chmod(join(tree, 'etc', 'resolv.conf'), 0o644).catch(() => undefined);
  // As make-base-image.sh labels the file system; debootstrap leaves "# UNCONFIGURED FSTAB".
  await writeFile(join(tree, 'etc', 'fstab'), 'LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1\n');
  // The downloaded .debs are installed already: dropping them makes every copy smaller.
  const archives = join(tree, 'var', 'cache', 'apt', 'archives');
  for (const entry of await readdir(archives).catch(() => [])) {
    if (entry.endsWith('.deb')) await rm(join(archives, entry));
  }
}

/**
 * Makes `target` with `make` unless it exists. `make` must leave `target` complete or not
 * at all (the script renames its result into place). Holds a lock while making it so that
 * parallel workers wait for one build instead of each starting their own.
 */
async function ensureCached(target: string, make: () => Promise<void>): Promise<void> {
  if (existsSync(target)) return;
  await mkdir(imageCacheDir, { recursive: true });
  let compromised: Error | undefined;
  const release = await lockfile.lock(target, {
    ...LOCK_OPTIONS,
    onCompromised: (err) => {
      // Default is to throw from a timer, which would crash the worker mid-build.
      compromised = err;
    },
  });
  try {
    if (!existsSync(target)) await make();
  } finally {
    await release().catch(() => undefined);
  }
  if (compromised) {
    throw new Error(`lost the cache lock on ${target} while building it`, { cause: compromised });
  }
}

/**
 * Deletes cache entries that `pattern` matches other than `keep`: images made by an older
 * recipe or script, which nothing will use again (each is hundreds of MB for Debian).
 */
async function pruneCache(pattern: RegExp, keep: readonly string[]): Promise<void> {
  for (const entry of await readdir(imageCacheDir)) {
    const path = join(imageCacheDir, entry);
    if (pattern.test(entry) && !keep.includes(path)) await rm(path, { force: true });
  }
}

async function sparseCopy(cached: string, dir: string, stem: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const dest = join(dir, `${stem}-${randomUUID().slice(0, 8)}.img`);
  await run('cp', ['--sparse=always', cached, dest]);
  return dest;
}

/**
 * Removes a debootstrap work tree. A killed debootstrap can leave proc, sysfs or devpts
 * mounted inside it: unmount those first, and never let rm cross into a mount.
 */
async function removeTree(dir: string): Promise<void> {
  const prefix = `${resolve(dir)}/`;
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const inside = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point?.startsWith(prefix) ?? false)
    .map((point) => point.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const point of inside) {
    await execa('umount', ['--lazy', point], { reject: false });
  }
  await execa('rm', ['-rf', '--one-file-system', '--', dir], { reject: false });
}

let cachedScriptHash: string | undefined;
/** Cache keys include the script's hash so that editing the recipe rebuilds the images. */
function scriptHash(): string {
  cachedScriptHash ??= createHash('sha256').update(readFileSync(baseImageScript)).digest('hex').slice(0, 12);
  return cachedScriptHash;
}

function requireRoot(what: string): void {
  if (!isRoot()) {
    throw new Error(`${what} must run as root: image files must belong to root and packages may need installing`);
  }
}

function onPath(command: string): boolean {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/local/sbin', '/usr/sbin', '/sbin']);
  return dirs.some((d) => d !== '' && existsSync(join(d, command)));
}

/** Installs `pkg` with apt-get when `command` is missing; throws if that is impossible. */
export async function ensureTool(command: string, pkg: string): Promise<void> {
  if (onPath(command)) return;
  if (!isRoot() || !onPath('apt-get')) {
    throw new Error(`${command} is missing: install the Debian package ${pkg} (apt-get install ${pkg})`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // Another worker may be installing too: wait for dpkg's lock rather than fail.
  const apt = ['-y', '-q', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=600'];
  const first = await execa('apt-get', [...apt, 'install', pkg], { env, reject: false, all: true });
  if (first.exitCode !== 0) {
    // A fresh machine has no package lists yet.
    await execa('apt-get', ['-q', '-o', 'DPkg::Lock::Timeout=600', 'update'], { env, reject: false });
    const second = await execa('apt-get', [...apt, 'install', pkg], { env, reject: false, all: true });
    if (second.exitCode !== 0) {
      throw new Error(`${command} is missing and apt-get install ${pkg} failed:\n${second.all}`);
    }
  }
  if (!onPath(command)) throw new Error(`${command} still missing after installing ${pkg}`);
}

/** Runs a command to completion; on failure the error carries its combined output. */
async function run(file: string, args: readonly string[]): Promise<void> {
  try {
    await execa(file, args, {
      all: true,
      env: { PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
    });
  } catch (err) {
    if (err instanceof ExecaError) {
      // `all` is typed from the call's options; widen it and check what arrived.
      const all: unknown = err.all;
      const output = typeof all === 'string' ? all.trim().split('\n').slice(-40).join('\n') : '';
      throw new Error(`${[file, ...args].join(' ')} failed (${err.shortMessage})${output ? `:\n${output}` : ''}`, {
        cause: err,
      });
    }
    throw err;
  }
}
