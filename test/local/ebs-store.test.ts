/** The local EBS emulation: volumes get their snapshot's bytes, snapshots their volume's. */
import { CreateSnapshotCommand, CreateVolumeCommand } from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestFactory, type TestFactory } from '../worker/daemon/factory.ts';
import { describeIfRoot } from '../support/root.ts';

const GIB = 1024 ** 3;

async function sameBytes(a: string, b: string, length?: number): Promise<boolean> {
  const args = length === undefined ? [a, b] : ['--bytes', String(length), a, b];
  return (await execa('cmp', args, { reject: false })).exitCode === 0;
}

describeIfRoot('local EBS store', () => {
  let factory: TestFactory;
  beforeAll(async () => {
    factory = await startTestFactory('ebs');
  });
  afterAll(async () => {
    await factory.stop();
  });

  it('round-trips an imported image and copies bytes along volumes and snapshots, sparsely', async () => {
    const { store, clients } = factory;
    const base = join(factory.dir, 'base');
    const [original] = (await execa('sh', ['-c', `ls ${base}/*.img`])).stdout.split('\n');
    const imported = await store.importImage(original ?? '', 'round-trip');
    const exported = join(factory.dir, 'exported.img');
    await store.exportImage(imported.imageId, exported);
    expect(await sameBytes(original ?? '', exported)).toBe(true);

    // A bigger volume from that snapshot: the image's bytes, then zeros up to its size.
    const volume = await clients.ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', SnapshotId: imported.snapshotId, Size: 2 }),
    );
    const volumePath = await store.materializeVolume(volume.VolumeId ?? '');
    const volumeStat = await stat(volumePath);
    expect(volumeStat.size).toBe(2 * GIB);
    expect(volumeStat.blocks * 512).toBeLessThan(200 * 1024 ** 2);
    expect(await sameBytes(original ?? '', volumePath, (await stat(original ?? '')).size)).toBe(true);

    // A snapshot of the volume after a write holds the write; the volume may change later.
    const handle = await open(volumePath, 'r+');
    await handle.write(Buffer.from('written on the volume'), 0, undefined, GIB + 4096);
    await handle.close();
    const snapshot = await clients.ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId }));
    const snapshotPath = await store.snapshotBytes(snapshot.SnapshotId ?? '');
    expect((await stat(snapshotPath)).size).toBe(2 * GIB);
    expect(await sameBytes(original ?? '', snapshotPath, (await stat(original ?? '')).size)).toBe(true);
    const frozen = await open(snapshotPath, 'r');
    const { buffer } = await frozen.read(Buffer.alloc(21), 0, 21, GIB + 4096);
    await frozen.close();
    expect(buffer.toString()).toBe('written on the volume');

    // A blank volume is zeros of its size.
    const blank = await clients.ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 1 }));
    const blankStat = await stat(await store.materializeVolume(blank.VolumeId ?? ''));
    expect([blankStat.size, blankStat.blocks]).toEqual([GIB, 0]);
  });
});
