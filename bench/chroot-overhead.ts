/**
 * One chroot session's overhead through the engine, against the same sequence as a plain
 * shell script: mount the root, the five default chroot mounts, copy /etc/resolv.conf in,
 * run `true` in the chroot, clean up. Both run alternately in this process on the same loop
 * device, so they meet the same kernel and cache state; medians and their ratio are printed.
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

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const rounds = Number(values.rounds);

const work = await mkdtemp(join(tmpdir(), 'ami-factory-bench-'));
const image = join(work, 'base.img');
await execa('bash', [join(import.meta.dirname, '../examples/make-base-image.sh'), image]);
const host = { stateDir: join(work, 'state'), mountRoot: join(work, 'mnt') };
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

const timings = { engine: [] as number[], shell: [] as number[] };
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
    const engine = await time(async () => {
      steps = (await runChrootBuild({ request, host, source: { kind: 'device', devicePath: device }, sink: () => undefined })).timings;
    });
    if (round >= 0) for (const [step, ms] of Object.entries(steps)) (stepTimings[step] ??= []).push(ms);
    const shell = await time(() => execa('bash', [script]));
    if (round >= 0) {
      timings.engine.push(engine);
      timings.shell.push(shell);
    }
  }
} finally {
  await lease.release();
  await rm(work, { recursive: true, force: true });
}

const engineMedian = median(timings.engine);
const shellMedian = median(timings.shell);
console.log(`chroot session overhead, ${rounds} rounds each, alternating`);
console.log(`  shell script (baseline): median ${shellMedian.toFixed(1)} ms`);
console.log(`  ami-factory engine:      median ${engineMedian.toFixed(1)} ms`);
console.log(`    of which, by step: ${Object.entries(stepTimings).map(([step, ms]) => `${step} ${median(ms).toFixed(1)}`).join(', ')}`);
console.log(`  ratio engine / shell:    ${(engineMedian / shellMedian).toFixed(2)}x (target: within 1.5x)`);
