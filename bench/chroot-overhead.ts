/**
 * One chroot session's overhead through the engine, against the same sequence as a plain
 * shell script: mount the root, the five default chroot mounts, copy /etc/resolv.conf in,
 * run `true` in the chroot, clean up. The engine runs twice a round: in its sandbox (cgroup,
 * network namespace with NAT and filter, bubblewrap with seccomp) and without it (plain
 * chroot), so the sandbox's own cost is the difference. All run alternately in this process
 * on the same loop device, so they meet the same kernel and cache state; medians and ratios
 * are printed.
 *
 *   npm run bench [-- --rounds 20]
 */
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseTemplate } from '../model/index.ts';
import { attachLoopDevice } from '../worker/devices/loop-device.ts';
import { runChrootBuild } from '../worker/chroot/engine.ts';
import { shellQuote } from '../worker/chroot/shell-quote.ts';
import { imageSandboxArgs } from '../worker/sandbox/bwrap-args.ts';
import { cgroupDirs, cgroupVersion } from '../worker/sandbox/cgroup.ts';
import { addressingAt, INTERFACE_PREFIX, networkNames, parsePool } from '../worker/sandbox/network-plan.ts';
import { nftRuleset } from '../worker/sandbox/nft-ruleset.ts';
import { DEFAULT_SANDBOX_POLICY } from '../worker/sandbox/policy.ts';
import { sandboxResolvers } from '../worker/sandbox/resolvers.ts';
import { seccompFilterFor } from '../worker/sandbox/seccomp-filter.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const rounds = Number(values.rounds);

const work = await mkdtemp(join(tmpdir(), 'ami-factory-bench-'));
const image = join(work, 'base.img');
await execa('bash', [join(import.meta.dirname, '../examples/make-base-image.sh'), image]);
const host = { stateDir: join(work, 'state'), mountRoot: join(work, 'mnt') };
const unsandboxedHost = { ...host, sandbox: { enabled: false } };
const lease = await attachLoopDevice(image, { lockDir: join(work, 'locks') });
const device = lease.device;

const request = parseTemplate(
  {
    builders: [{ type: 'amazon-chroot', ami_name: 'bench-{{timestamp}}', source_ami: 'ami-0123456789abcdef0' }],
    provisioners: [{ type: 'shell', inline: ['true'] }],
  },
  { templateDir: work },
);

// The baseline: what an operator would write by hand, with the same set-aside of
// resolv.conf the engine does, so that the image is left as it was.
const script = join(work, 'session.sh');
const mountPath = join(host.mountRoot, 'shell');
await writeFile(
  script,
  `set -e
M=${mountPath}
mkdir -p "$M"
mount ${device}p1 "$M"
mount -t proc proc "$M/proc"
mount -t sysfs sysfs "$M/sys"
mount --bind /dev "$M/dev"
mount -t devpts devpts "$M/dev/pts"
mount -t binfmt_misc binfmt_misc "$M/proc/sys/fs/binfmt_misc"
mv "$M/etc/resolv.conf" "$M/etc/resolv.conf.saved"
cp /etc/resolv.conf "$M/etc/resolv.conf"
chroot "$M" /bin/sh -c true
rm "$M/etc/resolv.conf"
mv "$M/etc/resolv.conf.saved" "$M/etc/resolv.conf"
umount "$M/proc/sys/fs/binfmt_misc"
umount "$M/dev/pts"
umount "$M/dev"
umount "$M/sys"
umount "$M/proc"
umount "$M"
rmdir "$M"
`,
);

// The sandboxed baseline: the same session sandboxed by hand, as the engine does it (cgroup,
// network namespace with the same nftables table, bwrap with the same arguments and filter),
// with the same batching of `ip` and `nft`: what the engine's own bookkeeping costs on top.
const sandboxedScript = join(work, 'sandboxed-session.sh');
const sandboxedMountPath = join(host.mountRoot, 'sandboxed-shell');
const version = await cgroupVersion();
const cgroups = cgroupDirs(version, 'bench-shell');
const names = networkNames('bench-shell');
const addressing = addressingAt(parsePool(DEFAULT_SANDBOX_POLICY.subnetPool), 16_000);
const resolvers = await sandboxResolvers();
const ruleset = join(work, 'ruleset.nft');
await writeFile(ruleset, nftRuleset({
  names, addressing, resolvers: resolvers.nameservers, blocked: [], pool: DEFAULT_SANDBOX_POLICY.subnetPool, interfacePrefix: INTERFACE_PREFIX,
}));
const hostBatch = join(work, 'host.ip');
await writeFile(hostBatch, [
  `netns add ${names.netns}`,
  `link add ${names.hostVeth} type veth peer name eth0 netns ${names.netns}`,
  `addr add ${addressing.gateway}/30 dev ${names.hostVeth}`,
  `link set ${names.hostVeth} up`,
  '',
].join('\n'));
const namespaceBatch = join(work, 'namespace.ip');
await writeFile(namespaceBatch, [
  'link set lo up',
  `addr add ${addressing.address}/30 dev eth0`,
  'link set eth0 up',
  `route add default via ${addressing.gateway}`,
  '',
].join('\n'));
const [firstCgroup = '', secondCgroup = ''] = cgroups;
const limits = version === 'v2'
  ? [`echo 2147483648 > ${firstCgroup}/memory.max`, `echo 1024 > ${firstCgroup}/pids.max`]
  : [`echo 2147483648 > ${firstCgroup}/memory.limit_in_bytes`, `echo 1024 > ${secondCgroup}/pids.max`];
const sandboxedCommand = [
  ...cgroups.map((dir) => `echo $$ > ${dir}/cgroup.procs`),
].join(' && ') + ` && exec nsenter --net=/run/netns/${names.netns} bwrap ` +
  imageSandboxArgs({ root: sandboxedMountPath, network: 'namespace-given', command: ['/bin/sh', '-c', 'true'] }).map(shellQuote).join(' ') +
  ` 3< ${await seccompFilterFor(host.stateDir)}`;
await writeFile(
  sandboxedScript,
  [
    'set -e',
    `M=${sandboxedMountPath}`,
    `mkdir -p ${cgroups.join(' ')}`,
    ...limits,
    `ip -batch ${hostBatch}`,
    `ip -n ${names.netns} -batch ${namespaceBatch} &`,
    `nft -f ${ruleset}`,
    'wait',
    'mkdir -p "$M"',
    `mount ${device}p1 "$M"`,
    'mv "$M/etc/resolv.conf" "$M/etc/resolv.conf.saved"',
    'cp /etc/resolv.conf "$M/etc/resolv.conf"',
    `sh -c ${shellQuote(sandboxedCommand)}`,
    'rm "$M/etc/resolv.conf"',
    'mv "$M/etc/resolv.conf.saved" "$M/etc/resolv.conf"',
    'umount "$M"',
    'rmdir "$M"',
    `nft delete table inet ${names.table} &`,
    `ip netns delete ${names.netns}`,
    'wait',
    `rmdir ${cgroups.join(' ')}`,
    '',
  ].join('\n'),
);

const timings = { sandboxed: [] as number[], unsandboxed: [] as number[], shell: [] as number[], sandboxedShell: [] as number[] };
const stepTimings: Record<string, number[]> = {};
const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const started = performance.now();
  await fn();
  return performance.now() - started;
};
const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

try {
  // One warm-up of each, not counted: first runs pay for page cache and module loading.
  for (let round = -1; round < rounds; round++) {
    let steps: Record<string, number> = {};
    const sandboxed = await time(async () => {
      steps = (await runChrootBuild({ request, host, source: { kind: 'device', devicePath: device }, sink: () => undefined })).timings;
    });
    if (round >= 0) for (const [step, ms] of Object.entries(steps)) (stepTimings[step] ??= []).push(ms);
    const unsandboxed = await time(() =>
      runChrootBuild({ request, host: unsandboxedHost, source: { kind: 'device', devicePath: device }, sink: () => undefined }),
    );
    const shell = await time(() => execa('bash', [script]));
    const sandboxedShell = await time(() => execa('bash', [sandboxedScript]));
    if (round >= 0) {
      timings.sandboxedShell.push(sandboxedShell);
      timings.sandboxed.push(sandboxed);
      timings.unsandboxed.push(unsandboxed);
      timings.shell.push(shell);
    }
  }
} finally {
  await lease.release();
  await rm(work, { recursive: true, force: true });
}

const sandboxedMedian = median(timings.sandboxed);
const unsandboxedMedian = median(timings.unsandboxed);
const shellMedian = median(timings.shell);
const sandboxedShellMedian = median(timings.sandboxedShell);
console.log(`chroot session overhead, ${String(rounds)} rounds each, alternating`);
console.log(`  shell script (baseline):       median ${shellMedian.toFixed(1)} ms`);
console.log(`  shell script, sandboxed:       median ${sandboxedShellMedian.toFixed(1)} ms (the same sandbox, by hand)`);
console.log(`  engine, plain chroot:          median ${unsandboxedMedian.toFixed(1)} ms`);
console.log(`  engine, sandboxed:             median ${sandboxedMedian.toFixed(1)} ms`);
console.log(`    of which, by step: ${Object.entries(stepTimings).map(([step, ms]) => `${step} ${median(ms).toFixed(1)}`).join(', ')}`);
console.log(`  sandbox's own cost:            ${(sandboxedMedian - unsandboxedMedian).toFixed(1)} ms a session (target: at most 50 ms)`);
console.log(`  ratio plain engine / shell:    ${(unsandboxedMedian / shellMedian).toFixed(2)}x`);
console.log(`  ratio sandboxed engine / shell: ${(sandboxedMedian / shellMedian).toFixed(2)}x (target: within 1.5x)`);
console.log(`  ratio sandboxed engine / sandboxed shell: ${(sandboxedMedian / sandboxedShellMedian).toFixed(2)}x`);
