/**
 * The chroot engine: the host side of a build, as Packer's amazon-chroot builder runs it.
 * A build is the list of steps below, in order; each records what it changes in the build's
 * journal, and the journal undoes it all, newest first, however the build ends. Every
 * command a template supplies runs in the build's sandbox (worker/sandbox/), and commands
 * on the host side only when the build's grants allow them. The worker
 * daemon (with a device EC2 attached) and `ami-factory chroot` (with a disk image) both
 * call `runChrootBuild`.
 */
import { randomUUID } from 'node:crypto';
import type { BuildRequest } from '../../model/types.ts';
import { BuildLog, type LogSink } from './build-log.ts';
import type { BuildContext, ChrootStep, VolumeSource } from './build-context.ts';
import { buildLogPath, journalDir, type HostConfig } from './host-config.ts';
import { UndoJournal } from './journal.ts';
import { recoverHost } from './recovery.ts';
import { attachImageStep } from './steps/attach-image.ts';
import { blockServicesStep } from './steps/block-services.ts';
import { chrootMountsStep } from './steps/chroot-mounts.ts';
import { copyFilesStep } from './steps/copy-files.ts';
import { postMountCommandsStep, preMountCommandsStep } from './steps/host-commands.ts';
import { mountDeviceStep } from './steps/mount-device.ts';
import { openSandboxStep } from './steps/open-sandbox.ts';
import { provisionStep } from './steps/provision.ts';
import type { BuildGrants } from '../../contract/bundle.ts';
import { assertHostCommandsGranted } from './host-command-grants.ts';
import { unwind, type UnwindFailure } from './undo.ts';

export const CHROOT_STEPS: readonly ChrootStep[] = [
  attachImageStep,
  openSandboxStep,
  preMountCommandsStep,
  mountDeviceStep,
  postMountCommandsStep,
  chrootMountsStep,
  copyFilesStep,
  blockServicesStep,
  provisionStep,
];

export interface ChrootBuildOptions {
  request: BuildRequest;
  source: VolumeSource;
  host: HostConfig;
  buildId?: string;
  /** Where log lines go besides the build's log file (default: stderr). */
  sink?: LogSink;
  /** Cancels the build: the running command is killed and everything is cleaned up. */
  signal?: AbortSignal;
  /** What the factory allows the build (the stored build's grants); by default no host commands. */
  grants?: BuildGrants;
}

export interface ChrootBuildResult {
  buildId: string;
  device: string;
  mountPath: string;
  logPath: string;
  /** Milliseconds per step, clean-up included, for reports and benchmarks. */
  timings: Record<string, number>;
}

/** Clean-up itself failed: what is left is in the journal, for the next recovery. */
export class CleanupError extends Error {
  override name = 'CleanupError';
  readonly failures: readonly UnwindFailure[];
  constructor(failures: readonly UnwindFailure[], cause?: unknown) {
    const before = cause instanceof Error ? `${cause.message}\nand then ` : '';
    super(
      `${before}clean-up left work undone (the next run on this host retries it): ` +
        failures.map((f) => `${f.action}: ${f.error}`).join('; '),
      { cause },
    );
    this.failures = failures;
  }
}

export async function runChrootBuild(options: ChrootBuildOptions): Promise<ChrootBuildResult> {
  const buildId = options.buildId ?? randomUUID();
  const log = new BuildLog(buildLogPath(options.host, buildId), {
    sink: options.sink,
    secrets: options.request.sensitive_values,
  });
  const timings: Record<string, number> = {};
  let failure: Error | undefined;
  let built: BuildContext | undefined;
  const grants = options.grants ?? { hostCommands: false };
  try {
    // Refused before anything on the host changes.
    assertHostCommandsGranted(options.request.builder, grants, options.request.provisioners);
    const recovery = await recoverHost(options.host, log);
    if (recovery.failures.length > 0) throw new CleanupError(recovery.failures);
    const journal = await UndoJournal.create(journalDir(options.host), buildId);
    const signal = options.signal ?? new AbortController().signal;
    built = { buildId, request: options.request, host: options.host, source: options.source, journal, log, signal, grants };
    for (const step of CHROOT_STEPS) {
      signal.throwIfAborted();
      const started = performance.now();
      await step.run(built);
      timings[step.name] = performance.now() - started;
    }
  } catch (error) {
    failure = error instanceof Error ? error : new Error(String(error));
    log.step('build', `failed: ${failure.message.split('\n')[0] ?? ''}`);
  }
  if (built) {
    const started = performance.now();
    const failures = await unwind(built.journal, (action) => {
      log.step('cleanup', action);
    });
    timings.cleanup = performance.now() - started;
    if (failures.length > 0) failure = new CleanupError(failures, failure);
  }
  await log.close();
  if (failure !== undefined) throw failure;
  if (!built?.device || !built.mountPath) throw new Error('internal: the build ended without a device or mount path');
  return { buildId, device: built.device, mountPath: built.mountPath, logPath: log.path, timings };
}
