/**
 * The local AWS's one correction to moto (local/moto_server.py): EC2 refuses to attach a
 * volume that is attached already, which is what gives a pooled volume to one build only.
 */
import { AttachVolumeCommand, CreateVolumeCommand, DetachVolumeCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { localAwsClientConfig, startMotoServer, type MotoServer } from '../../local/moto-server.ts';

let moto: MotoServer;
let ec2: EC2Client;

beforeAll(async () => {
  moto = await startMotoServer();
  ec2 = new EC2Client(localAwsClientConfig(moto.endpoint, 'us-east-1'));
});

afterAll(async () => {
  ec2.destroy();
  await moto.stop();
});

async function instance(): Promise<string> {
  const { Instances } = await ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, Placement: { AvailabilityZone: 'us-east-1a' } }));
  return Instances?.[0]?.InstanceId ?? '';
}

it('refuses to attach an attached volume, to another instance or the same one, and attaches it again once detached', async () => {
  const { VolumeId } = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
  const [first, second] = [await instance(), await instance()];
  await ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: first, Device: '/dev/sdf' }));

  for (const InstanceId of [second, first]) {
    await expect(ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId, Device: '/dev/sdg' }))).rejects.toMatchObject({
      name: 'VolumeInUse',
      message: `Volume ${VolumeId} is currently attached to ${first}`,
    });
  }

  await ec2.send(new DetachVolumeCommand({ VolumeId, InstanceId: first, Device: '/dev/sdf' }));
  await expect(ec2.send(new AttachVolumeCommand({ VolumeId, InstanceId: second, Device: '/dev/sdg' }))).resolves.toMatchObject({ VolumeId, InstanceId: second });
});
