/**
 * `npm start`: the main job on this machine. Makes the example's base image (a busybox root
 * in an ext4 partition), provisions it with the example template through the chroot engine
 * (`ami-factory chroot`), and shows what the build left in the image.
 */
import { execa } from 'execa';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './moto-server.ts';

const workDir = join(repoRoot, '.cache', 'hello');
const image = join(workDir, 'hello.img');
const run = (file: string, args: string[]) =>
  execa(file, args, { cwd: repoRoot, stdio: 'inherit', preferLocal: true });

await mkdir(workDir, { recursive: true });
console.log('==> making the base image (busybox root in an ext4 partition)');
await run('bash', ['examples/make-base-image.sh', image]);
console.log('\n==> provisioning it with examples/hello/template.json');
await run('node', ['cli/main.ts', 'chroot', 'examples/hello/template.json', '--image', image]);
console.log('\n==> what the build left in the image (mounted read-only, /etc/motd and /etc/ami-factory):');
const mountPoint = join(workDir, 'inspect');
await mkdir(mountPoint, { recursive: true });
const { stdout: table } = await execa('sfdisk', ['--json', image]);
const start = (JSON.parse(table) as { partitiontable: { partitions: { start: number }[] } }).partitiontable.partitions[0]?.start ?? 0;
await execa('mount', ['-o', `ro,loop,offset=${start * 512}`, image, mountPoint]);
try {
  await run('sh', ['-c', `cat ${mountPoint}/etc/motd; ls -l ${mountPoint}/etc/ami-factory`]);
} finally {
  await execa('umount', [mountPoint]);
}
console.log(`\nThe provisioned image: ${image}`);
