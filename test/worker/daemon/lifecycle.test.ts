/**
 * Leaving the Auto Scaling group (worker/daemon/lifecycle.ts): a metadata server on loopback
 * stands for IMDSv2 and its target lifecycle state; the AutoScaling client is a fake, since
 * the local AWS (moto) has no CompleteLifecycleAction.
 */
import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import {
  drainWhenTerminating,
  waitForTermination,
  type AutoScalingMembership,
  type AutoScalingSender,
  type Drainable,
} from '../../../worker/daemon/lifecycle.ts';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** IMDSv2 with a target lifecycle state the test changes; undefined serves 404 (no group). */
async function metadataServer(initial: string | undefined): Promise<{ endpoint: string; setState(state: string | undefined): void; reads: () => number }> {
  let state = initial;
  let reads = 0;
  const token = 'token-1';
  server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.writeHead(200).end(token);
      return;
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) {
      res.writeHead(401).end();
      return;
    }
    if (req.url === '/latest/meta-data/autoscaling/target-lifecycle-state') {
      reads++;
      res.writeHead(state === undefined ? 404 : 200).end(state ?? '');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    setState: (next) => {
      state = next;
    },
    reads: () => reads,
  };
}

const MEMBERSHIP: AutoScalingMembership = { groupName: 'ami-factory-ci-workers', lifecycleHookName: 'ami-factory-ci-drain', pollSeconds: 1 };
const log = pino({ level: 'silent' });

/** A worker that records what the drain asks of it, in order. */
function fakeWorker(options: { idleAfterMs?: number } = {}): Drainable & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    identity: { instanceId: 'i-0abc123def4567890', availabilityZone: 'us-east-1a' },
    stopClaiming: () => {
      calls.push('stopClaiming');
      return Promise.resolve();
    },
    waitUntilIdle: async (timeoutMs) => {
      calls.push(`waitUntilIdle(${String(timeoutMs)})`);
      await new Promise((resolve) => setTimeout(resolve, options.idleAfterMs ?? 0));
      return true;
    },
    stop: (stopOptions) => {
      calls.push(`stop(${stopOptions?.drainTimeoutMs === undefined ? '' : 'deadline'})`);
      return Promise.resolve();
    },
  };
}

function fakeAutoScaling(failures = 0): AutoScalingSender & { inputs: unknown[]; calls: string[] } {
  const inputs: unknown[] = [];
  const calls: string[] = [];
  let left = failures;
  const send = (command: unknown): Promise<unknown> => {
    if (!(command instanceof CompleteLifecycleActionCommand)) return Promise.reject(new Error('unexpected command'));
    inputs.push(command.input);
    calls.push('CompleteLifecycleAction');
    if (left-- > 0) return Promise.reject(new Error('Rate exceeded'));
    return Promise.resolve({});
  };
  return { inputs, calls, send: send as AutoScalingSender['send'] };
}

it('polls the target lifecycle state until it is Terminated, through 404s (not in a group yet)', async () => {
  const imds = await metadataServer(undefined);
  setTimeout(() => {
    imds.setState('InService');
  }, 150);
  setTimeout(() => {
    imds.setState('Terminated');
  }, 400);
  const started = Date.now();
  expect(await waitForTermination({ imds: { endpoint: imds.endpoint }, pollMs: 50, signal: new AbortController().signal })).toBe(true);
  expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  expect(imds.reads()).toBeGreaterThan(3);
});

it('stops polling when its signal aborts (SIGTERM took over)', async () => {
  const imds = await metadataServer('InService');
  const watch = new AbortController();
  setTimeout(() => {
    watch.abort();
  }, 200);
  expect(await waitForTermination({ imds: { endpoint: imds.endpoint }, pollMs: 50, signal: watch.signal })).toBe(false);
});

it('drains in order: no more claims, claimed builds released, stop, then CONTINUE for this instance and hook', async () => {
  const imds = await metadataServer('Terminated');
  const worker = fakeWorker({ idleAfterMs: 100 });
  const autoscaling = fakeAutoScaling();
  const send = autoscaling.send.bind(autoscaling);
  autoscaling.send = ((command: never) => {
    worker.calls.push('CompleteLifecycleAction');
    return send(command);
  }) as AutoScalingSender['send'];
  const done = await drainWhenTerminating({
    worker,
    membership: MEMBERSHIP,
    autoscaling,
    imds: { endpoint: imds.endpoint },
    log,
    signal: new AbortController().signal,
    drainTimeoutMs: 60_000,
  });
  expect(done).toBe(true);
  expect(worker.calls).toEqual(['stopClaiming', 'waitUntilIdle(60000)', 'stop(deadline)', 'CompleteLifecycleAction']);
  expect(autoscaling.inputs).toEqual([
    {
      AutoScalingGroupName: 'ami-factory-ci-workers',
      LifecycleHookName: 'ami-factory-ci-drain',
      InstanceId: 'i-0abc123def4567890',
      LifecycleActionResult: 'CONTINUE',
    },
  ]);
});

it('retries CompleteLifecycleAction, and a call that keeps failing leaves the hook to its timeout', async () => {
  const imds = await metadataServer('Terminated');
  const flaky = fakeAutoScaling(1);
  const drain = (autoscaling: AutoScalingSender, worker: Drainable): Promise<boolean> =>
    drainWhenTerminating({ worker, membership: MEMBERSHIP, autoscaling, imds: { endpoint: imds.endpoint }, log, signal: new AbortController().signal, drainTimeoutMs: 1_000 });
  expect(await drain(flaky, fakeWorker())).toBe(true);
  expect(flaky.calls).toEqual(['CompleteLifecycleAction', 'CompleteLifecycleAction']);

  const broken = fakeAutoScaling(99);
  const worker = fakeWorker();
  expect(await drain(broken, worker)).toBe(true);
  expect(broken.calls).toHaveLength(3);
  expect(worker.calls.at(-1)).toBe('stop(deadline)');
}, 20_000);
