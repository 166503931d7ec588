/**
 * Stopping a host: a build that runs when the worker is told to stop (stop(), or SIGTERM to
 * the daemon) finishes and is reported; no new work is taken; the next run of the daemon
 * takes up the build's release where the last one stopped.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectHostClean } from '../../support/host-state.ts';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import {
  attachWorker,
  makeTestWorker,
  startBuild,
  startTestFactory,
  until,
  volumeFiles,
  waitForExecution,
  type TestFactory,
  type TestWorker,
} from './factory.ts';

const commandModule = join(import.meta.dirname, '..', '..', '..', 'cli', 'commands', 'worker.ts');

describeIfRoot('worker daemon: stopping', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('stop');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('stop() lets the running build finish; the next run releases it', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1a');
    await host.worker.start();
    const build = await startBuild(factory, 'stop-1', [{ type: 'shell', inline: ['sleep 2', 'echo finished > /etc/finished'] }]);
    await until(() => host.events.some((e) => e.name === 'build_started'), 30_000, 'the build to start');
    await host.worker.stop();
    expect(host.events.map((e) => e.name)).toContain('build_finished');
    expect(host.worker.status.runningBuilds).toEqual([]);

    const result = await waitForExecution(factory, build.executionArn);
    expect(result.status).toBe('SUCCEEDED');
    await withImageMounted(factory.store.volumePath(result.output.volume?.volumeId ?? ''), async (root) => {
      expect(await readFile(join(root, 'etc/finished'), 'utf8')).toBe('finished\n');
    });

    // The release waited in the host queue; the restarted daemon holds the claim until then.
    const restarted = attachWorker(factory, host.config);
    await restarted.worker.start();
    await until(() => restarted.events.some((e) => e.name === 'released' && e.buildId === build.buildId), 60_000, 'the release');
    expect(restarted.worker.status.claimedBuilds).toEqual([]);
    await restarted.worker.stop();
    await expectHostClean(host.host, await volumeFiles(factory));
  });

  it('SIGTERM to the daemon lets the running build finish, then it exits 0', async () => {
    const host = await makeTestWorker(factory, 'b', 'us-east-1b', { logLevel: 'info' });
    const daemon = await startDaemon(factory, host);
    const build = await startBuild(factory, 'stop-2', [{ type: 'shell', inline: ['sleep 2', 'echo finished > /etc/finished'] }]);
    await daemon.until('"msg":"provisioning"');
    daemon.process.kill('SIGTERM');
    const exited = await daemon.process;
    const output = daemon.output();

    expect({ exitCode: exited.exitCode, signal: exited.signal }, output).toEqual({ exitCode: 0, signal: undefined });
    expect(output, output).toContain('build succeeded');
    const result = await waitForExecution(factory, build.executionArn);
    expect(result.status).toBe('SUCCEEDED');
    await expectHostClean(host.host, await volumeFiles(factory));
  });

  it('a daemon killed mid-build: the next run undoes the build, reports it interrupted and never reruns it', async () => {
    const host = await makeTestWorker(factory, 'c', 'us-east-1c', { logLevel: 'info' });
    const daemon = await startDaemon(factory, host);
    const build = await startBuild(factory, 'stop-3', [{ type: 'shell', inline: ['echo run >> /etc/runs', 'sleep 30'] }]);
    await daemon.until('"msg":"provisioning"');
    await sleep(1_000);
    daemon.process.kill('SIGKILL');
    await daemon.process;

    const restarted = attachWorker(factory, host.config);
    await restarted.worker.start();
    const result = await waitForExecution(factory, build.executionArn);
    await until(() => restarted.events.some((e) => e.name === 'released' && e.buildId === build.buildId), 60_000, 'the release');
    await restarted.worker.stop();

    expect([result.status, result.error]).toEqual(['FAILED', 'BuildInterrupted']);
    expect(restarted.events.filter((e) => e.name === 'build_started')).toEqual([]);
    await expectHostClean(host.host, await volumeFiles(factory));
  });
});

/** `ami-factory worker` in a process of its own, as systemd runs it. */
async function startDaemon(factory: TestFactory, host: TestWorker) {
  const configPath = join(factory.dir, `worker-${host.instanceId}.json`);
  await writeFile(configPath, JSON.stringify(host.config));
  const script = `const { runWorker } = await import(${JSON.stringify(commandModule)}); process.exitCode = await runWorker(process.argv[1]);`;
  const daemon = execa('node', ['--input-type=module', '-e', script, configPath], {
    reject: false,
    all: true,
    // The drain may take longer than execa's default grace before it sends SIGKILL.
    forceKillAfterDelay: false,
  });
  let output = '';
  daemon.all.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const started = {
    process: daemon,
    output: () => output,
    until: (text: string) => until(() => output.includes(text), 30_000, `the daemon to log ${text}`),
  };
  await started.until('worker started');
  return started;
}
