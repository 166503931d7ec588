/**
 * Guards for tests that need the build host's powers: loop devices, mount, chroot.
 * Elsewhere (a laptop, an unprivileged container) those suites are skipped with the
 * reason printed, rather than failing in ways that look like bugs in the engine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe } from 'vitest';

/** True when this process runs with uid 0. */
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** True when the kernel offers loop devices (the control node that allocates them exists). */
export function hasLoopSupport(): boolean {
  return existsSync('/dev/loop-control');
}


/**
 * True when the effective capabilities include CAP_SYS_ADMIN, which mount and loop setup
 * need. Root in an unprivileged container has uid 0 but not this.
 */
export function hasSysAdminCapability(): boolean {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
    if (hex === undefined) return false;
    const CAP_SYS_ADMIN = 21n;
    return ((BigInt(`0x${hex}`) >> CAP_SYS_ADMIN) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** Why root-only suites cannot run here, or undefined when they can. */
export function rootSkipReason(): string | undefined {
  if (!isRoot()) return 'needs root (mounts, loop devices and chroot); run the tests as root';
  if (!hasSysAdminCapability()) return 'runs as root but without CAP_SYS_ADMIN (unprivileged container?)';
  if (!hasLoopSupport()) return 'no loop device support (/dev/loop-control is missing; modprobe loop?)';
  return undefined;
}

/**
 * `describe` for suites that need root with loop devices: runs them when possible, else
 * registers them as skipped and says why on stderr.
 */
export function describeIfRoot(name: string, fn: () => void): void {
  const reason = rootSkipReason();
  if (reason !== undefined) console.warn(`skipping "${name}": ${reason}`);
  describe.skipIf(reason !== undefined)(name, fn);
}

