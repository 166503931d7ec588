/**
 * The EC2 model in front of a real moto, driven by real AWS SDK calls: transitional states that
 * last the modelled times, refusals in those states, throttling, untouched non-EC2 traffic, and
 * moto's own state machine interpreter calling back through the proxy.
 */
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  RegisterImageCommand,
  RunInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAwsModelProfile, parseAwsModelProfile, startAwsModelProxy, startModelledAws, type ModelledAws } from '../../../local/aws-model/index.ts';
import { localAwsClientConfig } from '../../../local/moto-server.ts';

// The typical profile, sped up five times, with a snapshot short enough to watch: creating
// 1 s, attaching 0.6 s, detaching 1 s, image 1 s, snapshot (10 + 10 * 0.5 GiB) * 0.2 = 3 s.
const profile = parseAwsModelProfile({
  ...loadAwsModelProfile('typical'),
  timeScale: 0.2,
  latencySeconds: { ...loadAwsModelProfile('typical').latencySeconds, snapshotBase: 10, snapshotPerChangedGiB: 10 },
});
const zone = 'us-east-1a';

let aws: ModelledAws;
let ec2: EC2Client;

beforeAll(async () => {
  aws = await startModelledAws({ profile, changedGiB: () => 0.5 });
  ec2 = new EC2Client(localAwsClientConfig(aws.endpoint));
});

afterAll(async () => {
  ec2.destroy();
  await aws.stop();
});

/** Polls until `done` holds; the distinct values seen on the way, in order. */
async function watch<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T[]> {
  const seen: T[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (seen.length === 0 || JSON.stringify(seen.at(-1)) !== JSON.stringify(value)) seen.push(value);
    if (done(value)) return seen;
    if (Date.now() > deadline) throw new Error(`gave up waiting; saw ${JSON.stringify(seen)}`);
    // Ten a second: the refill rate of EC2's unfiltered Describe bucket, so polls never drain it.
    await sleep(100);
  }
}

async function volume(volumeId: string): Promise<Volume> {
  const { Volumes } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  const found = Volumes?.[0];
  if (found === undefined) throw new Error(`${volumeId} not described`);
  return found;
}

async function createVolume(): Promise<string> {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 8 }));
  if (VolumeId === undefined) throw new Error('no volume id');
  return VolumeId;
}

async function errorOf(promise: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    const failure = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: failure.name, message: failure.message, status: failure.$metadata?.httpStatusCode };
  }
  throw new Error('the call succeeded');
}

describe('the EC2 model proxy', () => {
  it('keeps a new volume creating for the modelled time, and filters and refusals follow', async () => {
    const volumeId = await createVolume();
    const { Volumes: availableNow } = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['available'] }, { Name: 'volume-id', Values: [volumeId] }] }),
    );
    expect(availableNow).toEqual([]);
    const { InstanceId } = (await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1 }))).Instances?.[0] ?? {};
    const refused = await errorOf(ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId, Device: '/dev/sdf' })));
    expect(refused).toMatchObject({ name: 'IncorrectState', status: 400 });
    expect(refused.message).toContain(volumeId);
    const states = await watch(async () => (await volume(volumeId)).State, (state) => state === 'available');
    expect(states).toEqual(['creating', 'available']);
    const { Volumes: availableLater } = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['available'] }, { Name: 'volume-id', Values: [volumeId] }] }),
    );
    expect(availableLater?.map((found) => found.VolumeId)).toEqual([volumeId]);
  });

  it('models attaching, then detaching that keeps the attachment shown', async () => {
    const volumeId = await createVolume();
    const { InstanceId } = (await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1 }))).Instances?.[0] ?? {};
    await watch(async () => (await volume(volumeId)).State, (state) => state === 'available');

    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId, Device: '/dev/sdf' }));
    expect(await errorOf(ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })))).toMatchObject({ name: 'VolumeInUse', status: 400 });
    const attaching = await watch(
      async () => {
        const found = await volume(volumeId);
        return `${found.State ?? ''}/${found.Attachments?.map((attachment) => attachment.State).join(',') ?? ''}`;
      },
      (state) => state === 'in-use/attached',
    );
    expect(attaching).toEqual(['in-use/attaching', 'in-use/attached']);

    await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId, Device: '/dev/sdf' }));
    const first = await volume(volumeId);
    expect(first.State).toBe('in-use');
    expect(first.Attachments).toMatchObject([{ VolumeId: volumeId, InstanceId, Device: '/dev/sdf', State: 'detaching' }]);
    // Moto already holds it available: the model drops it from an `available` listing.
    const { Volumes: availableByFilter } = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['available'] }, { Name: 'volume-id', Values: [volumeId] }] }),
    );
    expect(availableByFilter).toEqual([]);
    const detaching = await watch(
      async () => {
        const found = await volume(volumeId);
        return `${found.State ?? ''}/${found.Attachments?.map((attachment) => attachment.State).join(',') ?? ''}`;
      },
      (state) => state === 'available/',
    );
    expect(detaching).toEqual(['in-use/detaching', 'available/']);
  });

  it('keeps a snapshot pending with growing progress, refuses an image of it until completed, then models the image', async () => {
    const volumeId = await createVolume();
    await watch(async () => (await volume(volumeId)).State, (state) => state === 'available');
    const { SnapshotId } = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    if (SnapshotId === undefined) throw new Error('no snapshot id');
    const started = Date.now();

    const { Snapshots: completedNow } = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'status', Values: ['completed'] }, { Name: 'snapshot-id', Values: [SnapshotId] }] }),
    );
    expect(completedNow).toEqual([]);
    const register = () =>
      ec2.send(
        new RegisterImageCommand({
          Name: `modelled-${SnapshotId}`,
          RootDeviceName: '/dev/xvda',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId } }],
        }),
      );
    const refused = await errorOf(register());
    expect(refused).toMatchObject({ name: 'IncorrectState', status: 400, message: `Snapshot ${SnapshotId} is not completed` });

    const seen = await watch(
      async () => {
        const { Snapshots } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [SnapshotId] }));
        return `${Snapshots?.[0]?.State ?? ''} ${Snapshots?.[0]?.Progress ?? ''}`;
      },
      (state) => state.startsWith('completed'),
    );
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(2_900);
    expect(seen.at(-1)).toBe('completed 100%');
    const pending = seen.slice(0, -1);
    expect(pending.length).toBeGreaterThan(5);
    const progress = pending.map((state) => {
      expect(state).toMatch(/^pending \d+%$/);
      return Number(/(\d+)%/.exec(state)?.[1]);
    });
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress[0]).toBeLessThan(20);
    expect(progress.at(-1)).toBeGreaterThan(80);

    const { ImageId } = await register();
    if (ImageId === undefined) throw new Error('no image id');
    const { Images: availableNow } = await ec2.send(
      new DescribeImagesCommand({ ImageIds: [ImageId], Filters: [{ Name: 'state', Values: ['available'] }] }),
    );
    expect(availableNow).toEqual([]);
    const states = await watch(
      async () => (await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId] }))).Images?.[0]?.State,
      (state) => state === 'available',
    );
    expect(states).toEqual(['pending', 'available']);
  });

  it('lists a modelled pending snapshot as pending under a status filter, refuses snapshots past the account\'s limit, and frees room when one is deleted', async () => {
    const limited = await startModelledAws({ profile: { ...profile, latencySeconds: { ...profile.latencySeconds, snapshotBase: 1000 }, limits: { pendingSnapshots: 2 } } });
    const client = new EC2Client(localAwsClientConfig(limited.endpoint));
    try {
      const { VolumeId } = await client.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 1 }));
      const pendingIds = async (): Promise<string[]> =>
        ((await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'status', Values: ['pending'] }] }))).Snapshots ?? []).map((snapshot) => snapshot.SnapshotId ?? '');
      const first = (await client.send(new CreateSnapshotCommand({ VolumeId }))).SnapshotId ?? '';
      const second = (await client.send(new CreateSnapshotCommand({ VolumeId }))).SnapshotId ?? '';
      // moto has completed both: only the model knows they are pending, and says so under the filter.
      expect((await pendingIds()).sort()).toEqual([first, second].sort());
      const { Snapshots: completed = [] } = await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'status', Values: ['completed'] }] }));
      expect(completed.map((snapshot) => snapshot.SnapshotId)).not.toContain(first);

      expect(await errorOf(client.send(new CreateSnapshotCommand({ VolumeId })))).toMatchObject({ name: 'PendingSnapshotLimitExceeded', status: 400 });
      await client.send(new DeleteSnapshotCommand({ SnapshotId: first }));
      expect(await pendingIds()).toEqual([second]);
      await expect(client.send(new CreateSnapshotCommand({ VolumeId }))).resolves.toMatchObject({ State: expect.any(String) as string });
    } finally {
      client.destroy();
      await limited.stop();
    }
  });

  it('throttles a burst past the bucket with RequestLimitExceeded and recovers after refill', async () => {
    const strict = parseAwsModelProfile({ ...profile, buckets: { ...profile.buckets, tags: { size: 3, refillPerSecond: 1 } } });
    const proxy = await startAwsModelProxy({ upstream: aws.motoEndpoint, profile: strict });
    // No retries: the SDK would otherwise back off and retry the throttled call by itself.
    const client = new EC2Client({ ...localAwsClientConfig(proxy.endpoint), maxAttempts: 1 });
    const other = new EC2Client({
      ...localAwsClientConfig(proxy.endpoint),
      credentials: { accessKeyId: 'OTHERACCOUNT', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      const volumeId = await createVolume();
      const tag = (n: number, on = client) => on.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: `k${n}`, Value: 'v' }] }));
      const burst = await Promise.allSettled([tag(1), tag(2), tag(3), tag(4)]);
      expect(burst.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
      const rejected = burst.filter((result) => result.status === 'rejected');
      expect(rejected).toHaveLength(1);
      const reason = (rejected[0] as PromiseRejectedResult).reason as { name: string; message: string; $metadata: { httpStatusCode: number } };
      expect(reason.name).toBe('RequestLimitExceeded');
      expect(reason.message).toBe('Request limit exceeded.');
      expect(reason.$metadata.httpStatusCode).toBe(503);
      // Another account has a bucket of its own.
      await tag(5, other);
      await sleep(1_100);
      await tag(6);
      expect(proxy.stats()).toEqual({ calls: { CreateTags: 6 }, throttled: { CreateTags: 1 } });
    } finally {
      client.destroy();
      other.destroy();
      await proxy.stop();
    }
  });

  it('passes non-EC2 traffic through untouched', async () => {
    const before = aws.stats().calls;
    const sqs = new SQSClient(localAwsClientConfig(aws.endpoint));
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'aws-model-pass-through' }));
      // The SDK checks the MD5 of the body moto computed against its own.
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'ünïcode & <xml> body' }));
      const { Messages } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
      expect(Messages?.map((message) => message.Body)).toEqual(['ünïcode & <xml> body']);
    } finally {
      sqs.destroy();
    }
    // The same request, Host header included (moto builds queue URLs from it), to both.
    const raw = (endpoint: string) =>
      new Promise<{ status: number | undefined; headers: string[]; body: string }>((resolveRaw, reject) => {
        const body = '{"QueueNamePrefix":"aws-model-pass"}';
        const outgoing = request(
          `${endpoint}/`,
          {
            method: 'POST',
            headers: {
              host: new URL(aws.endpoint).host,
              'content-type': 'application/x-amz-json-1.0',
              'content-length': String(Buffer.byteLength(body)),
              'x-amz-target': 'AmazonSQS.ListQueues',
              authorization: 'AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00',
            },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              const headers = response.rawHeaders.filter((_, index, all) => !/^(date|x-amzn-requestid)$/i.test(all[index - (index % 2)] ?? ''));
              resolveRaw({ status: response.statusCode, headers, body: Buffer.concat(chunks).toString('hex') });
            });
          },
        );
        outgoing.once('error', reject);
        outgoing.end(body);
      });
    const proxied = await raw(aws.endpoint);
    expect(Buffer.from(proxied.body, 'hex').toString()).toContain('/aws-model-pass-through');
    expect(proxied).toEqual(await raw(aws.motoEndpoint));
    expect(aws.stats().calls).toEqual(before);
  });

  it("routes moto's state machine aws-sdk:ec2 calls through the model (MOTO_PORT)", async () => {
    const before = aws.stats().calls;
    const sfn = new SFNClient(localAwsClientConfig(aws.endpoint));
    try {
      const definition = {
        StartAt: 'Create',
        States: {
          Create: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:ec2:createVolume',
            Parameters: { AvailabilityZone: zone, Size: 1 },
            ResultSelector: { 'VolumeId.$': '$.VolumeId' },
            Next: 'Describe',
          },
          Describe: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:ec2:describeVolumes',
            Parameters: { 'VolumeIds.$': 'States.Array($.VolumeId)' },
            // Lean output: moto's DescribeExecution fails on timestamps in it.
            ResultSelector: { 'States.$': '$.Volumes[*].State' },
            End: true,
          },
        },
      };
      const { stateMachineArn } = await sfn.send(
        new CreateStateMachineCommand({
          name: 'aws-model-callback',
          definition: JSON.stringify(definition),
          roleArn: 'arn:aws:iam::123456789012:role/aws-model',
        }),
      );
      const { executionArn } = await sfn.send(new StartExecutionCommand({ stateMachineArn, input: '{}' }));
      const statuses = await watch(
        async () => (await sfn.send(new DescribeExecutionCommand({ executionArn }))).status,
        (status) => status !== 'RUNNING',
      );
      expect(statuses.at(-1)).toBe('SUCCEEDED');
      const { output } = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      expect(JSON.parse(output ?? '{}')).toEqual({ States: ['creating'] });
      const after = aws.stats().calls;
      expect(after.CreateVolume).toBe((before.CreateVolume ?? 0) + 1);
      expect(after.DescribeVolumes).toBe((before.DescribeVolumes ?? 0) + 1);
      // The whole suite polls within EC2's documented limits.
      expect(aws.stats().throttled).toEqual({});
    } finally {
      sfn.destroy();
    }
  });
});
