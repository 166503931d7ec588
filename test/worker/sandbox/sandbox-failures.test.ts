/**
 * The sandbox's own resources on failure paths: a sandbox that cannot be finished, and a build
 * killed while its sandbox runs, leave no cgroup, network namespace, veth or nftables table.
 */
import { execa } from 'execa';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runChrootBuild } from '../../../worker/chroot/engine.ts';
import { UndoJournal } from '../../../worker/chroot/journal.ts';
import { recoverHost } from '../../../worker/chroot/recovery.ts';
import { makeBusyboxImage } from '../../support/base-images.ts';
import { expectHostClean, leftovers, privateHost } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { requestFrom } from '../../support/templates.ts';

describeIfRoot('sandbox resources on failure paths', () => {
  it('a network filter nftables refuses fails the build after the cgroup and namespace exist; all are removed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-sandbox-fail-'));
    // An address nft cannot parse: the namespace and veth are made, the table is not.
    const host = { ...(await privateHost('sandbox-fail')), sandbox: { blockedAddresses: ['10.0.0.0/99'] } };
    const image = await makeBusyboxImage(dir);
    const lines: string[] = [];
    const request = await requestFrom(dir, [{ type: 'shell', inline: ['echo never runs'] }]);
    const build = runChrootBuild({ request, host, sink: (line) => lines.push(line), source: { kind: 'image', imagePath: image } });
    await expect(build).rejects.toThrow(/filtering the sandbox network failed: nft -f - exited/);
    expect(lines.join('\n')).toMatch(/cleanup: end processes in and remove cgroup .*; remove network amif-/);
    expect(lines.join('\n')).not.toContain('never runs');
    await expectHostClean(host, [image]);
  });

  it('a build killed (SIGKILL) while its sandbox runs is undone by recovery: cgroup, namespace, veth, table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ami-factory-sandbox-kill-'));
    const host = await privateHost('sandbox-kill');
    const image = await makeBusyboxImage(dir);
    const template = join(dir, 'template.json');
    await requestFrom(dir, [{ type: 'shell', inline: ['sleep 1003'] }]);
    const cli = execa(
      'node',
      ['cli/main.ts', 'chroot', template, '--image', image, '--state-dir', host.stateDir, '--mount-root', host.mountRoot],
      { cwd: join(import.meta.dirname, '../../..'), reject: false, preferLocal: true, stdout: 'ignore', stderr: 'ignore' },
    );
    // Killed once the sleeper runs in its sandbox.
    await expect.poll(async () => (await execa('pgrep', ['-fx', 'sleep 1003'], { reject: false })).stdout, { timeout: 30_000 }).not.toBe('');
    cli.kill('SIGKILL');
    await cli;
    const left = await leftovers(host, [image]);
    expect(left.sandbox).toEqual(expect.arrayContaining([
      expect.stringMatching(/^cgroup /), expect.stringMatching(/^netns /), expect.stringMatching(/^interface /), expect.stringMatching(/^nftables table /),
    ]));
    const [journal] = await UndoJournal.listAll(join(host.stateDir, 'runs'));
    expect(journal?.journal?.pending.map((action) => action.kind)).toContain('remove-sandbox');
    const report = await recoverHost(host);
    expect(report.failures).toEqual([]);
    await expectHostClean(host, [image]);
    expect((await execa('pgrep', ['-fx', 'sleep 1003'], { reject: false })).stdout).toBe('');
  });
});
