/**
 * `ami-factory chroot` and the sandbox: on by default, off only with a loud `--no-sandbox`;
 * host-side commands only with `--allow-host-commands`, and sandboxed even then.
 */
import { execa } from 'execa';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, privateHost } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { baseBuilder } from '../../support/templates.ts';

const repo = join(import.meta.dirname, '../../..');

describeIfRoot('`ami-factory chroot` and the sandbox', () => {
  const chroot = async (builder: Record<string, unknown>, flags: string[]) => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-cli-sandbox-'));
    const host = await privateHost('cli-sandbox');
    const image = await makeBusyboxImage(dir);
    const template = join(dir, 'template.json');
    await writeFile(template, JSON.stringify({
      builders: [{ ...baseBuilder, ...builder }],
      provisioners: [{
        type: 'shell',
        environment_vars: ["GREETING=it's here"],
        inline: ['echo processes visible: $(ls -d /proc/[0-9]* | wc -l)', 'echo "greeting: $GREETING"'],
      }],
    }));
    const result = await execa(
      'node',
      ['cli/main.ts', 'chroot', template, '--image', image, '--state-dir', host.stateDir, '--mount-root', host.mountRoot, ...flags],
      { cwd: repo, preferLocal: true, reject: false },
    );
    await expectHostClean(host, [image]);
    return { exitCode: result.exitCode, stderr: result.stderr, visible: Number(/processes visible: (\d+)/.exec(result.stderr)?.[1]) };
  };

  it('sandboxes by default; --no-sandbox warns on stderr and shows the host', async () => {
    const sandboxed = await chroot({}, []);
    expect(sandboxed.exitCode, sandboxed.stderr).toBe(0);
    expect(sandboxed.stderr).toContain('sandbox: cgroup');
    expect(sandboxed.visible).toBeLessThan(10);
    expect(sandboxed.stderr).toContain("greeting: it's here");
    const open = await chroot({}, ['--no-sandbox']);
    expect(open.exitCode, open.stderr).toBe(0);
    expect(open.stderr).toMatch(/^!!! --no-sandbox: the template's commands run as root on this machine/m);
    expect(open.visible).toBeGreaterThan(sandboxed.visible);
    expect(open.stderr).toContain("greeting: it's here");
  });

  it('refuses host commands without --allow-host-commands, and runs them sandboxed with it', async () => {
    const builder = { pre_mount_commands: ['echo pre-mount sees: $(ls /dev | grep -c loop) loop nodes'] };
    const refused = await chroot(builder, []);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/Build failed: this build may not run commands on the host \(grants\.hostCommands is false\), but its template sets pre_mount_commands/);
    const allowed = await chroot(builder, ['--allow-host-commands']);
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    // Its own device and its one partition, of all the host's loop devices.
    expect(allowed.stderr).toContain('pre-mount sees: 2 loop nodes');
  });
});
