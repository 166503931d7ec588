/**
 * Builds that end badly: a provisioner that fails makes the execution fail with the
 * engine's error name, and an execution stopped mid-build makes its heartbeat fail, which
 * aborts the build. Either way the log reaches S3 and the host is left clean.
 */
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectHostClean } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { makeTestWorker, readLog, startBuild, startTestFactory, until, volumeFiles, waitForExecution, type TestFactory } from './factory.ts';

describeIfRoot('worker daemon: failing and cancelled builds', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('fail');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('a provisioner failure fails the execution with the error name; the host is clean', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1a');
    await host.worker.start();
    const build = await startBuild(factory, 'fail-1', [{ type: 'shell', inline: ['echo about to fail', 'exit 7'] }]);
    const result = await waitForExecution(factory, build.executionArn);
    await until(() => host.events.some((e) => e.name === 'released'), 30_000, 'the release');
    await host.worker.stop();

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ProvisionerError');
    expect(await readLog(factory, build.logKey)).toContain('about to fail');
    const volumes = host.events.filter((e) => e.name === 'build_started');
    expect(volumes).toHaveLength(1);
    await expectHostClean(host.host, await volumeFiles(factory));
  });

  it('a build whose execution is stopped is aborted: its heartbeat is refused, or the clean-up function releases it', async () => {
    const host = await makeTestWorker(factory, 'b', 'us-east-1b', { claimTtlSeconds: 2 });
    const finished: { error: string | undefined }[] = [];
    host.worker.on('build_finished', (event) => finished.push({ error: event.failure?.error }));
    await host.worker.start();
    const build = await startBuild(factory, 'fail-2', [{ type: 'shell', inline: ['sleep 60'] }]);
    await until(() => host.events.some((e) => e.name === 'build_started'), 30_000, 'the build to start');
    await factory.clients.sfn.send(new StopExecutionCommand({ executionArn: build.executionArn }));
    await until(() => finished.length === 1, 20_000, 'the build to be aborted');
    // Whichever comes first ends the claim: the clean-up function's release (run on the
    // execution's end, as EventBridge would), or the claim's expiry.
    await until(() => host.worker.status.claimedBuilds.length === 0, 10_000, 'the idle claim to expire');
    await host.worker.stop();

    expect(finished).toEqual([{ error: 'BuildAborted' }]);
    expect(await readLog(factory, build.logKey)).toMatch(/no longer waits|was released while it ran/);
    await expectHostClean(host.host, await volumeFiles(factory));
  });
});
