/**
 * Waits until EC2 reports a build's volume attached to this host under the device name the
 * host leased. The workflow sends the provisioning task right after AttachVolume: the host
 * that needs the attachment waits for it itself, checking often (it is usually a matter of
 * seconds), rather than the workflow polling every few seconds and paying a transition per poll.
 *
 * A volume attached somewhere else, or under another name, fails at once: a stale or mistaken
 * task must not make this host provision some other build's device.
 */
import { DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';

export class VolumeNotAttachedError extends Error {
  override name = 'VolumeNotAttachedError';
}

export interface AttachmentWait {
  ec2: EC2Client;
  volumeId: string;
  instanceId: string;
  deviceName: string;
  signal: AbortSignal;
  /** How long an attachment may stay `attaching` (AWS: seconds; a minute is generous). */
  timeoutMs?: number;
}

const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 2_000;

export async function waitForAttachment(wait: AttachmentWait): Promise<void> {
  const { ec2, volumeId, instanceId, deviceName, signal } = wait;
  const deadline = Date.now() + (wait.timeoutMs ?? 120_000);
  let pauseMs = FIRST_PAUSE_MS;
  for (;;) {
    // Filtered rather than by id: EC2's larger request bucket, and an empty answer instead of
    // an error while a just-attached volume is not listed yet.
    const answer = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }), { abortSignal: signal });
    const attachments = answer.Volumes?.[0]?.Attachments ?? [];
    const elsewhere = attachments.find((a) => a.InstanceId !== instanceId && a.State !== 'detached');
    if (elsewhere !== undefined) {
      throw new VolumeNotAttachedError(`volume ${volumeId} is attached to ${elsewhere.InstanceId ?? '?'}, not ${instanceId}`);
    }
    const here = attachments.find((a) => a.InstanceId === instanceId);
    if (here !== undefined && here.Device !== deviceName) {
      throw new VolumeNotAttachedError(`volume ${volumeId} is attached as ${here.Device ?? '?'}, not ${deviceName}`);
    }
    if (here?.State === 'attached') return;
    const last = here?.State ?? 'no attachment';
    if (here?.State === 'detaching' || here?.State === 'detached') {
      throw new VolumeNotAttachedError(`volume ${volumeId} is ${here.State} from ${instanceId}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new VolumeNotAttachedError(`volume ${volumeId} is not attached to ${instanceId} (${last}) after ${((wait.timeoutMs ?? 120_000) / 1000).toFixed(1)} s`);
    }
    // The last pause ends at the deadline, for one more check there.
    await sleep(Math.min(pauseMs, left), undefined, { signal });
    pauseMs = Math.min(LONGEST_PAUSE_MS, pauseMs * 2);
  }
}
