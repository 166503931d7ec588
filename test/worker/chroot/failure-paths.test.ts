/**
 * Every way a chroot build can fail ends with a clear error and a clean host: no mounts
 * under the mount root, no loop devices over the image, no journal, no lock.
 */
import { execa } from 'execa';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import type { HostConfig } from '../../../worker/chroot/host-config.ts';
import { recoverHost } from '../../../worker/chroot/recovery.ts';
import { processesInChroot } from '../../../worker/chroot/chroot-processes.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, leftovers, privateHost } from '../../support/host-state.ts';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

/**
 * `ami-factory chroot` in a child process, returned once its provisioner runs (it prints
 * "provisioning-started"). Output goes to a file, not a pipe: a chroot process orphaned by
 * a killed run would hold a pipe open.
 */
async function startCliBuild(template: string, image: string, host: HostConfig, dir: string) {
  const output = join(dir, 'cli-output.txt');
  const cli = execa(
    'node',
    ['cli/main.ts', 'chroot', template, '--image', image, '--state-dir', host.stateDir, '--mount-root', host.mountRoot],
    { cwd: join(import.meta.dirname, '../../..'), reject: false, preferLocal: true, stdout: { file: output }, stderr: { file: output } },
  );
  const state = { exited: false };
  void cli.then(() => (state.exited = true));
  for (let waited = 0; !(await readFile(output, 'utf8').catch(() => '')).includes('provisioning-started'); waited += 50) {
    if (waited > 60_000 || state.exited) expect.fail(`the build never started provisioning: ${await readFile(output, 'utf8')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { cli, output };
}

describeIfRoot('chroot build failure paths', () => {
  let host: HostConfig;
  let dir: string;
  let image: string;
  const lines: string[] = [];
  const sink = (line: string): void => void lines.push(line);

  const setUp = async (label: string): Promise<void> => {
    host = await privateHost(label);
    dir = await mkdtemp(join(tmpdir(), `ami-factory-${label}-`));
    image = await makeBusyboxImage(dir);
    lines.length = 0;
  };

  afterEach(async () => {
    // Whatever a failed assertion left, the next test must start from a clean host.
    await recoverHost(host);
  });

  it('a provisioner that exits 1 fails the build with its name, exit code and log tail', async () => {
    await setUp('exit1');
    const request = await requestFrom(dir, [
      { type: 'shell', inline: ['echo first step ok'] },
      { type: 'shell', inline: ['echo about to fail', 'exit 1'] },
    ]);
    const build = runChrootBuild({ request, host, sink, source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/provisioners\[1\] \(shell\) exited with code 1 running inline/);
    await expect(build).rejects.toThrow(/about to fail/);
    await expectHostClean(host, [image]);
  });

  it('processes a provisioner leaves running end with its sandbox, and the build succeeds', async () => {
    await setUp('background-sandboxed');
    const request = await requestFrom(dir, [
      { type: 'shell', inline: ['sleep 1001 &', 'echo started a sleeper'] },
      { type: 'shell', inline: ['pgrep -x sleep || echo no sleeper in the next provisioner'] },
    ]);
    await runChrootBuild({ request, host, sink, source: { kind: 'image', imagePath: image } });
    // Its PID namespace died with the provisioner: nothing to find afterwards, in or out.
    expect(lines.join('\n')).toContain('no sleeper in the next provisioner');
    expect((await execa('pgrep', ['-fx', 'sleep 1001'], { reject: false })).stdout).toBe('');
    await expectHostClean(host, [image]);
  });

  it('without the sandbox, processes a provisioner leaves running are ended, named in the log', async () => {
    await setUp('background');
    const request = await requestFrom(dir, [
      // The pause lets the forked child exec sleep before the script ends, so the log names it
      // sleep and not the script's own name (a race on a busy machine otherwise).
      { type: 'shell', inline: ['sleep 1000 &', 'sleep 1', 'echo started a sleeper'] },
      { type: 'shell', inline: ['echo next provisioner runs'] },
    ]);
    const started = Date.now();
    await runChrootBuild({ request, host: { ...host, sandbox: { enabled: false } }, sink, source: { kind: 'image', imagePath: image } });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(lines.join('\n')).toMatch(/ended processes it left running: pid \d+ \(sleep/);
    expect(lines.join('\n')).toContain('next provisioner runs');
    await expectHostClean(host, [image]);
  });

  it('a host process holding the mount is an error naming it, never a lazy unmount', async () => {
    await setUp('busy');
    // Without the sandbox (`ami-factory chroot --no-sandbox --allow-host-commands`),
    // post_mount_commands run on the host: this sleeper is outside the chroot, so it is not
    // the engine's to kill, and it keeps the mount busy through its working directory.
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['true'] }], {
      post_mount_commands: ['cd {{.MountPath}}/tmp && (sleep 300 > /dev/null 2>&1 &)'],
    });
    const unsandboxed = { ...host, sandbox: { enabled: false } };
    const build = runChrootBuild({ request, host: unsandboxed, grants: { hostCommands: true }, sink, source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/cannot unmount .*held by pid \d+ \(sleep, cwd /);
    // Left for the operator (or the next run) to see: still mounted, still journaled.
    const left = await leftovers(host, [image]);
    expect(left.mounts.length).toBeGreaterThan(0);
    expect(left.journals).toHaveLength(1);
    await execa('pkill', ['-f', '^sleep 300$'], { reject: false });
    // The journal's owner is this (live) process, so only an explicit retry may undo it.
    await execa('sh', ['-c', 'sleep 0.2']);
    const { UndoJournal } = await import('../../../worker/chroot/journal.ts');
    const { unwind } = await import('../../../worker/chroot/undo.ts');
    for (const found of await UndoJournal.listAll(join(host.stateDir, 'runs'))) {
      if (found.journal) expect(await unwind(found.journal)).toEqual([]);
    }
    await expectHostClean(host, [image]);
  });

  it('a bad mount option fails the mount with the option named, host clean', async () => {
    await setUp('mountopt');
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['true'] }], {
      mount_options: ['no-such-option-here'],
    });
    const build = runChrootBuild({ request, host, sink, source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/mounting \/dev\/loop\d+p1 at .* failed \(mount_options: \["no-such-option-here"\]\)/);
    await expectHostClean(host, [image]);
  });

  it('a missing partition is a clear error, host clean', async () => {
    await setUp('nopart');
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['true'] }], { mount_partition: '2' });
    const build = runChrootBuild({ request, host, sink, source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/partition 2 of \/dev\/loop\d+ does not exist/);
    await expectHostClean(host, [image]);
  });

  it('SIGTERM cancels a build mid-provision: the command is killed, the host cleaned', async () => {
    await setUp('sigterm');
    const template = join(dir, 'cancelled.json');
    await requestFrom(dir, [{ type: 'shell', inline: ['echo provisioning-started', 'sleep 1000'] }], {}, 'cancelled.json');
    const { cli, output } = await startCliBuild(template, image, host, dir);
    cli.kill('SIGTERM');
    const result = await cli;
    expect(result.exitCode).toBe(1);
    expect(await readFile(output, 'utf8')).toMatch(/Build failed: .*cancelled by SIGTERM/);
    await expectHostClean(host, [image]);
  });

  it('a run killed with SIGKILL mid-provision is cleaned up by the next run, image restored', async () => {
    await setUp('sigkill');
    const template = join(dir, 'killed.json');
    await requestFrom(dir, [{ type: 'shell', inline: ['echo provisioning-started', 'sleep 1002'] }], {}, 'killed.json');
    const { cli } = await startCliBuild(template, image, host, dir);
    cli.kill('SIGKILL');
    await cli;

    const left = await leftovers(host, [image]);
    // The sandbox dies with the process that started it (bwrap --die-with-parent)...
    await expect.poll(async () => (await execa('pgrep', ['-fx', 'sleep 1002'], { reject: false })).stdout).toBe('');
    expect(await processesInChroot(host.mountRoot)).toEqual([]);
    // ...but its mount, loop device, cgroup and network wait for the next run.
    expect(left.mounts).toHaveLength(1);
    expect(left.loopDevices).toHaveLength(1);
    expect(left.journals).toHaveLength(1);
    expect(left.sandbox).toEqual(expect.arrayContaining([expect.stringMatching(/^cgroup /), expect.stringMatching(/^netns /), expect.stringMatching(/^nftables table /)]));

    // The next build on this host cleans up first, then builds.
    const killedBuildId = left.journals[0]?.replace(/\.json$/, '') ?? '';
    const nextImage = await makeBusyboxImage(await mkdtemp(join(tmpdir(), 'ami-factory-next-')));
    const next = await requestFrom(dir, [{ type: 'shell', inline: ['echo next build'] }], {}, 'next.json');
    await runChrootBuild({ request: next, host, sink, source: { kind: 'image', imagePath: nextImage } });
    expect(lines.join('\n')).toContain(`undoing what build ${killedBuildId}`);
    await expectHostClean(host, [image, nextImage]);

    // The image is as it was: resolv.conf is the image's own symlink again, no policy-rc.d.
    await withImageMounted(image, async (root) => {
      const { readlink, access } = await import('node:fs/promises');
      expect(await readlink(join(root, 'etc/resolv.conf'))).toBe('../run/resolvconf/resolv.conf');
      await expect(access(join(root, 'usr/sbin/policy-rc.d'))).rejects.toThrow();
    });
    expect(await readFile(join(host.stateDir, 'logs', `${killedBuildId}.log`), 'utf8')).toContain(
      'provisioning-started',
    );
  });
});
