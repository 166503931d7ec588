/**
 * `release`: the workflow is done with this host for the build (after detaching its volume,
 * or cancelling). The ledger marks the build released first, so that nothing arriving late
 * starts it again; a build still running is aborted (a cancelled execution), and the
 * device name and slot are given back once the engine has let go of the device.
 * Releasing twice, or a build this host never held, changes nothing more.
 */
import type { WorkerContext } from '../context.ts';
import type { ReleaseTask } from '../../../contract/worker-tasks.ts';
import { BuildAbortedError } from '../running-builds.ts';

export async function handleRelease(context: WorkerContext, task: ReleaseTask): Promise<void> {
  const { buildId } = task;
  const releasedAt = new Date().toISOString();
  const record = await context.ledger.update(buildId, (current) => ({
    next: current?.releasedAt !== undefined ? undefined : { ...current, buildId, releasedAt },
    result: current,
  }));
  if (context.builds.has(buildId)) {
    context.log.warn({ buildId }, 'released while provisioning: aborting the build');
    context.builds.abort(buildId, new BuildAbortedError(`build ${buildId} was released while it ran (the execution was stopped)`));
    await context.builds.settled(buildId);
  }
  const deviceName = context.slots.lease(buildId)?.deviceName;
  await context.slots.free(buildId);
  if (record?.releasedAt === undefined) {
    context.log.info({ buildId, deviceName }, 'released');
    context.events.emit('released', { buildId, deviceName });
  }
}
