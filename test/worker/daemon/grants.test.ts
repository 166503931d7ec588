/**
 * The host reads what the factory grants a build from the stored build, and nowhere else:
 * host-side commands fail a build not granted them, before its volume is touched, and run
 * (sandboxed, seeing only the build's own device) in a build that is.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectHostClean } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { makeTestWorker, readLog, startBuild, startTestFactory, until, volumeFiles, waitForExecution, type TestFactory } from './factory.ts';

describeIfRoot('worker daemon: the grants of a stored build', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('grants');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('host commands fail a build without the grant, and run sandboxed in one with it', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1a');
    await host.worker.start();
    const builder = { post_mount_commands: ['echo post-mount sees $(ls /dev | grep -c -E "^(loop|nvme|xvd)") device nodes'] };
    const provisioners = [{ type: 'shell', inline: ['true'] }];
    const refused = await startBuild(factory, 'refused', provisioners, { builder });
    const refusedResult = await waitForExecution(factory, refused.executionArn);
    const granted = await startBuild(factory, 'granted', provisioners, { builder, grants: { hostCommands: true } });
    const grantedResult = await waitForExecution(factory, granted.executionArn);
    await until(() => host.events.filter((e) => e.name === 'released').length === 2, 30_000, 'both releases');
    await host.worker.stop();

    expect(refusedResult.status).toBe('FAILED');
    expect(refusedResult.error).toBe('HostCommandsNotGrantedError');
    expect(await readLog(factory, refused.logKey)).toMatch(/grants\.hostCommands is false.*post_mount_commands/);
    expect(grantedResult.status).toBe('SUCCEEDED');
    // The volume's device and its partition: no other device of the host.
    expect(await readLog(factory, granted.logKey)).toContain('post-mount sees 2 device nodes');
    await expectHostClean(host.host, await volumeFiles(factory));
  });
});
