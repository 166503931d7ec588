/** The task ledger's guarantees and the worker config's validation, without AWS. */
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseWorkerConfig, WorkerConfigError } from '../../../worker/daemon/config.ts';
import { parseTaskMessage } from '../../../worker/daemon/messages.ts';
import { TaskLedger } from '../../../worker/daemon/task-ledger.ts';

it('serialises the updates of one build, so concurrent decisions see each other', async () => {
  const ledger = TaskLedger.forStateDir(await mkdtemp(join(tmpdir(), 'ledger-')));
  // Ten "provision" tasks for one build at once: exactly one may start it.
  const decisions = await Promise.all(
    Array.from({ length: 10 }, () =>
      ledger.update('b-1', (current) =>
        current?.provision === undefined
          ? { next: { buildId: 'b-1', provision: { state: 'running', taskToken: 't', runId: 'r', startedAt: 'now' } }, result: 'start' }
          : { result: 'duplicate' },
      ),
    ),
  );
  expect(decisions.filter((d) => d === 'start')).toHaveLength(1);
  expect((await ledger.get('b-1'))?.provision?.state).toBe('running');
  expect(await readdir(ledger.dir)).toEqual(['b-1.json']);
});

it('forgets only released builds older than the cut-off', async () => {
  const ledger = TaskLedger.forStateDir(await mkdtemp(join(tmpdir(), 'ledger-')));
  await ledger.update('done', () => ({ next: { buildId: 'done', releasedAt: 'x' }, result: undefined }));
  await ledger.update('held', () => ({ next: { buildId: 'held', claim: { deviceName: '/dev/sdf', claimedAt: 'x' } }, result: undefined }));
  expect(await ledger.prune(new Date(Date.now() - 60_000))).toEqual([]);
  expect(await ledger.prune(new Date(Date.now() + 60_000))).toEqual(['done']);
  expect((await ledger.list()).map((r) => r.buildId)).toEqual(['held']);
});

it('refuses build ids that could leave the ledger directory', async () => {
  const ledger = TaskLedger.forStateDir(await mkdtemp(join(tmpdir(), 'ledger-')));
  await expect(ledger.get('../etc/passwd')).rejects.toThrow();
  expect(parseTaskMessage('{"task":"release","buildId":"../x"}')).toMatchObject({ ok: false });
});

it('keeps the token of a task it cannot read, so the task can be failed at once', () => {
  expect(parseTaskMessage('{"task":"provision","taskToken":"tok","buildId":"b"}')).toMatchObject({ ok: false, taskToken: 'tok' });
  expect(parseTaskMessage('not json')).toMatchObject({ ok: false, taskToken: undefined });
});

it('fills defaults and reports every config error with its path', () => {
  const config = parseWorkerConfig({
    region: 'eu-west-1',
    claimsQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/123456789012/factory-claims',
    hostQueuePrefix: 'factory',
    artifactsBucket: 'factory-artifacts',
  });
  expect(config).toMatchObject({
    identity: 'imds',
    volumes: { backend: 'ec2' },
    maxConcurrentBuilds: 2,
    stateDir: '/var/lib/ami-factory',
  });
  expect(() => parseWorkerConfig({ region: 'eu-west-1', maxConcurrentBuilds: 0, identity: { instanceId: 'x' } })).toThrow(WorkerConfigError);
  try {
    parseWorkerConfig({ region: 'eu-west-1', maxConcurrentBuilds: 0, volumes: { backend: 'local' } });
  } catch (err) {
    const message = String(err);
    for (const path of ['claimsQueueUrl', 'hostQueuePrefix', 'artifactsBucket', 'maxConcurrentBuilds', 'volumes.storeDir']) {
      expect(message).toContain(`${path}:`);
    }
  }
});
