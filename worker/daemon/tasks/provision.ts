/**
 * `provision`: run the chroot engine on the build's volume, now attached to this host.
 *
 * The task is first checked against the build's ledger record, and accepted by writing
 * "running" there; only then is the message acknowledged and the build started in the
 * background. So a duplicate, a late task, or the same task after a restart never
 * provisions the volume again: it is answered from the record instead (the same answer for
 * a finished build, a failure for an interrupted or released one).
 *
 * While the build runs, heartbeats keep the task alive. When Step Functions refuses one,
 * nobody waits for the build any more and it is aborted; the engine then kills what runs
 * and undoes the build's changes. Whatever the outcome, the build log goes to S3 at the
 * task's `logKey` before the answer, so the answer can point at it.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoredBuildSchema, type BuildGrants } from '../../../contract/bundle.ts';
import { loadBundle } from '../../../model/bundle.ts';
import type { BuildRequest } from '../../../model/types.ts';
import type { VolumeSource } from '../../chroot/build-context.ts';
import { BuildLog } from '../../chroot/build-log.ts';
import { runChrootBuild } from '../../chroot/engine.ts';
import { buildLogPath } from '../../chroot/host-config.ts';
import type { WorkerContext } from '../context.ts';
import { bundleWithSecrets } from '../build-secrets.ts';
import { startHeartbeat } from '../heartbeat.ts';
import type { ProvisionAnswer, ProvisionTask } from '../../../contract/worker-tasks.ts';
import { BuildAbortedError } from '../running-builds.ts';
import type { BuildRecord } from '../task-ledger.ts';
import { failureOf, sendFailure, sendSuccess, type TaskFailure } from '../../../contract/task-token.ts';

type Decision =
  | { kind: 'start' }
  | { kind: 'running-here' }
  | { kind: 'answer'; answer: { ok: true; output: ProvisionAnswer } | { ok: false; failure: TaskFailure }; detail: string };

export async function handleProvision(context: WorkerContext, task: ProvisionTask): Promise<void> {
  const { buildId } = task;
  const decision = await context.ledger.update<Decision>(buildId, (current) => decide(context, task, current));
  switch (decision.kind) {
    case 'start':
      context.builds.start(buildId, (controller) => runProvision(context, task, controller));
      return;
    case 'running-here':
      context.events.emit('task_repeated', { buildId, task: 'provision', detail: 'the build is running already' });
      return;
    case 'answer': {
      context.log.info({ buildId, detail: decision.detail }, 'provision task answered from the ledger');
      context.events.emit('task_repeated', { buildId, task: 'provision', detail: decision.detail });
      const { answer } = decision;
      // Answered again for a task that may still wait (its first answer was lost); a task
      // that is over refuses it, which is fine.
      if (answer.ok) await sendSuccess(context.clients.sfn, task.taskToken, answer.output);
      else await sendFailure(context.clients.sfn, task.taskToken, answer.failure);
    }
  }
}

function decide(
  context: WorkerContext,
  task: ProvisionTask,
  current: BuildRecord | undefined,
): { next?: Omit<BuildRecord, 'updatedAt'>; result: Decision } {
  const refuse = (error: string, cause: string, detail: string): { result: Decision } => ({
    result: { kind: 'answer', answer: { ok: false, failure: { error, cause } }, detail },
  });
  const host = context.identity.instanceId;
  if (current?.releasedAt !== undefined) {
    return refuse('BuildReleased', `build ${task.buildId} was already released by ${host}`, 'the build was released already');
  }
  if (current?.claim === undefined) {
    return refuse('BuildNotClaimed', `build ${task.buildId} holds no claim on ${host}`, 'no claim for the build here');
  }
  const provision = current.provision;
  if (provision?.state === 'running' && provision.runId === context.runId) return { result: { kind: 'running-here' } };
  if (provision?.state === 'running') {
    // Only a daemon restart leaves this, and start-up settles those before taking tasks.
    const failure = interrupted(task.buildId);
    return {
      next: { ...current, provision: { state: 'failed', taskToken: provision.taskToken, failure, finishedAt: new Date().toISOString() } },
      result: { kind: 'answer', answer: { ok: false, failure }, detail: 'the build was interrupted by a restart' },
    };
  }
  if (provision?.state === 'succeeded') {
    return { result: { kind: 'answer', answer: { ok: true, output: provision.answer }, detail: 'the build succeeded already' } };
  }
  if (provision?.state === 'failed') {
    return { result: { kind: 'answer', answer: { ok: false, failure: provision.failure }, detail: 'the build failed already' } };
  }
  if (current.claim.deviceName !== task.deviceName) {
    return refuse(
      'DeviceMismatch',
      `build ${task.buildId} claimed ${current.claim.deviceName} on ${host}, the task names ${task.deviceName}`,
      'the task names another device',
    );
  }
  return {
    next: { ...current, provision: { state: 'running', taskToken: task.taskToken, runId: context.runId, startedAt: new Date().toISOString() } },
    result: { kind: 'start' },
  };
}

export function interrupted(buildId: string): TaskFailure {
  return {
    error: 'BuildInterrupted',
    cause: `the worker stopped while build ${buildId} ran; its changes on the host were undone`,
  };
}

async function runProvision(context: WorkerContext, task: ProvisionTask, controller: AbortController): Promise<void> {
  const { buildId, taskToken } = task;
  const log = context.log.child({ buildId });
  const sink = (line: string): void => {
    log.debug(line);
  };
  context.events.emit('build_started', { buildId, deviceName: task.deviceName, volumeId: task.volumeId });
  log.info({ volumeId: task.volumeId, deviceName: task.deviceName }, 'provisioning');

  const heartbeat = startHeartbeat({
    sfn: context.clients.sfn,
    taskToken,
    intervalSeconds: context.config.heartbeatSeconds,
    onTaskGone: () => {
      log.warn('Step Functions refused a heartbeat: the task is over, aborting the build');
      controller.abort(new BuildAbortedError(`the workflow no longer waits for build ${buildId} (its task timed out or was stopped)`));
    },
    onError: (err) => {
      log.warn({ err }, 'heartbeat failed; retrying at the next beat');
    },
  });
  const logPath = buildLogPath(context.host, buildId);
  const workDir = join(context.host.stateDir, 'work', buildId);
  let outcome: { ok: true; output: ProvisionAnswer } | { ok: false; failure: TaskFailure };
  try {
    const timings: Record<string, number> = {};
    const { request, source, grants } = await prepare(context, task, { logPath, workDir, sink, timings, signal: controller.signal });
    const result = await runChrootBuild({ request, source, grants, host: context.host, buildId, sink, signal: controller.signal });
    outcome = { ok: true, output: { logKey: task.logKey, timings: rounded({ ...timings, ...result.timings }) } };
  } catch (err) {
    outcome = { ok: false, failure: failureOf(err) };
  } finally {
    await heartbeat.stop();
    await rm(workDir, { recursive: true, force: true });
  }

  await uploadLog(context, logPath, task.logKey).catch((err: unknown) => {
    log.error({ err, logKey: task.logKey }, 'the build log could not be uploaded; it stays on the host');
  });
  const finishedAt = new Date().toISOString();
  await context.ledger.update(buildId, (current) => ({
    next:
      current === undefined
        ? undefined
        : {
            ...current,
            provision: outcome.ok
              ? { state: 'succeeded', taskToken, answer: outcome.output, finishedAt }
              : { state: 'failed', taskToken, failure: outcome.failure, finishedAt },
          },
    result: undefined,
  }));
  try {
    const delivered = outcome.ok
      ? await sendSuccess(context.clients.sfn, taskToken, outcome.output)
      : await sendFailure(context.clients.sfn, taskToken, outcome.failure);
    if (delivered === 'task-gone') log.warn('the provision task was over before its answer; nobody waits for it');
  } catch (err) {
    // The outcome is in the ledger: a redelivered task gets it; otherwise the heartbeat
    // timeout tells the workflow.
    log.error({ err }, 'the provision answer could not be sent');
  }
  if (outcome.ok) log.info({ timings: outcome.output.timings }, 'build succeeded');
  else log.warn({ failure: outcome.failure }, 'build failed');
  context.events.emit('build_finished', { buildId, deviceName: task.deviceName, failure: outcome.ok ? undefined : outcome.failure });
}

/** The worker's own steps before the engine's: recorded in the build log, which the engine then continues. */
async function prepare(
  context: WorkerContext,
  task: ProvisionTask,
  options: { logPath: string; workDir: string; sink: (line: string) => void; timings: Record<string, number>; signal: AbortSignal },
): Promise<{ request: BuildRequest; source: VolumeSource; grants: BuildGrants }> {
  const log = new BuildLog(options.logPath, { sink: options.sink });
  const { instanceId, availabilityZone } = context.identity;
  try {
    log.step('worker', `build ${task.buildId} on ${instanceId} (${availabilityZone}): volume ${task.volumeId} as ${task.deviceName}`);
    const { request, grants } = await timed(options.timings, 'fetch-bundle', () => fetchRequest(context, task.bundleKey, options.workDir, options.signal));
    const source = await timed(options.timings, 'find-volume', () => context.backend.resolveSource(task, options.signal));
    log.step('worker', source.kind === 'device' ? `the volume is ${source.devicePath}` : `the volume is the file ${source.imagePath}`);
    return { request, source, grants };
  } catch (err) {
    log.step('worker', `failed: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`);
    throw err;
  } finally {
    await log.close();
  }
}

/** The build's request, and what the factory grants it (host commands): both from the stored build only. */
async function fetchRequest(
  context: WorkerContext,
  bundleKey: string,
  workDir: string,
  signal: AbortSignal,
): Promise<{ request: BuildRequest; grants: BuildGrants }> {
  const object = await context.clients.s3.send(
    new GetObjectCommand({ Bucket: context.config.artifactsBucket, Key: bundleKey }),
    { abortSignal: signal },
  );
  const text = (await object.Body?.transformToString('utf8')) ?? '';
  const stored = StoredBuildSchema.parse(JSON.parse(text));
  const bundle = await bundleWithSecrets(context.clients.s3, stored, signal);
  return { request: await loadBundle(bundle, workDir), grants: stored.grants };
}

async function uploadLog(context: WorkerContext, logPath: string, logKey: string): Promise<void> {
  const body = await readFile(logPath);
  await context.clients.s3.send(
    new PutObjectCommand({
      Bucket: context.config.artifactsBucket,
      Key: logKey,
      Body: body,
      ContentType: 'text/plain; charset=utf-8',
    }),
  );
  // S3 is where the log is kept; the host's copy would only pile up.
  await rm(logPath, { force: true });
}

async function timed<T>(timings: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  timings[name] = performance.now() - started;
  return result;
}

function rounded(timings: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([step, ms]) => [step, Math.round(ms)]));
}
