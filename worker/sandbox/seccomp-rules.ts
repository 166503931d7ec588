/**
 * What a sandboxed command may not ask the kernel for, as data: the list is compiled into a
 * BPF program by libseccomp (seccomp-filter.ts), one per architecture. Everything not
 * listed is allowed; the capabilities a sandbox keeps (capabilities.ts) already refuse much
 * of this, and the filter is the second wall, kept even where a capability would do.
 */

/** An argument test, libseccomp's SCMP_CMP_MASKED_EQ: `(arg & mask) === value`. */
export interface MaskedArgument {
  index: number;
  mask: number;
  value: number;
}

export interface SeccompRule {
  /** Names as the kernel spells them; a name an architecture lacks is skipped there. */
  syscalls: readonly string[];
  /** What the call returns instead of running. */
  errno: 'EPERM' | 'ENOSYS';
  /** When set, the rule applies only to calls whose argument matches. */
  argument?: MaskedArgument;
  why: string;
}

export const SECCOMP_ARCHITECTURES = ['x86_64', 'aarch64'] as const;
export type SeccompArchitecture = (typeof SECCOMP_ARCHITECTURES)[number];

/** The namespace flags of clone(2): a namespace of its own is a way around the sandbox's. */
const CLONE_NAMESPACE_FLAGS = {
  CLONE_NEWNS: 0x0002_0000,
  CLONE_NEWCGROUP: 0x0200_0000,
  CLONE_NEWUTS: 0x0400_0000,
  CLONE_NEWIPC: 0x0800_0000,
  CLONE_NEWUSER: 0x1000_0000,
  CLONE_NEWPID: 0x2000_0000,
  CLONE_NEWNET: 0x4000_0000,
};

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

/** mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev): the mode is where the type is. */
const deviceNodeRules = (type: number, what: string): SeccompRule[] => [
  { syscalls: ['mknod'], errno: 'EPERM', argument: { index: 1, mask: S_IFMT, value: type }, why: `${what} device nodes reach host hardware` },
  { syscalls: ['mknodat'], errno: 'EPERM', argument: { index: 2, mask: S_IFMT, value: type }, why: `${what} device nodes reach host hardware` },
];

export const SECCOMP_RULES: readonly SeccompRule[] = [
  {
    syscalls: ['mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr'],
    errno: 'EPERM',
    why: 'mounts could uncover or replace what the sandbox placed (both mount APIs)',
  },
  { syscalls: ['unshare', 'setns'], errno: 'EPERM', why: 'new or foreign namespaces step outside the sandbox' },
  ...Object.entries(CLONE_NAMESPACE_FLAGS).map(
    ([name, flag]): SeccompRule => ({
      syscalls: ['clone'],
      errno: 'EPERM',
      argument: { index: 0, mask: flag, value: flag },
      why: `clone with ${name} makes a namespace of its own`,
    }),
  ),
  {
    // clone3 passes its flags in memory, where a filter cannot look: ENOSYS makes libc fall
    // back to clone, whose flags it can.
    syscalls: ['clone3'],
    errno: 'ENOSYS',
    why: 'its flags cannot be inspected; libc falls back to clone',
  },
  { syscalls: ['init_module', 'finit_module', 'delete_module'], errno: 'EPERM', why: 'kernel modules are the host kernel' },
  { syscalls: ['kexec_load', 'kexec_file_load', 'reboot'], errno: 'EPERM', why: 'replacing or rebooting the host kernel' },
  { syscalls: ['bpf', 'perf_event_open', 'userfaultfd'], errno: 'EPERM', why: 'kernel attack surface no package install needs' },
  { syscalls: ['ptrace', 'process_vm_readv', 'process_vm_writev'], errno: 'EPERM', why: "reading or steering other processes' memory" },
  { syscalls: ['open_by_handle_at', 'name_to_handle_at'], errno: 'EPERM', why: 'file handles open files outside the root (the "shocker" escape)' },
  { syscalls: ['keyctl', 'add_key', 'request_key'], errno: 'EPERM', why: 'the kernel keyring is not namespaced' },
  { syscalls: ['swapon', 'swapoff', 'acct'], errno: 'EPERM', why: 'host-wide settings' },
  ...deviceNodeRules(S_IFBLK, 'block'),
  ...deviceNodeRules(S_IFCHR, 'character'),
];
