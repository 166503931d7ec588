/**
 * SQS delivers at least once: the same provision or claim message may come again while the
 * build runs or long after it ended. The worker answers from its ledger, never provisions
 * the volume a second time, and carries on serving.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withImageMounted } from '../../../local/image-mount.ts';
import { describeIfRoot } from '../../support/root.ts';
import { makeTestWorker, startBuild, startTestFactory, until, waitForExecution, type TestFactory, type TestWorker } from './factory.ts';

function bodyOf(host: TestWorker, task: string, buildId: string): string {
  const body = host.received.find((b) => {
    const parsed = JSON.parse(b) as { task?: string; buildId?: string };
    return parsed.task === task && parsed.buildId === buildId;
  });
  if (body === undefined) throw new Error(`the worker received no ${task} message for ${buildId}`);
  return body;
}

const count = (host: TestWorker, name: string, buildId: string): number =>
  host.events.filter((e) => e.name === name && e.buildId === buildId).length;

describeIfRoot('worker daemon: duplicate and late tasks', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('dup');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('a provision message sent again, during and after the build, provisions once', async () => {
    const host = await makeTestWorker(factory, 'a', 'us-east-1a');
    await host.worker.start();
    const hostQueueUrl = host.worker.hostQueueUrl ?? '';
    const build = await startBuild(factory, 'dup-1', [{ type: 'shell', inline: ['echo run >> /etc/runs', 'sleep 2'] }]);
    await until(() => count(host, 'build_started', build.buildId) === 1, 30_000, 'the build to start');

    const provision = bodyOf(host, 'provision', build.buildId);
    await factory.clients.sqs.send(new SendMessageCommand({ QueueUrl: hostQueueUrl, MessageBody: provision }));
    await until(() => count(host, 'task_repeated', build.buildId) === 1, 10_000, 'the duplicate to be seen');
    expect((await waitForExecution(factory, build.executionArn)).status).toBe('SUCCEEDED');
    await until(() => count(host, 'released', build.buildId) === 1, 30_000, 'the release');

    // Late: the build is over and released; the claim comes again too.
    await factory.clients.sqs.send(new SendMessageCommand({ QueueUrl: hostQueueUrl, MessageBody: provision }));
    await factory.clients.sqs.send(new SendMessageCommand({ QueueUrl: factory.claimsQueueUrl, MessageBody: bodyOf(host, 'claim', build.buildId) }));
    await until(() => count(host, 'task_repeated', build.buildId) === 3, 10_000, 'the late messages to be seen');

    // Still serving, and nothing ran twice.
    const next = await startBuild(factory, 'dup-2', [{ type: 'shell', inline: ['echo run >> /etc/runs'] }]);
    const nextResult = await waitForExecution(factory, next.executionArn);
    await host.worker.stop();
    expect(nextResult.status).toBe('SUCCEEDED');
    expect(count(host, 'build_started', build.buildId)).toBe(1);
    expect(count(host, 'claimed', build.buildId)).toBe(1);
    expect(host.events.filter((e) => e.name === 'task_error')).toEqual([]);
    const volumeId = (await waitForExecution(factory, build.executionArn)).output.volume?.volumeId ?? '';
    await withImageMounted(factory.store.volumePath(volumeId), async (root) => {
      expect(await readFile(join(root, 'etc/runs'), 'utf8')).toBe('run\n');
    });
  });

  // On AWS the second host's answer is refused (TaskTimedOut) and it gives the claim back at
  // once; moto accepts a second answer while the execution runs, so here the claim TTL is
  // what frees the second host's slot. Either way the build stays with the first host.
  it('a claim delivered again to another host never routes the build there, and its slot comes back', async () => {
    const first = await makeTestWorker(factory, 'c', 'us-east-1c', { maxConcurrentBuilds: 1 });
    await first.worker.start();
    const build = await startBuild(factory, 'dup-4', [{ type: 'shell', inline: ['sleep 2'] }]);
    await until(() => count(first, 'build_started', build.buildId) === 1, 30_000, 'the build to start');
    // The first host is full now, so only the second one can receive the duplicate.
    const second = await makeTestWorker(factory, 'd', 'us-east-1d', { claimTtlSeconds: 2 });
    await second.worker.start();
    await factory.clients.sqs.send(new SendMessageCommand({ QueueUrl: factory.claimsQueueUrl, MessageBody: bodyOf(first, 'claim', build.buildId) }));
    await until(() => count(second, 'released', build.buildId) === 1, 10_000, 'the second host to give the claim back');
    const result = await waitForExecution(factory, build.executionArn);
    await Promise.all([first.worker.stop(), second.worker.stop()]);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output.claim?.instanceId).toBe(first.instanceId);
    expect(second.worker.status.claimedBuilds).toEqual([]);
    expect(count(second, 'build_started', build.buildId)).toBe(0);
  });

  it('a message that is not a task is dropped without stopping the worker', async () => {
    const host = await makeTestWorker(factory, 'b', 'us-east-1b');
    await host.worker.start();
    await factory.clients.sqs.send(new SendMessageCommand({ QueueUrl: host.worker.hostQueueUrl ?? '', MessageBody: '{"task":"reboot"}' }));
    await until(() => host.events.some((e) => e.name === 'task_error'), 10_000, 'the bad message');
    const build = await startBuild(factory, 'dup-3', [{ type: 'shell', inline: ['true'] }]);
    const result = await waitForExecution(factory, build.executionArn);
    await host.worker.stop();
    expect(result.status).toBe('SUCCEEDED');
  });
});
