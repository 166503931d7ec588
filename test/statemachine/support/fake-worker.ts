/**
 * A scripted stand-in for a chroot host's worker: it long-polls the claims queue and its own
 * host queue in the local AWS and answers the workflow's tasks the way the real worker does
 * (docs/architecture.md, "Worker tasks"), or fails them, or goes silent, as each build's
 * script says. It records every task it receives so tests can check what the workflow sent.
 */
import { DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { DeleteMessageCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForAttachment } from '../../../worker/devices/attachment-wait.ts';
import { WorkerTaskSchema, type ClaimAnswer, type ProvisionAnswer, type TaskFailure } from '../../../contract/worker-tasks.ts';

/** What the host does with a build's claim: answer (optionally altered), fail it, or never answer. */
export type ClaimScript = { answer: Partial<ClaimAnswer> } | { fail: TaskFailure } | 'silent';
/** What the host does with a build's provision task. */
export type ProvisionScript = 'succeed' | { fail: TaskFailure } | 'silent';

export interface BuildScript {
  claim?: ClaimScript;
  provision?: ProvisionScript;
}

export interface ReceivedTask {
  queue: 'claims' | 'host';
  body: Record<string, unknown>;
}

/** The volume as EC2 showed it when the provision task arrived. */
export interface ObservedAttachment {
  volumeId: string;
  instanceId: string | undefined;
  device: string | undefined;
  state: string | undefined;
}

export interface FakeWorkerOptions {
  clients: { ec2: EC2Client; sfn: SFNClient; sqs: SQSClient };
  claimsQueueUrl: string;
  host: ClaimAnswer;
  /**
   * How long the host takes before answering a task. LocalStack can lose an answer or a
   * heartbeat sent within milliseconds of the task's message; a real host takes longer anyway.
   */
  answerDelayMs?: number;
  /**
   * The device names this host leases, one per build from its claim to its release, as the
   * real worker does; it takes no claim while all are leased. Without it, every build gets
   * the host's own deviceName and claims are taken without limit.
   */
  devices?: string[];
}

export class FakeWorker {
  readonly received: ReceivedTask[] = [];
  readonly attachments = new Map<string, ObservedAttachment>();
  /** Errors from answering (a task that already timed out, say): kept for failing tests' messages. */
  readonly answerErrors: string[] = [];
  readonly #options: FakeWorkerOptions;
  readonly #scripts = new Map<string, BuildScript>();
  #running = false;
  #loops: Promise<void>[] = [];
  readonly #answers = new Set<Promise<void>>();
  /** Leased device names, by build. */
  readonly #leases = new Map<string, string>();

  constructor(options: FakeWorkerOptions) {
    this.#options = options;
  }

  get host(): ClaimAnswer {
    return this.#options.host;
  }

  /** Sets how this host treats one build; builds without a script succeed. */
  script(buildId: string, script: BuildScript): void {
    this.#scripts.set(buildId, script);
  }

  start(): void {
    this.#running = true;
    this.#loops = [this.#poll('claims', this.#options.claimsQueueUrl), this.#poll('host', this.#options.host.hostQueueUrl)];
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    await Promise.all(this.#answers);
  }

  #freeDevices(): number {
    return (this.#options.devices?.length ?? 0) - this.#leases.size;
  }

  #freeDevice(): string | undefined {
    const leased = new Set(this.#leases.values());
    return this.#options.devices?.find((device) => !leased.has(device));
  }

  tasksFor(buildId: string, task?: string): Record<string, unknown>[] {
    return this.received
      .filter(({ body }) => body.buildId === buildId && (task === undefined || body.task === task))
      .map(({ body }) => body);
  }

  /** Release is a plain message the workflow does not wait for: it may arrive after the execution ends. */
  async waitForRelease(buildId: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const release = this.tasksFor(buildId, 'release')[0];
      if (release !== undefined) return release;
      if (Date.now() > deadline) throw new Error(`no release task for ${buildId} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async #poll(queue: ReceivedTask['queue'], queueUrl: string): Promise<void> {
    const { sqs } = this.#options.clients;
    while (this.#running) {
      if (queue === 'claims' && this.#options.devices !== undefined && this.#freeDevice() === undefined) {
        await sleep(50);
        continue;
      }
      let messages: Message[];
      try {
        // Short long-polls, so stop() returns within a second.
        ({ Messages: messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1, MaxNumberOfMessages: queue === 'claims' && this.#options.devices !== undefined ? Math.min(10, this.#freeDevices()) : 10 }),
        ));
      } catch (error) {
        this.answerErrors.push(`receive from ${queue} queue: ${String(error)}`);
        await sleep(100);
        continue;
      }
      for (const message of messages) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
        const body = JSON.parse(message.Body ?? '{}') as Record<string, unknown>;
        this.received.push({ queue, body });
        // Tasks are answered side by side, as the real worker runs its builds.
        const answer = this.#answer(body).catch((error: unknown) => {
          this.answerErrors.push(`${String(body.task)} ${String(body.buildId)}: ${String(error)}`);
        });
        this.#answers.add(answer);
        void answer.finally(() => this.#answers.delete(answer));
      }
    }
  }

  /** Reads the task as the real worker does: a message the contract does not allow is an error, not a guess. */
  async #answer(body: Record<string, unknown>): Promise<void> {
    const task = WorkerTaskSchema.parse(body);
    if (task.task === 'release') {
      this.#leases.delete(task.buildId);
      return;
    }
    const script = this.#scripts.get(task.buildId) ?? {};
    // A claim's device is leased before anything is awaited: the claims poller asks for no
    // more claims than it has free devices, so leases taken in order never run out.
    const claim = task.task === 'claim' ? (script.claim ?? { answer: {} }) : undefined;
    const device = claim !== undefined && claim !== 'silent' && !('fail' in claim) ? this.#freeDevice() : undefined;
    if (device !== undefined) this.#leases.set(task.buildId, device);
    await sleep(this.#options.answerDelayMs ?? 0);
    if (task.task === 'claim') {
      if (claim === undefined || claim === 'silent') return;
      if ('fail' in claim) return this.#fail(task.taskToken, claim.fail);
      return this.#succeed(task.taskToken, { ...this.#options.host, ...(device === undefined ? {} : { deviceName: device }), ...claim.answer } satisfies ClaimAnswer);
    }
    const provision = script.provision ?? 'succeed';
    if (provision === 'succeed') {
      // As the real worker: the workflow does not wait for the attachment, the host does.
      await waitForAttachment({
        ec2: this.#options.clients.ec2,
        volumeId: task.volumeId,
        instanceId: this.#options.host.instanceId,
        deviceName: task.deviceName,
        signal: AbortSignal.timeout(60_000),
      });
    }
    await this.#recordAttachment(task.volumeId);
    if (provision === 'silent') return;
    if (provision !== 'succeed') return this.#fail(task.taskToken, provision.fail);
    const { sfn } = this.#options.clients;
    await sfn.send(new SendTaskHeartbeatCommand({ taskToken: task.taskToken }));
    return this.#succeed(task.taskToken, { logKey: task.logKey, timings: { provision: 1 } } satisfies ProvisionAnswer);
  }

  async #recordAttachment(volumeId: string): Promise<void> {
    const { Volumes = [] } = await this.#options.clients.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    const attachment = Volumes[0]?.Attachments?.[0];
    this.attachments.set(volumeId, {
      volumeId,
      instanceId: attachment?.InstanceId,
      device: attachment?.Device,
      state: attachment?.State,
    });
  }

  async #succeed(taskToken: string, output: object): Promise<void> {
    await this.#options.clients.sfn.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
  }

  async #fail(taskToken: string, failure: TaskFailure): Promise<void> {
    await this.#options.clients.sfn.send(new SendTaskFailureCommand({ taskToken, ...failure }));
  }
}
