/**
 * Compiles SECCOMP_RULES into the BPF program bwrap loads (`--seccomp FD`), with libseccomp
 * through its Python bindings (Debian/Ubuntu `python3-seccomp`, Amazon Linux 2023 and
 * Fedora `python3-libseccomp`): the rules stay readable here and libseccomp writes the
 * architecture checks and syscall numbers, which a hand-written program gets wrong.
 *
 * Compiled once per process and host state directory, written to a temporary name and
 * renamed into place, so a crash mid-write never leaves a half filter to be loaded; the file
 * name carries a hash of the rules, so a changed rule list is never served from the cache.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { SECCOMP_RULES, type SeccompArchitecture, type SeccompRule } from './seccomp-rules.ts';

/** System Pythons first: the bindings are a distribution package, absent from a pyenv or venv. */
const PYTHON_CANDIDATES = ['/usr/bin/python3', '/usr/libexec/platform-python', 'python3'];

const COMPILE_SCRIPT = String.raw`
import errno, json, sys
import seccomp
spec = json.load(sys.stdin)
target = {'x86_64': seccomp.Arch.X86_64, 'aarch64': seccomp.Arch.AARCH64}[spec['arch']]
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
# system_arch() answers unsigned, the Arch constants signed.
if (int(target) & 0xffffffff) != (seccomp.system_arch() & 0xffffffff):
    f.add_arch(target)
    f.remove_arch(seccomp.Arch.NATIVE)
for rule in spec['rules']:
    action = seccomp.ERRNO(getattr(errno, rule['errno']))
    for name in rule['syscalls']:
        try:
            if seccomp.resolve_syscall(target, name) < 0:
                continue
        except (ValueError, RuntimeError):
            continue
        argument = rule.get('argument')
        if argument is None:
            f.add_rule(action, name)
        else:
            f.add_rule(action, name, seccomp.Arg(argument['index'], seccomp.MASKED_EQ, argument['mask'], argument['value']))
with open(spec['out'], 'wb') as out:
    f.export_bpf(out)
`;

export function hostSeccompArchitecture(): SeccompArchitecture {
  const machine = arch();
  if (machine === 'x64') return 'x86_64';
  if (machine === 'arm64') return 'aarch64';
  throw new Error(`the sandbox's seccomp filter is made for x86_64 and aarch64 hosts, not ${machine}`);
}

const rulesHash = (rules: readonly SeccompRule[], architecture: SeccompArchitecture): string =>
  createHash('sha256').update(JSON.stringify({ rules, architecture })).digest('hex').slice(0, 16);

function runPython(python: string, out: string, architecture: SeccompArchitecture, rules: readonly SeccompRule[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(python, ['-c', COMPILE_SCRIPT], (error, _stdout, stderr) => {
      if (error) reject(new Error(`${python}: ${stderr.trim() || error.message}`));
      else resolve();
    });
    child.stdin?.end(JSON.stringify({ arch: architecture, out, rules }));
  });
}

/** Writes the filter for `architecture` to `dir` (if not there already) and returns its path. */
export async function compileSeccompFilter(
  dir: string,
  architecture: SeccompArchitecture = hostSeccompArchitecture(),
  rules: readonly SeccompRule[] = SECCOMP_RULES,
): Promise<string> {
  const path = join(dir, `seccomp-${architecture}-${rulesHash(rules, architecture)}.bpf`);
  try {
    await access(path);
    return path;
  } catch {
    // not compiled yet
  }
  await mkdir(dir, { recursive: true });
  const temporary = `${path}.${String(process.pid)}.tmp`;
  const attempts: string[] = [];
  try {
    for (const python of PYTHON_CANDIDATES) {
      try {
        await runPython(python, temporary, architecture, rules);
        await rename(temporary, path);
        return path;
      } catch (error) {
        attempts.push((error as Error).message.split('\n').slice(-1)[0] ?? '');
      }
    }
  } finally {
    await rm(temporary, { force: true });
  }
  throw new Error(
    'the sandbox needs libseccomp\'s Python bindings to compile its seccomp filter ' +
      '(Debian/Ubuntu: apt-get install python3-seccomp; Amazon Linux 2023: dnf install python3-libseccomp): ' +
      attempts.join('; '),
  );
}

const compiled = new Map<string, Promise<string>>();

/** The host's filter, compiled at most once per process for each state directory. */
export function seccompFilterFor(stateDir: string): Promise<string> {
  const dir = join(stateDir, 'sandbox');
  let filter = compiled.get(dir);
  if (filter === undefined) {
    filter = compileSeccompFilter(dir);
    // A failure is not cached: installing the bindings fixes the next build.
    filter.catch(() => compiled.delete(dir));
    compiled.set(dir, filter);
  }
  return filter;
}
