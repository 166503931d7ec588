/**
 * The chroot host's daemon: two SQS consumers and the handlers behind them.
 *
 * - The claims queue is shared by every host. This host asks it for a claim only while one
 *   of its build slots is free (the consumer waits for a slot before each receive), one
 *   claim at a time, so its `maxConcurrentBuilds` holds and load spreads by itself.
 * - Its own queue, `<prefix>-host-<instanceId>`, brings the provision and release tasks of
 *   the builds it claimed. Handlers only record and start work, so the queue keeps flowing
 *   while builds run.
 *
 * `stop()` (SIGTERM) stops both consumers, lets running builds finish within the drain
 * timeout (then aborts them, and the engine cleans up), and exits. Tasks still queued wait
 * for the next run of the daemon, which takes up the builds it had claimed from its ledger.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import type { Message } from '@aws-sdk/client-sqs';
import { pino, type Logger } from 'pino';
import { Consumer } from 'sqs-consumer';
import { lockDir, type HostConfig } from '../chroot/host-config.ts';
import { recoverHost } from '../chroot/recovery.ts';
import { canonicalDeviceName } from '../devices/ec2-device-names.ts';
import { lockDevice } from '../devices/device-lock.ts';
import { acquireLock, type HeldLock } from '../devices/owned-lock.ts';
import { BuildSlots } from './build-slots.ts';
import { hostConfigOf, type WorkerConfig } from './config.ts';
import { seccompFilterFor } from '../sandbox/seccomp-filter.ts';
import type { AwsClients, WorkerContext, WorkerEvents } from './context.ts';
import { ensureHostQueue, RETENTION_SECONDS } from './host-queue.ts';
import { readInstanceIdentity, type InstanceIdentity } from './imds.ts';
import type { WorkerTask } from '../../contract/worker-tasks.ts';
import { parseTaskMessage } from './messages.ts';
import { BuildAbortedError, RunningBuilds } from './running-builds.ts';
import { TaskLedger } from './task-ledger.ts';
import { sendFailure } from '../../contract/task-token.ts';
import { handleClaim } from './tasks/claim.ts';
import { expireIdleClaims } from './tasks/expire.ts';
import { handleProvision, interrupted } from './tasks/provision.ts';
import { handleRelease } from './tasks/release.ts';
import type { VolumeBackendFactory } from './volume-backend.ts';

export interface WorkerOptions {
  config: WorkerConfig;
  logger?: Logger;
  /** The host's AWS clients (createAwsClients). */
  clients: AwsClients;
  /** Finds a build's attached volume on this host: ec2VolumeBackend on a chroot host. */
  volumeBackend: VolumeBackendFactory;
}

export interface StopOptions {
  /** Default: the config's drainTimeoutSeconds. */
  drainTimeoutMs?: number;
}

export class WorkerStoppingError extends Error {
  override name = 'WorkerStopping';
}

/** A task that failed goes back to its queue after this long, for this or another host. */
const RETRY_VISIBILITY_SECONDS = 5;

export class Worker extends EventEmitter<WorkerEvents> {
  readonly config: WorkerConfig;
  readonly host: HostConfig;
  readonly #log: Logger;
  readonly #clients: AwsClients;
  readonly #volumeBackend: VolumeBackendFactory;
  readonly #ledger: TaskLedger;
  readonly #slots: BuildSlots;
  readonly #builds = new RunningBuilds();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #stopping = new AbortController();
  /** Aborted by stopClaiming() (and stop()): the claims consumer takes no more. */
  readonly #claiming = new AbortController();
  #context: WorkerContext | undefined;
  #consumers: Consumer[] = [];
  #claimsConsumer: Consumer | undefined;
  #claimsStopped: Promise<void> | undefined;
  #workerLock: HeldLock | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    super();
    this.config = options.config;
    this.host = hostConfigOf(options.config);
    this.#log = options.logger ?? pino({ level: options.config.logLevel });
    this.#clients = options.clients;
    this.#volumeBackend = options.volumeBackend;
    this.#ledger = TaskLedger.forStateDir(this.host.stateDir);
    this.#slots = new BuildSlots(options.config.maxConcurrentBuilds);
  }

  /** Set once started. */
  get identity(): InstanceIdentity | undefined {
    return this.#context?.identity;
  }

  /** Hears how many build slots are in use after each claim, restore and release (scale-in-protection.ts). */
  watchSlots(listener: (used: number) => void): () => void {
    return this.#slots.watch(listener);
  }

  get hostQueueUrl(): string | undefined {
    return this.#context?.hostQueueUrl;
  }

  get status(): { claimedBuilds: string[]; runningBuilds: string[]; freeSlots: number } {
    return {
      claimedBuilds: this.#slots.buildIds(),
      runningBuilds: this.#builds.ids(),
      freeSlots: this.#slots.capacity - this.#slots.used,
    };
  }

  async start(): Promise<void> {
    if (this.#context !== undefined || this.#stopping.signal.aborted) throw new Error('a worker starts once');
    const { config, host } = this;
    const identity =
      config.identity === 'imds' ? await readInstanceIdentity({ endpoint: config.imdsEndpoint }) : config.identity;
    await mkdir(host.stateDir, { recursive: true });
    // One daemon per state directory: the ledger and the device leases assume it.
    this.#workerLock = await acquireLock(lockDir(host), 'worker', { purpose: `ami-factory worker for ${identity.instanceId}` });
    try {
      const recovery = await recoverHost(host, {
        step: (step, message) => {
          this.#log.info({ step }, message);
        },
        warn: (step, message) => {
          this.#log.warn({ step }, message);
        },
      });
      if (recovery.failures.length > 0) this.#log.error({ failures: recovery.failures }, 'left-overs of earlier builds could not all be undone');
      // Once per start, and before claiming work: a host that cannot sandbox takes no build.
      this.#log.info({ filter: await seccompFilterFor(host.stateDir) }, 'sandbox seccomp filter ready');
      const hostQueueUrl = await ensureHostQueue(this.#clients.sqs, config.hostQueuePrefix, identity.instanceId);
      this.#context = {
        config,
        host,
        identity,
        hostQueueUrl,
        runId: randomUUID(),
        clients: this.#clients,
        ledger: this.#ledger,
        slots: this.#slots,
        builds: this.#builds,
        backend: await this.#volumeBackend({ ec2: this.#clients.ec2, instanceId: identity.instanceId, stateDir: host.stateDir }),
        log: this.#log,
        events: this,
      };
      await this.#ledger.prune(new Date(Date.now() - RETENTION_SECONDS * 1000));
      await this.#resume(this.#context);
    } catch (err) {
      await this.#letGo();
      throw err;
    }
    const context = this.#context;
    this.#claimsConsumer = this.#makeClaimsConsumer(context);
    this.#consumers = [this.#claimsConsumer, this.#hostConsumer(context)];
    for (const consumer of this.#consumers) consumer.start();
    this.#expiryTimer = setInterval(() => {
      this.#track(expireIdleClaims(context)).catch((err: unknown) => {
        this.#log.error({ err }, 'checking for idle claims failed');
      });
    }, Math.min(this.config.claimTtlSeconds * 500, 60_000));
    this.#log.info(
      { instanceId: identity.instanceId, availabilityZone: identity.availabilityZone, hostQueueUrl: context.hostQueueUrl },
      'worker started',
    );
    this.emit('started');
  }

  /** Idempotent: later calls wait for the first one. */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopped ??= this.#stop(options.drainTimeoutMs ?? this.config.drainTimeoutSeconds * 1000);
    return this.#stopped;
  }

  /**
   * Takes no more claims, while the builds already claimed go on: their provision and
   * release tasks still arrive on the host queue. The first step of leaving the group
   * (lifecycle.ts), where a claimed build must reach its release before the host goes.
   */
  stopClaiming(): Promise<void> {
    this.#claiming.abort(new WorkerStoppingError('the worker takes no more claims'));
    const claims = this.#claimsConsumer;
    this.#claimsStopped ??= claims === undefined ? Promise.resolve() : stopConsumer(claims);
    return this.#claimsStopped;
  }

  /** True once no build is claimed (every claim released), false after `timeoutMs`. */
  async waitUntilIdle(timeoutMs: number, pollMs = 1_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#slots.used === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    }
  }

  async #stop(drainTimeoutMs: number): Promise<void> {
    this.#stopping.abort(new WorkerStoppingError('the worker is stopping'));
    clearInterval(this.#expiryTimer);
    // Polls in flight are let finish, not aborted: SQS may already have taken a message
    // for a receive whose connection is dropped, and that message would stay invisible to
    // every host for its visibility timeout. Tasks such a poll brings are handed back.
    const claimsStopped = this.stopClaiming();
    await Promise.all([claimsStopped, ...this.#consumers.filter((consumer) => consumer !== this.#claimsConsumer).map(stopConsumer)]);
    await Promise.allSettled(this.#inFlight);
    if (this.#builds.size > 0) this.#log.info({ builds: this.#builds.ids() }, 'waiting for running builds to finish');
    const { aborted } = await this.#builds.drain(
      drainTimeoutMs,
      () => new BuildAbortedError(`the worker was stopped and its drain timeout (${drainTimeoutMs / 1000} s) ran out`),
    );
    if (aborted.length > 0) this.#log.warn({ builds: aborted }, 'aborted builds still running at the end of the drain');
    await this.#letGo();
    this.#log.info('worker stopped');
    this.emit('stopped');
  }

  /** The device leases die with this run; the ledger keeps the claims for the next one. */
  async #letGo(): Promise<void> {
    for (const buildId of this.#slots.buildIds()) await this.#slots.lease(buildId)?.release();
    await this.#workerLock?.release();
  }


  /**
   * Takes up where an earlier run of the daemon stopped: the builds it had claimed keep their
   * device names (their release is still to come), and builds it was provisioning are
   * reported as interrupted: recovery has undone their changes, and provisioning a volume
   * a second time is never safe.
   */
  async #resume(context: WorkerContext): Promise<void> {
    for (const record of await this.#ledger.list()) {
      const { buildId, provision, claim } = record;
      if (provision?.state === 'running' && provision.runId !== context.runId) {
        const failure = interrupted(buildId);
        await this.#ledger.update(buildId, (current) => ({
          next: current && { ...current, provision: { state: 'failed', taskToken: provision.taskToken, failure, finishedAt: new Date().toISOString() } },
          result: undefined,
        }));
        await sendFailure(this.#clients.sfn, provision.taskToken, failure).catch((err: unknown) => {
          this.#log.warn({ err, buildId }, 'could not report an interrupted build');
        });
        this.#log.warn({ buildId }, 'a build was interrupted by the last stop of the worker');
      }
      if (claim !== undefined && record.releasedAt === undefined) {
        const lock = await lockDevice(lockDir(this.host), canonicalDeviceName(claim.deviceName));
        this.#slots.restore(buildId, { deviceName: claim.deviceName, release: () => lock.release() });
        this.#log.info({ buildId, deviceName: claim.deviceName }, 'resumed a claimed build');
      }
    }
  }

  #makeClaimsConsumer(context: WorkerContext): Consumer {
    const consumer = Consumer.create({
      queueUrl: this.config.claimsQueueUrl,
      sqs: this.#clients.sqs,
      // One claim per receive, and only with a slot free: the host never takes more than it can build.
      batchSize: 1,
      waitTimeSeconds: this.config.pollWaitSeconds,
      preReceiveMessageCallback: () => this.#slots.waitForFree(this.#claiming.signal),
      pollingCompleteWaitTimeMs: (this.config.pollWaitSeconds + 10) * 1000,
      terminateVisibilityTimeout: () => this.#retryVisibility(true),
      handleMessage: (message) => this.#handle(message, context, ['claim']),
    });
    this.#watch(consumer, 'claims');
    return consumer;
  }

  #hostConsumer(context: WorkerContext): Consumer {
    const consumer = Consumer.create({
      queueUrl: context.hostQueueUrl,
      sqs: this.#clients.sqs,
      batchSize: 10,
      waitTimeSeconds: this.config.pollWaitSeconds,
      pollingCompleteWaitTimeMs: (this.config.pollWaitSeconds + 10) * 1000,
      terminateVisibilityTimeout: () => this.#retryVisibility(),
      handleMessage: (message) => this.#handle(message, context, ['provision', 'release']),
    });
    this.#watch(consumer, 'host');
    return consumer;
  }

  /**
   * A task handed back while stopping is for another host, or the next run: at once. So is a
   * claim once this host stopped claiming; its own queue's tasks keep their retry delay then.
   */
  #retryVisibility(claims = false): number {
    const handingBack = this.#stopping.signal.aborted || (claims && this.#claiming.signal.aborted);
    return handingBack ? 0 : RETRY_VISIBILITY_SECONDS;
  }

  /** Acknowledges (returns) the message once handled; a throw leaves it to come back. */
  async #handle(message: Message, context: WorkerContext, accepted: WorkerTask['task'][]): Promise<Message> {
    try {
      await this.#track(this.#dispatch(message, context, accepted));
      return message;
    } catch (error) {
      if (!(error instanceof WorkerStoppingError)) this.emit('task_error', { error, body: message.Body });
      throw error;
    }
  }

  /** Work that stop() waits for before it lets go of the leases. */
  async #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #dispatch(message: Message, context: WorkerContext, accepted: WorkerTask['task'][]): Promise<void> {
    const parsed = parseTaskMessage(message.Body);
    if (!parsed.ok || !accepted.includes(parsed.task.task)) {
      const reason = parsed.ok ? `a ${parsed.task.task} task on a queue for ${accepted.join('/')} tasks` : parsed.reason;
      const taskToken = parsed.ok ? ('taskToken' in parsed.task ? parsed.task.taskToken : undefined) : parsed.taskToken;
      // Reading it again will not help: drop it, and fail its task so the workflow need not time out.
      this.#log.error({ reason, body: message.Body?.slice(0, 500) }, 'dropping a message that is not a task for this queue');
      this.emit('task_error', { error: new Error(reason), body: message.Body });
      if (taskToken !== undefined) {
        await sendFailure(this.#clients.sfn, taskToken, { error: 'InvalidTask', cause: reason.slice(0, 250) }).catch(() => undefined);
      }
      return;
    }
    const { task } = parsed;
    // Releases are still handled: they only give back what this host holds.
    if (task.task !== 'release') this.#stopping.signal.throwIfAborted();
    // A claim a poll in flight brought after stopClaiming() goes back for another host.
    if (task.task === 'claim') this.#claiming.signal.throwIfAborted();
    switch (task.task) {
      case 'claim':
        return handleClaim(context, task);
      case 'provision':
        return handleProvision(context, task);
      case 'release':
        return handleRelease(context, task);
    }
  }

  #watch(consumer: Consumer, name: string): void {
    const report = (err: Error): void => {
      // Aborted polls and the slot wait's rejection are how stopping looks from here.
      if (this.#stopping.signal.aborted || (name === 'claims' && this.#claiming.signal.aborted)) return;
      this.#log.error({ err, consumer: name }, 'queue error');
    };
    consumer.on('error', report);
    consumer.on('processing_error', (err) => {
      if (err.cause instanceof WorkerStoppingError) this.#log.info({ consumer: name }, 'stopping: a task was handed back to its queue');
      else this.#log.warn({ err, consumer: name }, 'a task failed and returns to its queue');
    });
  }
}

function stopConsumer(consumer: Consumer): Promise<void> {
  return new Promise((resolve) => {
    consumer.once('stopped', () => {
      resolve();
    });
    consumer.stop();
  });
}
