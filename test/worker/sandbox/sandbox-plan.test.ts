/** The sandbox's pure parts: its arguments, limits, addresses, rules and filter. */
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostCommandSandboxArgs, imageSandboxArgs } from '../../../worker/sandbox/bwrap-args.ts';
import { cgroupDirs, cpuSharesOf } from '../../../worker/sandbox/cgroup.ts';
import { addressingAt, freeSlot, networkNames, parsePool } from '../../../worker/sandbox/network-plan.ts';
import { nftRuleset } from '../../../worker/sandbox/nft-ruleset.ts';
import { DEFAULT_SANDBOX_POLICY, sandboxSettingsFor } from '../../../worker/sandbox/policy.ts';
import { sandboxResolvers } from '../../../worker/sandbox/resolvers.ts';
import { compileSeccompFilter } from '../../../worker/sandbox/seccomp-filter.ts';
import { SECCOMP_RULES } from '../../../worker/sandbox/seccomp-rules.ts';

describe('bubblewrap arguments', () => {
  const image = imageSandboxArgs({ root: '/mnt/vol', network: 'namespace-given', command: ['/bin/sh', '-c', 'true'] });

  it('make the volume the root, with its own /proc, a private /dev and an empty read-only /sys', () => {
    expect(image.slice(0, 3)).toEqual(['--bind', '/mnt/vol', '/']);
    expect(image.join(' ')).toContain('--proc /proc --dev /dev --tmpfs /sys --remount-ro /sys');
    expect(image.slice(-4)).toEqual(['--', '/bin/sh', '-c', 'true']);
  });

  it('unshare every namespace but the user namespace (uid mapping) and, with a build network, the network', () => {
    expect(image).toEqual(expect.arrayContaining(['--unshare-ipc', '--unshare-pid', '--unshare-uts', '--unshare-cgroup', '--die-with-parent', '--new-session']));
    expect(image).not.toContain('--unshare-all');
    expect(image).not.toContain('--unshare-user');
    expect(image).not.toContain('--unshare-net');
    expect(imageSandboxArgs({ root: '/r', network: 'none', command: ['true'] })).toContain('--unshare-net');
  });

  it('keep only the package-install capabilities, and load the seccomp filter', () => {
    const kept = image.flatMap((arg, i) => (image[i - 1] === '--cap-add' ? [arg] : []));
    expect(image[image.indexOf('--cap-drop') + 1]).toBe('ALL');
    expect(kept).toContain('CAP_CHOWN');
    for (const dangerous of ['CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_PTRACE', 'CAP_MKNOD', 'CAP_NET_ADMIN']) {
      expect(kept).not.toContain(dangerous);
    }
    expect(image[image.indexOf('--seccomp') + 1]).toBe('3');
  });

  it('give a host command its own device and mount point, the host read-only, the worker config hidden', () => {
    const args = hostCommandSandboxArgs({
      readOnly: ['/usr', '/etc'], hidden: ['/etc/ami-factory'], devices: ['/dev/loop3', '/dev/loop3p1'], mountPath: '/mnt/vol', command: ['true'],
    }).join(' ');
    expect(args).toContain('--ro-bind /usr /usr --ro-bind /etc /etc --tmpfs /etc/ami-factory');
    expect(args).toContain('--dev /dev --dev-bind /dev/loop3 /dev/loop3 --dev-bind /dev/loop3p1 /dev/loop3p1');
    expect(args).toContain('--bind /mnt/vol /mnt/vol');
    expect(args).toContain('--unshare-net');
  });
});

describe('sandbox limits', () => {
  it("take the template's values within the host's maxima, else the host's defaults", () => {
    expect(sandboxSettingsFor({ network: 'egress' }, DEFAULT_SANDBOX_POLICY).limits).toEqual({
      memoryBytes: 2048 * 1024 * 1024, maxProcesses: 1024, cpuWeight: 100,
    });
    expect(sandboxSettingsFor({ memory_mb: 512, cpu_weight: 50, network: 'none' }, DEFAULT_SANDBOX_POLICY)).toEqual({
      limits: { memoryBytes: 512 * 1024 * 1024, maxProcesses: 1024, cpuWeight: 50 }, network: 'none',
    });
  });

  it('refuse more than the maximum, naming the field', () => {
    expect(() => sandboxSettingsFor({ max_processes: 100_000, network: 'egress' }, DEFAULT_SANDBOX_POLICY, 'builders[0].sandbox')).toThrow(
      'builders[0].sandbox.max_processes asks for 100000 processes; this factory allows at most 4096 processes',
    );
  });

  it('map the v2 CPU weight to v1 shares, and name one cgroup directory per v1 hierarchy', () => {
    expect(cpuSharesOf(100)).toBe(1024);
    expect(cpuSharesOf(1)).toBe(10);
    expect(cgroupDirs('v2', 'build-x', '/cg')).toEqual(['/cg/ami-factory/build-x']);
    expect(cgroupDirs('v1', 'build-x', '/cg')).toEqual(['memory', 'pids', 'cpu', 'freezer'].map((c) => `/cg/${c}/ami-factory/build-x`));
  });
});

describe('sandbox network plan', () => {
  it('names fit in 15-byte interface names and follow from the build id alone', () => {
    const names = networkNames('0b1f6c9e-0000-4000-8000-000000000000');
    expect(names.hostVeth.length).toBeLessThanOrEqual(15);
    expect(networkNames('0b1f6c9e-0000-4000-8000-000000000000')).toEqual(names);
    expect(networkNames('another')).not.toEqual(names);
  });

  it('takes the first /30 of the pool that no host address is in', () => {
    const pool = parsePool('10.213.0.0/16');
    expect(addressingAt(pool, 0)).toEqual({ subnet: '10.213.0.0/30', gateway: '10.213.0.1', address: '10.213.0.2' });
    expect(freeSlot(pool, ['192.0.2.2', '10.213.0.1', '10.213.0.5'])).toBe(2);
    expect(() => freeSlot(parsePool('10.0.0.0/30'), ['10.0.0.1'])).toThrow(/every subnet of the sandbox pool is in use/);
  });

  it('filters: DNS to the resolvers only, then the host, metadata, other sandboxes and the extra list dropped', () => {
    const ruleset = nftRuleset({
      names: { netns: 'amif-x', hostVeth: 'amifx', table: 'amif_x' },
      addressing: { subnet: '10.213.0.4/30', gateway: '10.213.0.5', address: '10.213.0.6' },
      resolvers: ['169.254.169.253'],
      blocked: ['10.252.77.2', 'fd00:1::/64'],
      pool: '10.213.0.0/16',
      interfacePrefix: 'amif',
    });
    expect(ruleset).toContain('table inet amif_x {');
    const forward = ruleset.slice(ruleset.indexOf('chain forward'), ruleset.indexOf('chain postrouting'));
    const dns = forward.indexOf('ip daddr { 169.254.169.253 } udp dport 53 accept');
    const drop = forward.indexOf('ip daddr { 169.254.0.0/16, 10.213.0.0/16, 10.252.77.2 } drop');
    expect(dns).toBeGreaterThan(0);
    expect(drop).toBeGreaterThan(dns);
    expect(forward).toContain('ip6 daddr { fd00:ec2::254, fd00:1::/64 } drop');
    expect(forward).toContain('oifname "amif*" drop');
    const input = ruleset.slice(ruleset.indexOf('chain input'), ruleset.indexOf('chain forward'));
    expect(input.trim().split('\n').at(-2)?.trim()).toBe('iifname "amifx" drop');
    expect(ruleset).toContain('ip saddr 10.213.0.4/30 oifname != "amifx" masquerade');
  });
});

describe('sandbox resolvers', () => {
  it("are the host's when they are reachable, and the stub's upstream when the host uses a loopback stub", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-resolvers-'));
    const plain = join(dir, 'plain.conf');
    const stub = join(dir, 'stub.conf');
    const upstream = join(dir, 'upstream.conf');
    await writeFile(plain, 'nameserver 169.254.169.253\nsearch ec2.internal\n');
    await writeFile(stub, 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch ec2.internal\n');
    await writeFile(upstream, 'nameserver 10.0.0.2\nnameserver ::1\n');
    const kept = await sandboxResolvers(plain, upstream);
    expect(kept.nameservers).toEqual(['169.254.169.253']);
    expect(kept.replacement).toBeUndefined();
    const replaced = await sandboxResolvers(stub, upstream);
    expect(replaced.nameservers).toEqual(['10.0.0.2']);
    expect(replaced.replacement).toBe('nameserver 10.0.0.2\noptions edns0 trust-ad\nsearch ec2.internal\n');
    expect(replaced.note).toMatch(/127\.0\.0\.53 is a loopback stub: the sandbox uses its upstream 10\.0\.0\.2/);
  });
});

describe('seccomp filter', () => {
  it('compiles for x86_64 and aarch64 with libseccomp, once, and again when the rules change', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-seccomp-'));
    const x86 = await compileSeccompFilter(dir, 'x86_64');
    const arm = await compileSeccompFilter(dir, 'aarch64');
    const x86Bytes = await readFile(x86);
    const armBytes = await readFile(arm);
    // BPF instructions are 8 bytes each; the two architectures' programs differ.
    expect(x86Bytes.length % 8).toBe(0);
    expect(x86Bytes.length).toBeGreaterThan(8 * SECCOMP_RULES.length);
    expect(armBytes.equals(x86Bytes)).toBe(false);
    const before = (await stat(x86)).mtimeMs;
    expect(await compileSeccompFilter(dir, 'x86_64')).toBe(x86);
    expect((await stat(x86)).mtimeMs).toBe(before);
    const fewer = await compileSeccompFilter(dir, 'x86_64', SECCOMP_RULES.slice(1));
    expect(fewer).not.toBe(x86);
  });

  it('leaves nothing half-written when it cannot compile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-seccomp-bad-'));
    const bad = [{ syscalls: ['mount'], errno: 'NOT_AN_ERRNO' as 'EPERM', why: 'a broken rule' }];
    await expect(compileSeccompFilter(dir, 'x86_64', bad)).rejects.toThrow(/compile its seccomp filter/);
    expect(await readdir(dir)).toEqual([]);
  });
});
