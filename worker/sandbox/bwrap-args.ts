/**
 * bubblewrap's arguments for the two kinds of sandbox.
 *
 * The image sandbox (provisioners): the build's mounted volume is `/`; /proc is its own
 * (a PID namespace's, so no host process is visible); /dev is a fresh tmpfs with only null,
 * zero, full, random, urandom, tty, ptmx, pts and shm (no host block device); /sys is an
 * empty read-only tmpfs. Why not the host's sysfs, even read-only: it names the host's
 * disks, network interfaces and firmware (DMI serial numbers), and nothing an image build
 * does should depend on the build host's hardware (an initramfs made from it would fit the
 * chroot host, not the instances the image boots on).
 *
 * The host-command sandbox (pre/post_mount_commands an operator allowed): the host's
 * programs read-only, a private /tmp, and of the host's devices and mounts only the
 * build's own device, its partitions, and its mount point.
 *
 * Namespaces are listed rather than `--unshare-all`: that also unshares the user
 * namespace, where bubblewrap maps only uid 0, and a package install then cannot chown
 * files to its own users (apt's `_apt`). Root's capabilities are cut to a short list
 * instead, with no_new_privs (bubblewrap always sets it) and the seccomp filter.
 */
import { HOST_COMMAND_CAPABILITIES, PACKAGE_INSTALL_CAPABILITIES } from './capabilities.ts';

/** The descriptor the seccomp filter is opened on (by the shell that execs bwrap). */
export const SECCOMP_FD = 3;

const isolation = (network: 'namespace-given' | 'none'): string[] => [
  '--unshare-ipc',
  '--unshare-pid',
  '--unshare-uts',
  '--unshare-cgroup',
  // With a build network, bwrap runs inside its namespace already (nsenter).
  ...(network === 'none' ? ['--unshare-net'] : []),
  '--die-with-parent',
  // A new session: no TIOCSTI into a terminal outside.
  '--new-session',
  '--seccomp', String(SECCOMP_FD),
];

const capabilities = (keep: readonly string[]): string[] => ['--cap-drop', 'ALL', ...keep.flatMap((cap) => ['--cap-add', cap])];

export function imageSandboxArgs(options: { root: string; network: 'namespace-given' | 'none'; command: readonly string[] }): string[] {
  return [
    '--bind', options.root, '/',
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/sys',
    '--remount-ro', '/sys',
    ...isolation(options.network),
    ...capabilities(PACKAGE_INSTALL_CAPABILITIES),
    '--chdir', '/',
    '--',
    ...options.command,
  ];
}

/** Host directories a host command may read (its programs and their configuration). */
export const HOST_READ_ONLY = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/etc'] as const;

export function hostCommandSandboxArgs(options: {
  /** Those of HOST_READ_ONLY that exist on this host. */
  readOnly: readonly string[];
  /** Below those, hidden behind an empty tmpfs (the worker's own configuration). */
  hidden: readonly string[];
  /** The build's device and its partitions. */
  devices: readonly string[];
  mountPath?: string;
  command: readonly string[];
}): string[] {
  return [
    ...options.readOnly.flatMap((dir) => ['--ro-bind', dir, dir]),
    ...options.hidden.flatMap((dir) => ['--tmpfs', dir]),
    '--proc', '/proc',
    '--dev', '/dev',
    ...options.devices.flatMap((device) => ['--dev-bind', device, device]),
    '--tmpfs', '/tmp',
    '--tmpfs', '/run',
    ...(options.mountPath === undefined ? [] : ['--bind', options.mountPath, options.mountPath]),
    ...isolation('none'),
    ...capabilities(HOST_COMMAND_CAPABILITIES),
    '--chdir', '/',
    '--',
    ...options.command,
  ];
}
