/**
 * Scale-in, for real in the local factory: a host's worker, told through its instance
 * metadata stand-in that the Auto Scaling group is terminating it, takes no more claims,
 * lets its claimed build run, be snapshotted and released, and only then completes the
 * lifecycle action. The AutoScaling call is a fake that records when it came (the local AWS
 * has no CompleteLifecycleAction); everything else is the deployed workflow and the worker.
 */
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { drainWhenTerminating, type AutoScalingSender } from '../../../worker/daemon/lifecycle.ts';
import { expectHostClean } from '../../support/host-state.ts';
import { describeIfRoot } from '../../support/root.ts';
import { makeTestWorker, startBuild, startTestFactory, until, volumeFiles, waitForExecution, type TestFactory } from './factory.ts';

const commandModule = join(import.meta.dirname, '..', '..', '..', 'cli', 'commands', 'worker.ts');

/** IMDSv2 on loopback whose target lifecycle state the test sets. */
async function metadataStandIn(): Promise<{ server: Server; endpoint: string; setState(state: string): void }> {
  let state = 'InService';
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.writeHead(200).end('token');
      return;
    }
    const ok = req.headers['x-aws-ec2-metadata-token'] === 'token' && req.url === '/latest/meta-data/autoscaling/target-lifecycle-state';
    res.writeHead(ok ? 200 : 404).end(ok ? state : '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    server,
    endpoint: `http://127.0.0.1:${address.port}`,
    setState: (next) => {
      state = next;
    },
  };
}

describeIfRoot('worker daemon: leaving the Auto Scaling group', () => {
  let factory: TestFactory;
  let imds: Awaited<ReturnType<typeof metadataStandIn>>;
  beforeAll(async () => {
    factory = await startTestFactory('scale-in');
    imds = await metadataStandIn();
  });
  afterAll(async () => {
    imds.server.closeAllConnections();
    imds.server.close();
    await factory.stop();
  });

  it('stops claiming, lets its claimed build finish and be released, then completes the lifecycle action', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1a', { maxConcurrentBuilds: 1 });
    await host.worker.start();
    const first = await startBuild(factory, 'scale-in-1', [{ type: 'shell', inline: ['sleep 3', 'echo finished > /etc/finished'] }]);
    await until(() => host.events.some((e) => e.name === 'build_started' && e.buildId === first.buildId), 30_000, 'the first build to start');
    // A second build waits for a free slot, which this host will have again but must not use.
    const second = await startBuild(factory, 'scale-in-2', [{ type: 'shell', inline: ['true'] }]);

    const completed: { at: number; input: unknown }[] = [];
    const send = (command: unknown): Promise<unknown> => {
      if (!(command instanceof CompleteLifecycleActionCommand)) return Promise.reject(new Error('unexpected command'));
      completed.push({ at: performance.now(), input: command.input });
      return Promise.resolve({});
    };
    const autoscaling: AutoScalingSender = { send: send as AutoScalingSender['send'] };
    const drained = drainWhenTerminating({
      worker: host.worker,
      membership: { groupName: 'ami-factory-scale-in-workers', lifecycleHookName: 'ami-factory-scale-in-drain', pollSeconds: 1 },
      autoscaling,
      imds: { endpoint: imds.endpoint },
      log: pino({ level: 'silent' }),
      signal: new AbortController().signal,
      drainTimeoutMs: 120_000,
    });
    imds.setState('Terminated');
    expect(await drained).toBe(true);

    const result = await waitForExecution(factory, first.executionArn);
    expect(result.status).toBe('SUCCEEDED');
    const released = host.events.find((e) => e.name === 'released' && e.buildId === first.buildId);
    expect(released, 'the first build was released before the host let go').toBeDefined();
    expect(completed).toEqual([
      {
        at: expect.any(Number) as number,
        input: { AutoScalingGroupName: 'ami-factory-scale-in-workers', LifecycleHookName: 'ami-factory-scale-in-drain', InstanceId: host.instanceId, LifecycleActionResult: 'CONTINUE' },
      },
    ]);
    expect(completed[0]?.at).toBeGreaterThan(released?.at ?? Infinity);
    expect(host.events.filter((e) => e.name === 'claimed').map((e) => e.buildId)).toEqual([first.buildId]);
    expect(host.worker.status).toEqual({ claimedBuilds: [], runningBuilds: [], freeSlots: 1 });

    await factory.clients.sfn.send(new StopExecutionCommand({ executionArn: second.executionArn }));
    await expectHostClean(host.host, await volumeFiles(factory));
  }, 240_000);

  it('`ami-factory worker` with autoScaling set drains when the group terminates it, and exits 0 (no restart)', async () => {
    imds.setState('InService');
    const host = await makeTestWorker(factory, 'b', 'us-east-1b', {
      logLevel: 'info',
      imdsEndpoint: imds.endpoint,
      autoScaling: { groupName: 'ami-factory-scale-in-workers', lifecycleHookName: 'ami-factory-scale-in-drain', pollSeconds: 1 },
    });
    const configPath = join(factory.dir, 'worker-scale-in.json');
    await writeFile(configPath, JSON.stringify(host.config));
    const script = `const { runWorker } = await import(${JSON.stringify(commandModule)}); process.exitCode = await runWorker(process.argv[1]);`;
    const daemon = execa('node', ['--input-type=module', '-e', script, configPath], { reject: false, all: true, forceKillAfterDelay: false });
    let output = '';
    daemon.all.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await until(() => output.includes('worker started'), 30_000, 'the daemon to start');
    imds.setState('Terminated');
    const exited = await daemon;
    expect({ exitCode: exited.exitCode, signal: exited.signal }, output).toEqual({ exitCode: 0, signal: undefined });
    expect(output).toContain('the Auto Scaling group is terminating this host');
    expect(output).toContain('worker stopped');
    // The call goes to the local AWS, whose moto has no CompleteLifecycleAction: the failure
    // is logged, and on EC2 the hook's heartbeat timeout would end the wait.
    expect(output).toContain('CompleteLifecycleAction failed');
  }, 120_000);
});
