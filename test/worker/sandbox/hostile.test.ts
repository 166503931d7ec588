/**
 * Hostile templates: each tries one way out of its sandbox, is stopped, and leaves the host
 * as it was (no mount, loop device, process, network namespace, cgroup, nftables table or
 * file), while a build running beside it is unaffected. Controls show the attack itself
 * works where the sandbox is not, so a passing case means the sandbox stopped it.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { access, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import type { BuildGrants } from '../../../contract/bundle.ts';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import type { HostConfig } from '../../../worker/chroot/host-config.ts';
import { recoverHost } from '../../../worker/chroot/recovery.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

interface Outcome {
  error?: Error;
  log: string;
  image: string;
  dir: string;
}

/** An HTTP GET with busybox's nc (the image's busybox wget crashes; the host may lack nc). */
const NC = (address: string, port: number): string =>
  `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 3 ${address} ${String(port)}`;

describeIfRoot('hostile templates in the sandbox', () => {
  let work: string;
  let host: HostConfig;
  /** Every host the suite builds on, with the images it used: all must end clean. */
  const used: { host: HostConfig; images: string[] }[] = [];
  const hostSecret = `host-secret-${randomBytes(6).toString('hex')}`;
  let hostMarker: string;
  let hostSleeper: ResultPromise;
  let bucket: Server;
  let bucketPort: number;
  const metadata = { netns: `amiftest-${randomBytes(3).toString('hex')}`, veth: `amtv${randomBytes(3).toString('hex')}`, address: '10.252.77.2', hostSide: '10.252.77.1' };
  let metadataServer: ResultPromise;

  const build = async (
    label: string,
    provisioners: unknown[],
    builder: Record<string, unknown> = {},
    options: { host?: HostConfig; grants?: BuildGrants } = {},
  ): Promise<Outcome> => {
    const dir = await mkdtemp(join(work, `${label}-`));
    const image = await makeBusyboxImage(dir);
    const on = options.host ?? host;
    const entry = used.find((u) => u.host === on) ?? used[used.push({ host: on, images: [] }) - 1];
    entry?.images.push(image);
    const lines: string[] = [];
    const request = await requestFrom(dir, provisioners, builder);
    try {
      await runChrootBuild({ request, host: on, grants: options.grants, sink: (line) => lines.push(line), source: { kind: 'image', imagePath: image } });
      return { log: lines.join('\n'), image, dir };
    } catch (error) {
      return { error: error as Error, log: lines.join('\n'), image, dir };
    }
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ami-factory-hostile-'));
    host = { ...(await privateHost('hostile')), sandbox: { blockedAddresses: [metadata.address] } };
    hostMarker = join(work, 'host-marker.txt');
    await writeFile(hostMarker, hostSecret);
    // A host process with a secret in its environment, for templates to read or kill.
    hostSleeper = execa('sleep', ['600'], { env: { HOST_SECRET: hostSecret }, reject: false });
    // The stand-in bucket: an HTTP server on the host.
    bucket = createServer((_request, response) => response.end(`BUCKET-${hostSecret}`));
    await new Promise<void>((resolve) => bucket.listen(0, '0.0.0.0', resolve));
    const address = bucket.address();
    bucketPort = typeof address === 'object' && address !== null ? address.port : 0;
    // The stand-in metadata service: a server in a network namespace of the test's own.
    await execa('ip', ['netns', 'add', metadata.netns]);
    await execa('ip', ['link', 'add', metadata.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', metadata.netns]);
    await execa('ip', ['addr', 'add', `${metadata.hostSide}/30`, 'dev', metadata.veth]);
    await execa('ip', ['link', 'set', metadata.veth, 'up']);
    await execa('ip', ['-n', metadata.netns, 'addr', 'add', `${metadata.address}/30`, 'dev', 'eth0']);
    await execa('ip', ['-n', metadata.netns, 'link', 'set', 'eth0', 'up']);
    await execa('ip', ['-n', metadata.netns, 'route', 'add', 'default', 'via', metadata.hostSide]);
    const www = join(work, 'metadata-www');
    await mkdir(www);
    await writeFile(join(www, 'index.html'), `METADATA-${hostSecret}\n`);
    metadataServer = execa('ip', ['netns', 'exec', metadata.netns, 'busybox', 'httpd', '-f', '-p', `${metadata.address}:80`, '-h', www], { reject: false });
    for (let tries = 0; !(await execa('sh', ['-c', NC(metadata.address, 80)], { reject: false })).stdout.includes('METADATA-'); tries++) {
      if (tries > 100) throw new Error('the stand-in metadata server did not answer');
      await sleep(100);
    }
  });

  afterEach(async () => {
    for (const { host: each, images } of used) {
      await recoverHost(each);
      await expectHostClean(each, images);
    }
    // The host's own sleeper is alive and its marker file untouched.
    expect(() => process.kill(hostSleeper.pid ?? 0, 0)).not.toThrow();
    expect(await readFile(hostMarker, 'utf8')).toBe(hostSecret);
  });

  afterAll(async () => {
    hostSleeper.kill('SIGKILL');
    metadataServer.kill('SIGKILL');
    bucket.close();
    await execa('ip', ['netns', 'delete', metadata.netns], { reject: false });
    await execa('ip', ['link', 'delete', metadata.veth], { reject: false });
  });

  it('the chroot escape (chroot into a subdirectory, fchdir up, chroot .) reaches only the image', async () => {
    const dir = await mkdtemp(join(work, 'escape-src-'));
    await writeFile(join(dir, 'escape.c'), `
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
  mkdir("/escape-sub", 0755);
  int up = open("/", O_RDONLY | O_DIRECTORY);
  if (chroot("/escape-sub") != 0) { perror("chroot subdir"); return 1; }
  if (fchdir(up) != 0) { perror("fchdir"); return 1; }
  for (int i = 0; i < 64; i++) chdir("..");
  if (chroot(".") != 0) { perror("chroot ."); return 1; }
  puts("escape: chrooted to the top");
  fflush(stdout);
  execl("/bin/sh", "sh", "-c", argv[1], (char *)0);
  perror("exec");
  return 1;
}
`);
    await execa('gcc', ['-static', '-O1', '-o', join(dir, 'escape'), join(dir, 'escape.c')]);
    const provisioners = (root: string) => [
      { type: 'file', source: join(dir, 'escape'), destination: '/usr/local/bin/escape' },
      { type: 'shell', inline: [`chmod +x /usr/local/bin/escape; /usr/local/bin/escape 'cat ${hostMarker} || echo escape saw no host file; ls ${root}' || true`] },
    ];
    const sandboxed = await build('escape', provisioners(work));
    expect(sandboxed.error).toBeUndefined();
    expect(sandboxed.log).toContain('escape: chrooted to the top');
    expect(sandboxed.log).toContain('escape saw no host file');
    expect(sandboxed.log).not.toContain(hostSecret);
    // Control: with plain chroot the same program reads the host's file.
    const unsandboxedHost = { ...(await privateHost('escape-control')), sandbox: { enabled: false } };
    const control = await build('escape-control', provisioners(work), {}, { host: unsandboxedHost });
    expect(control.log).toContain(hostSecret);
  });

  it('a bind of / through chroot_mounts is refused without the host-commands grant, before anything is mounted', async () => {
    const outcome = await build('bind-root', [{ type: 'shell', inline: ['ls /host/etc'] }], {
      chroot_mounts: [['proc', 'proc', '/proc'], ['bind', '/', '/host']],
    });
    expect(outcome.error?.message).toMatch(/grants\.hostCommands is false.*chroot_mounts\[1\] \(bind \/ \/host\)/);
    expect(outcome.log).not.toContain('mount-device');
  });

  it("another process's environment cannot be read, nor a host process killed", async () => {
    const pid = String(hostSleeper.pid);
    const outcome = await build('other-process', [{
      type: 'shell',
      inline: [
        `(cat /proc/${pid}/environ || echo no host process ${pid}) 2>&1`,
        `for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null; done | tr '\\0' '\\n' | grep HOST_SECRET || echo no host environment visible`,
        `kill -9 ${pid} || echo could not kill ${pid}`,
        'echo processes visible: $(ls -d /proc/[0-9]* | wc -l)',
      ],
    }]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).toContain('no host environment visible');
    expect(outcome.log).toContain(`could not kill ${pid}`);
    expect(outcome.log).not.toContain(hostSecret);
    expect(Number(/processes visible: (\d+)/.exec(outcome.log)?.[1])).toBeLessThan(10);
    // Still running: checked by afterEach as well.
    expect(() => process.kill(Number(pid), 0)).not.toThrow();
  });

  it("cannot write into a concurrent build's mount, which finishes unaffected", async () => {
    const victim = build('victim', [{ type: 'shell', inline: ['echo victim ran > /etc/victim', 'sleep 3'] }]);
    await sleep(1_000);
    const attacker = await build('attacker', [{
      type: 'shell',
      inline: [
        `for d in ${host.mountRoot}/*; do (echo pwned > "$d/etc/pwned" && echo WROTE "$d") 2>/dev/null || true; done`,
        'ls /dev | grep -E "loop|sd|nvme|xvd" || echo no block devices in /dev',
        '(mknod /tmp/loop b 7 0 && echo MKNOD-LOOP-OK) 2>&1 || true',
        `(ls ${host.mountRoot} || echo no mount root here) 2>&1`,
      ],
    }]);
    const victimOutcome = await victim;
    expect(attacker.error).toBeUndefined();
    expect(attacker.log).not.toMatch(/WROTE|MKNOD-LOOP-OK/);
    expect(attacker.log).toContain('no block devices in /dev');
    expect(attacker.log).toContain('no mount root here');
    expect(victimOutcome.error).toBeUndefined();
    await withImageMounted(victimOutcome.image, async (root) => {
      expect(await readFile(join(root, 'etc/victim'), 'utf8')).toBe('victim ran\n');
      await expect(access(join(root, 'etc/pwned'))).rejects.toThrow();
    });
  });

  it('cannot reach a service of the host (the stand-in bucket) on loopback or on its own addresses', async () => {
    // The bucket answers on the host.
    expect((await execa('sh', ['-c', NC('127.0.0.1', bucketPort)])).stdout).toContain('BUCKET-');
    const outcome = await build('bucket', [{
      type: 'shell',
      inline: [
        `(${NC('127.0.0.1', bucketPort)} || true; echo tried loopback) 2>&1`,
        'gateway=$(ip route | awk \'/default/ {print $3}\')',
        `(${NC('"$gateway"', bucketPort)} || true; echo tried the host at $gateway) 2>&1`,
      ],
    }]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).toMatch(/tried the host at 10\.213\.\d+\.\d+/);
    expect(outcome.log).not.toContain('BUCKET-');
  });

  it('cannot reach the (stand-in) instance metadata address, which an unblocked sandbox can', async () => {
    const probe = [{ type: 'shell', inline: [`(${NC(metadata.address, 80)} || true; echo tried metadata) 2>&1`] }];
    const blocked = await build('metadata', probe);
    expect(blocked.error).toBeUndefined();
    expect(blocked.log).toContain('tried metadata');
    expect(blocked.log).not.toContain('METADATA-');
    // Control: the same sandbox without the address on its blocked list gets through (NAT works).
    const open = { ...(await privateHost('metadata-control')) };
    const control = await build('metadata-control', probe, {}, { host: open });
    expect(control.log).toContain(`METADATA-${hostSecret}`);
  });

  it('cannot make a block device, mount proc or make a namespace; FIFOs still work', async () => {
    const outcome = await build('kernel', [{
      type: 'shell',
      inline: [
        '(mknod /tmp/sda b 8 0 && echo MKNOD-BLOCK-OK) 2>&1 || true',
        '(mknod /tmp/mem c 1 1 && echo MKNOD-CHAR-OK) 2>&1 || true',
        '(mkfifo /tmp/fifo && echo FIFO-OK) 2>&1 || true',
        '(mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo MOUNT-OK) 2>&1 || true',
        '(unshare -n true && echo UNSHARE-OK) 2>&1 || true',
        'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status',
      ],
    }]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).not.toMatch(/MKNOD-BLOCK-OK|MKNOD-CHAR-OK|MOUNT-OK|UNSHARE-OK/);
    expect(outcome.log).toContain('FIFO-OK');
    expect(outcome.log).toMatch(/NoNewPrivs:\s+1/);
    expect(outcome.log).toMatch(/Seccomp:\s+2/);
    await withImageMounted(outcome.image, async (root) => {
      expect(await readdir(join(root, 'tmp/p'))).toEqual([]);
    });
  });

  it('a fork bomb stops at the process limit and the build ends', async () => {
    const started = Date.now();
    const outcome = await build('fork-bomb', [{
      type: 'shell',
      inline: ['bomb() { bomb | bomb & }', 'bomb', 'sleep 2', 'echo processes now: $(ls -d /proc/[0-9]* | wc -l)'],
      valid_exit_codes: [0, 1, 2, 126, 127, 128],
    }], { sandbox: { max_processes: 64 } });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(outcome.log).toMatch(/can't fork|Resource temporarily unavailable|Cannot fork/i);
    const counted = /processes now: (\d+)/.exec(outcome.log)?.[1];
    if (counted !== undefined) expect(Number(counted)).toBeLessThanOrEqual(64);
  });

  it('filling memory is stopped at the memory limit: the provisioner is killed', async () => {
    const outcome = await build('memory', [{
      type: 'shell',
      inline: ['x=$(head -c 400000000 /dev/zero | tr "\\0" a)', 'echo survived with ${#x} bytes'],
    }], { sandbox: { memory_mb: 64 } });
    expect(outcome.error?.message).toMatch(/provisioners\[0\] \(shell\) (was killed by SIGKILL|exited with code 137)/);
    expect(outcome.log).not.toContain('survived with');
  });

  it('a daemon that ignores SIGTERM and detaches is gone when its provisioner ends', async () => {
    const outcome = await build('daemon', [
      { type: 'shell', inline: ['setsid sh -c \'trap "" TERM HUP; while :; do sleep 1; done # hostile-daemon\' > /dev/null 2>&1 < /dev/null &', 'echo daemon started'] },
      { type: 'shell', inline: ['ps -o pid,args | grep -v grep | grep hostile-daemon || echo daemon gone inside'] },
    ]);
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).toContain('daemon started');
    expect(outcome.log).toContain('daemon gone inside');
    expect((await execa('pgrep', ['-f', 'hostile-daemon'], { reject: false })).stdout).toBe('');
  });

  it('host-side commands are refused without the grant, and never run', async () => {
    const marker = join(work, 'pre-mount-ran');
    const outcome = await build('host-commands', [{ type: 'shell', inline: ['true'] }], {
      pre_mount_commands: [`touch ${marker}`],
      command_wrapper: 'sudo {{.Command}}',
    });
    expect(outcome.error?.message).toMatch(/grants\.hostCommands is false.*pre_mount_commands, command_wrapper/);
    await expect(access(marker)).rejects.toThrow();
  });

  it('granted host commands run sandboxed: their own device only, the host read-only', async () => {
    const marker = join(work, 'granted-ran');
    const outcome = await build('granted', [{ type: 'shell', inline: ['cat /etc/from-post-mount', 'echo "wrapped: $WRAPPED"'] }], {
      // A wrapper of one's own runs inside the image's sandbox, around the command.
      command_wrapper: 'env WRAPPED=yes {{.Command}}',
      pre_mount_commands: ['ls /dev | grep -E "^loop" | tr "\\n" " "; echo', `(touch ${marker} && echo HOST-TMP-WRITTEN) 2>&1 || true`, '(touch /etc/pwned && echo HOST-ETC-WRITTEN) 2>&1 || true'],
      post_mount_commands: ['echo written by post-mount > {{.MountPath}}/etc/from-post-mount'],
    }, { grants: { hostCommands: true } });
    expect(outcome.error).toBeUndefined();
    const device = /attached .* as \/dev\/(loop\d+)/.exec(outcome.log)?.[1] ?? 'unknown';
    expect(outcome.log).toMatch(new RegExp(`pre_mount_commands\\[0\\]: ${device} ${device}p1 \\n|pre_mount_commands\\[0\\]: ${device} ${device}p1 $`, 'm'));
    // (Output lines only: the log also shows each command as it starts.)
    expect(outcome.log).not.toMatch(/^\S+\s+pre_mount_commands\[\d\]: HOST-(TMP|ETC)-WRITTEN/m);
    expect(outcome.log).toMatch(/pre_mount_commands\[2\]: touch: cannot touch '\/etc\/pwned': Read-only file system/);
    expect(outcome.log).toContain('written by post-mount');
    expect(outcome.log).toContain('wrapped: yes');
    await expect(access(marker)).rejects.toThrow();
    await expect(access('/etc/pwned')).rejects.toThrow();
  });

  it('environment variables reach the script but never a command line the host can see', async () => {
    const secret = `env-secret-${randomBytes(8).toString('hex')}`;
    const seen: string[] = [];
    const watcher = { watching: true };
    const watch = (async () => {
      while (watcher.watching) {
        for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
          const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmdline.includes(secret)) seen.push(cmdline.replaceAll('\0', ' '));
          if (cmdline.includes('env-probe-running')) seen.push('(probe seen)');
        }
        await sleep(20);
      }
    })();
    const outcome = await build('environment', [{
      type: 'shell',
      environment_vars: [`SECRET=${secret}`],
      execute_command: 'chmod +x {{.Path}}; {{.Vars}} {{.Path}} env-probe-running',
      inline: ['[ "$SECRET" = "' + secret + '" ] && echo the secret arrived', 'sleep 2'],
    }]);
    watcher.watching = false;
    await watch;
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).toContain('the secret arrived');
    // The watcher did see the sandboxed command's line, just never the value.
    expect(seen).toContain('(probe seen)');
    expect(seen.filter((line) => line !== '(probe seen)')).toEqual([]);
  });

  it('network "none" leaves only loopback', async () => {
    const outcome = await build('no-network', [{
      type: 'shell',
      inline: ['ip -o link | awk \'{print $2}\' | tr "\\n" " "; echo', `(${NC(metadata.hostSide, 80)} || true; echo tried out) 2>&1`],
    }], { sandbox: { network: 'none' } });
    expect(outcome.error).toBeUndefined();
    expect(outcome.log).toMatch(/: lo: $/m);
    expect(outcome.log).toContain('Network is unreachable');
    expect(outcome.log).toContain('tried out');
    expect(outcome.log).not.toContain('sandbox: network 10.213');
  });

  it('a limit above the factory maximum is refused, naming the field, before anything changes', async () => {
    const outcome = await build('too-much', [{ type: 'shell', inline: ['true'] }], { sandbox: { memory_mb: 1_000_000 } });
    expect(outcome.error?.message).toMatch(/sandbox\.memory_mb asks for 1000000 MiB; this factory allows at most 8192 MiB/);
  });
});
