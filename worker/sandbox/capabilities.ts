/**
 * The capabilities a sandboxed command keeps: what installing packages needs (chown files
 * to package users, set file capabilities, switch users in maintainer scripts, chroot as
 * some postinsts do) and nothing that reaches the host's kernel or hardware: no
 * CAP_SYS_ADMIN (mounts, namespaces), CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_PTRACE or
 * CAP_MKNOD.
 */
export const PACKAGE_INSTALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_AUDIT_WRITE',
  'CAP_SETFCAP',
] as const;

/**
 * Host-side commands an operator allowed (partitioning and formatting a from_scratch
 * volume) also re-read partition tables and discard blocks, which the kernel checks
 * against CAP_SYS_ADMIN. They still cannot mount: the seccomp filter refuses that.
 */
export const HOST_COMMAND_CAPABILITIES = [...PACKAGE_INSTALL_CAPABILITIES, 'CAP_SYS_ADMIN'] as const;
