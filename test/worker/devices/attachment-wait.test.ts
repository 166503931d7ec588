/**
 * The worker's wait for its volume's attachment, against moto behind the model of EC2's
 * latencies (local/aws-model): an attachment stays `attaching` for the modelled time, so the
 * wait is seen to wait, and to refuse at once what can never become this host's device.
 */
import { AttachVolumeCommand, CreateVolumeCommand, DescribeVolumesCommand, DetachVolumeCommand, EC2Client, RegisterImageCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAwsModelProfile, parseAwsModelProfile, startModelledAws, type ModelledAws } from '../../../local/aws-model/index.ts';
import { localAwsClientConfig } from '../../../local/moto-server.ts';
import { VolumeNotAttachedError, waitForAttachment } from '../../../worker/devices/attachment-wait.ts';

// The typical profile five times as fast: a volume is creating for 1 s, attaching for 0.6 s,
// detaching for 1 s.
const profile = parseAwsModelProfile({ ...loadAwsModelProfile('typical'), timeScale: 0.2 });
const ATTACHING_MS = 600;
const ZONE = 'us-east-1a';
const DEVICE = '/dev/sdf';

let aws: ModelledAws;
let ec2: EC2Client;
/** This host, and another one. */
let instanceId: string;
let otherInstanceId: string;

async function launch(): Promise<string> {
  const { ImageId } = await ec2.send(new RegisterImageCommand({ Name: `chroot-host-${Math.random().toString(16).slice(2, 8)}`, RootDeviceName: '/dev/xvda' }));
  const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId, MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: ZONE } }));
  const id = Instances?.[0]?.InstanceId;
  if (id === undefined) throw new Error('RunInstances returned no instance');
  return id;
}

/** A volume past `creating`, ready to attach. */
async function availableVolume(): Promise<string> {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: ZONE, Size: 8 }));
  if (VolumeId === undefined) throw new Error('CreateVolume returned no id');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const { Volumes } = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [VolumeId] }] }));
    if (Volumes?.[0]?.State === 'available') return VolumeId;
    await sleep(100);
  }
  throw new Error(`${VolumeId} is still creating`);
}

async function attachmentStates(volumeId: string): Promise<string[]> {
  const { Volumes } = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }));
  return (Volumes?.[0]?.Attachments ?? []).map((attachment) => attachment.State ?? '');
}

const describeCalls = (): number => aws.stats().calls.DescribeVolumes ?? 0;

/** How a wait ended: its error, after how long, and how many describes it made. */
async function outcome(wait: Promise<void>): Promise<{ error: Error | undefined; elapsedMs: number; describes: number }> {
  const started = Date.now();
  const before = describeCalls();
  try {
    await wait;
    return { error: undefined, elapsedMs: Date.now() - started, describes: describeCalls() - before };
  } catch (error) {
    return { error: error as Error, elapsedMs: Date.now() - started, describes: describeCalls() - before };
  }
}

beforeAll(async () => {
  aws = await startModelledAws({ profile });
  ec2 = new EC2Client(localAwsClientConfig(aws.endpoint));
  [instanceId, otherInstanceId] = [await launch(), await launch()];
});

afterAll(async () => {
  ec2.destroy();
  await aws.stop();
});

describe('waitForAttachment', () => {
  it('waits through `attaching` and returns once EC2 shows the volume attached', async () => {
    const volumeId = await availableVolume();
    const attached = Date.now();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: DEVICE }));
    // The model holds it attaching: there is something to wait for.
    expect(await attachmentStates(volumeId)).toEqual(['attaching']);
    const describesBefore = aws.stats().calls.DescribeVolumes ?? 0;
    await waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal, timeoutMs: 10_000 });
    const elapsedMs = Date.now() - attached;
    expect(elapsedMs).toBeGreaterThanOrEqual(ATTACHING_MS);
    // Pauses of 250, 500, 1000 ms: over within one pause of the attachment.
    expect(await attachmentStates(volumeId)).toEqual(['attached']);
    const describes = (aws.stats().calls.DescribeVolumes ?? 0) - describesBefore;
    expect(describes).toBeGreaterThanOrEqual(2);
    expect(describes).toBeLessThanOrEqual(4);
  });

  it('returns at its first check for a volume already attached', async () => {
    const volumeId = await availableVolume();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: DEVICE }));
    await sleep(ATTACHING_MS + 200);
    const { error, describes } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal }));
    expect(error).toBeUndefined();
    expect(describes, 'at its first check').toBe(1);
  });

  it('refuses at once a volume attached to this host under another device name, even while attaching', async () => {
    const volumeId = await availableVolume();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdg' }));
    const { error, describes } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal }));
    expect(error).toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.message).toBe(`volume ${volumeId} is attached as /dev/sdg, not ${DEVICE}`);
    // One check, no pause: it did not wait for the attachment to finish.
    expect(describes, 'at its first check').toBe(1);
  });

  it('refuses at once a volume attached to another instance', async () => {
    const volumeId = await availableVolume();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: otherInstanceId, Device: DEVICE }));
    const { error, describes } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal }));
    expect(error).toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.message).toBe(`volume ${volumeId} is attached to ${otherInstanceId}, not ${instanceId}`);
    expect(describes, 'at its first check').toBe(1);
  });

  it('refuses at once a volume being detached from this host', async () => {
    const volumeId = await availableVolume();
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: DEVICE }));
    await sleep(ATTACHING_MS + 200);
    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: DEVICE }));
    const { error, describes } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal }));
    expect(error).toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.message).toBe(`volume ${volumeId} is detaching from ${instanceId}`);
    expect(describes, 'at its first check').toBe(1);
  });

  it('gives up with a message that says what it saw when the volume is never attached', async () => {
    const volumeId = await availableVolume();
    const { error, elapsedMs } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: new AbortController().signal, timeoutMs: 1_000 }));
    expect(error).toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.message).toBe(`volume ${volumeId} is not attached to ${instanceId} (no attachment) after 1.0 s`);
    // Its last check is at the deadline (checks at 0, 250, 750 and 1000 ms), never past it by more than that check.
    expect(elapsedMs).toBeGreaterThanOrEqual(1_000);
  });

  it('gives up on a volume that does not exist the same way', async () => {
    const { error } = await outcome(
      waitForAttachment({ ec2, volumeId: 'vol-00000000000000000', instanceId, deviceName: DEVICE, signal: new AbortController().signal, timeoutMs: 300 }),
    );
    expect(error).toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.message).toMatch(new RegExp(`^volume vol-00000000000000000 is not attached to ${instanceId} \\(no attachment\\) after \\d+\\.\\d s$`));
  });

  it('stops waiting when its signal is aborted', async () => {
    const volumeId = await availableVolume();
    const controller = new AbortController();
    const wait = outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: controller.signal, timeoutMs: 60_000 }));
    await sleep(400);
    controller.abort();
    const { error, elapsedMs } = await wait;
    expect(error).toBeDefined();
    expect(error).not.toBeInstanceOf(VolumeNotAttachedError);
    expect(error?.name).toBe('AbortError');
    expect(elapsedMs, 'long before its 60 s timeout').toBeLessThan(30_000);
  });

  it('rejects at once when its signal is already aborted', async () => {
    const volumeId = await availableVolume();
    const { error, describes } = await outcome(waitForAttachment({ ec2, volumeId, instanceId, deviceName: DEVICE, signal: AbortSignal.abort(), timeoutMs: 60_000 }));
    expect(error?.name).toBe('AbortError');
    expect(describes, 'no check after the first').toBeLessThanOrEqual(1);
  });
});
