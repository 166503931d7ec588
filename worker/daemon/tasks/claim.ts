/**
 * `claim`: this host takes a build. It leases a device name for the build's volume, holds a
 * build slot until the release, and tells the workflow where to create and attach the volume
 * and where to send the build's next tasks.
 *
 * A claim delivered twice is answered with the lease already held. A claim whose task is
 * gone by the time it is answered (another host answered a duplicate first, or the claim
 * timed out) gives its lease back at once, so that no slot is held for a build that went
 * elsewhere.
 */
import { allocateEc2Device } from '../../devices/ec2-allocator.ts';
import { lockDir } from '../../chroot/host-config.ts';
import { NoFreeSlotError } from '../build-slots.ts';
import type { WorkerContext } from '../context.ts';
import type { ClaimAnswer, ClaimTask } from '../../../contract/worker-tasks.ts';
import { sendFailure, sendSuccess } from '../../../contract/task-token.ts';
import { listInstanceAttachments } from '../volume-backend.ts';

export async function handleClaim(context: WorkerContext, task: ClaimTask): Promise<void> {
  const { buildId } = task;
  const { ledger, slots, identity } = context;
  const held = slots.lease(buildId);
  let deviceName: string;
  if (held !== undefined) {
    deviceName = held.deviceName;
    context.events.emit('task_repeated', { buildId, task: 'claim', detail: `already claimed with ${deviceName}` });
  } else {
    const record = await ledger.get(buildId);
    if (record?.releasedAt !== undefined) {
      context.events.emit('task_repeated', { buildId, task: 'claim', detail: 'the build was released already' });
      await sendFailure(context.clients.sfn, task.taskToken, {
        error: 'BuildReleased',
        cause: `build ${buildId} was already released by ${identity.instanceId}`,
      });
      return;
    }
    // The claims consumer only asks for work with a slot free; this guards a restart race.
    if (!slots.hasFree) throw new NoFreeSlotError(`all ${slots.capacity} build slots of ${identity.instanceId} are taken`);
    const lease = await allocateEc2Device({
      lockDir: lockDir(context.host),
      devRoot: context.backend.devRoot,
      listAttachments: () => listInstanceAttachments(context.clients.ec2, identity.instanceId),
    });
    try {
      await ledger.update(buildId, (current) => ({
        next: { ...current, buildId, claim: { deviceName: lease.deviceName, claimedAt: new Date().toISOString() } },
        result: undefined,
      }));
      slots.take(buildId, lease);
    } catch (err) {
      await lease.release();
      throw err;
    }
    deviceName = lease.deviceName;
    context.log.info({ buildId, deviceName }, 'claimed a build');
    context.events.emit('claimed', { buildId, deviceName });
  }

  const answer: ClaimAnswer = {
    instanceId: identity.instanceId,
    availabilityZone: identity.availabilityZone,
    hostQueueUrl: context.hostQueueUrl,
    deviceName,
  };
  if ((await sendSuccess(context.clients.sfn, task.taskToken, answer)) === 'task-gone' && held === undefined) {
    context.log.info({ buildId, deviceName }, 'the claim was answered elsewhere or timed out: giving its device back');
    await ledger.update(buildId, (current) => ({
      next: current === undefined ? undefined : { ...current, claim: undefined },
      result: undefined,
    }));
    await slots.free(buildId);
    context.events.emit('released', { buildId, deviceName });
  }
}
