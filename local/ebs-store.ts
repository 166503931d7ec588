/**
 * The local factory's EBS: the bytes behind moto's volumes and snapshots, as sparse files.
 * moto keeps the API state (which volume came from which snapshot, and the reverse); this
 * store keeps the data, so a volume made from a snapshot holds that snapshot's bytes, a
 * snapshot holds its volume's bytes, and an AMI built locally has a real root image.
 *
 *   <dir>/snapshots/<snap-id>.img   frozen, never written again
 *   <dir>/volumes/<vol-id>.img      what a build provisions (through a loop device)
 *
 * Bytes are copied lazily, when first needed: a volume when a worker provisions it, a
 * snapshot when something reads it. That is exact for the factory, which never writes a
 * volume after snapshotting it; copies are sparse, so unwritten space costs nothing.
 * Files appear atomically (copied aside, then linked in place), so a reader never sees a
 * half-copied image, and an existing file is never replaced.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  RegisterImageCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { link, mkdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exists } from '../worker/devices/fs-probe.ts';
import { ROOT_SNAPSHOT_TAG } from '../contract/execution.ts';

const GIB = 1024 ** 3;

export class LocalEbsStore {
  readonly dir: string;
  readonly #ec2: EC2Client;

  constructor(dir: string, ec2: EC2Client) {
    this.dir = dir;
    this.#ec2 = ec2;
  }

  volumePath(volumeId: string): string {
    return join(this.dir, 'volumes', `${checkId(volumeId, 'vol')}.img`);
  }

  snapshotPath(snapshotId: string): string {
    return join(this.dir, 'snapshots', `${checkId(snapshotId, 'snap')}.img`);
  }

  /**
   * The volume's file, made on first use: its snapshot's bytes (or nothing, for a blank
   * volume), extended to the volume's size as EBS does when a volume is larger than its
   * snapshot.
   */
  async materializeVolume(volumeId: string): Promise<string> {
    const path = this.volumePath(volumeId);
    if (await exists(path)) return path;
    const volume = (await this.#ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0];
    if (volume === undefined) throw new Error(`volume ${volumeId} does not exist`);
    const source = volume.SnapshotId ? await this.snapshotBytes(volume.SnapshotId) : undefined;
    await placeAtomically(path, async (temporary) => {
      if (source === undefined) await writeFile(temporary, '');
      else await sparseCopy(source, temporary);
      const size = (volume.Size ?? 0) * GIB;
      if ((await stat(temporary)).size < size) await truncate(temporary, size);
    });
    return path;
  }

  /** The snapshot's file; the first read freezes a copy of the volume it was taken from. */
  async snapshotBytes(snapshotId: string): Promise<string> {
    const path = this.snapshotPath(snapshotId);
    if (await exists(path)) return path;
    // moto's RegisterImage ignores the mappings it is given and invents a root snapshot:
    // an image that says which snapshot really holds its root (the tag) answers for it.
    const stoodInFor = await this.#taggedRootOfImageWith(snapshotId);
    if (stoodInFor !== undefined) return this.snapshotBytes(stoodInFor);
    const snapshot = (await this.#ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }))).Snapshots?.[0];
    const volumeId = snapshot?.VolumeId;
    const noBytes = `snapshot ${snapshotId} has no bytes in the local EBS store (${this.dir})`;
    if (volumeId === undefined || volumeId === '') throw new Error(`${noBytes}: moto names no volume it was taken from`);
    let volumeFile = this.volumePath(volumeId);
    if (!(await exists(volumeFile))) {
      // A volume nobody wrote holds what it was made from, as long as moto still knows it.
      try {
        volumeFile = await this.materializeVolume(volumeId);
      } catch (err) {
        throw new Error(
          `${noBytes}: its volume ${volumeId} was never written here and cannot be recreated ` +
            `(an image registered by moto's RegisterImage? tag it with ${ROOT_SNAPSHOT_TAG})`,
          { cause: err },
        );
      }
    }
    await placeAtomically(path, (temporary) => sparseCopy(volumeFile, temporary));
    return path;
  }

  /** The snapshot behind an image's root device: the tag first, then the root mapping. */
  async imageRootSnapshot(imageId: string): Promise<string> {
    const image = (await this.#ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images?.[0];
    if (image === undefined) throw new Error(`image ${imageId} does not exist`);
    const tagged = image.Tags?.find((t) => t.Key === ROOT_SNAPSHOT_TAG)?.Value;
    if (tagged !== undefined && tagged !== '') return tagged;
    const root = image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName)?.Ebs?.SnapshotId;
    if (root === undefined || root === '') throw new Error(`image ${imageId} has no root snapshot`);
    return root;
  }

  /**
   * Registers a disk image as a base AMI, the local stand-in for a source AMI: a snapshot
   * holding the image's bytes, and an image whose root device maps it.
   */
  async importImage(
    diskImage: string,
    name: string,
    options: { availabilityZone?: string } = {},
  ): Promise<{ imageId: string; snapshotId: string }> {
    const sizeGiB = Math.max(1, Math.ceil((await stat(diskImage)).size / GIB));
    const zone = options.availabilityZone ?? (await this.#firstZone());
    // EC2 snapshots are taken of volumes: a throw-away volume gives the snapshot its size.
    const volume = await this.#ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: sizeGiB, VolumeType: 'gp3' }));
    const volumeId = required(volume.VolumeId, 'CreateVolume returned no VolumeId');
    // EC2 (and the local AWS under its latency model) takes a while for each: the snapshot
    // waits for its volume, the registration for its snapshot, the caller for the image.
    await this.#waitFor(`volume ${volumeId} available`, async () => {
      const { Volumes } = await this.#ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'volume-id', Values: [volumeId] }] }));
      return Volumes?.[0]?.State === 'available';
    });
    const snapshot = await this.#ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId, Description: `import of ${name}` }));
    const snapshotId = required(snapshot.SnapshotId, 'CreateSnapshot returned no SnapshotId');
    await placeAtomically(this.snapshotPath(snapshotId), (temporary) => sparseCopy(diskImage, temporary));
    await this.#waitFor(`snapshot ${snapshotId} completed`, async () => {
      const { Snapshots } = await this.#ec2.send(new DescribeSnapshotsCommand({ Filters: [{ Name: 'snapshot-id', Values: [snapshotId] }] }));
      return Snapshots?.[0]?.State === 'completed';
    });
    await this.#ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    const image = await this.#ec2.send(
      new RegisterImageCommand({
        Name: name,
        RootDeviceName: '/dev/xvda',
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { SnapshotId: snapshotId, VolumeSize: sizeGiB, VolumeType: 'gp3', DeleteOnTermination: true } },
        ],
        Architecture: 'x86_64',
        VirtualizationType: 'hvm',
        EnaSupport: true,
      }),
    );
    const imageId = required(image.ImageId, 'RegisterImage returned no ImageId');
    await this.#waitFor(`image ${imageId} available`, async () => {
      const { Images } = await this.#ec2.send(new DescribeImagesCommand({ Filters: [{ Name: 'image-id', Values: [imageId] }] }));
      return Images?.[0]?.State === 'available';
    });
    await this.#ec2.send(
      new CreateTagsCommand({
        Resources: [imageId],
        Tags: [
          { Key: 'Name', Value: name },
          { Key: ROOT_SNAPSHOT_TAG, Value: snapshotId },
        ],
      }),
    );
    return { imageId, snapshotId };
  }

  /** Checks `ready` every half second, then less often, for up to 15 minutes. */
  async #waitFor(what: string, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 15 * 60_000;
    let pauseMs = 500;
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`${what}: still not after 15 minutes`);
      await sleep(pauseMs);
      pauseMs = Math.min(5_000, pauseMs * 2);
    }
  }

  /** Writes the image's root disk to `out` (sparse), e.g. to boot it in a VM. */
  async exportImage(imageId: string, out: string): Promise<void> {
    const source = await this.snapshotBytes(await this.imageRootSnapshot(imageId));
    const temporary = `${out}.${randomUUID().slice(0, 8)}.tmp`;
    try {
      await sparseCopy(source, temporary);
      await rename(temporary, out);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /** The tagged root snapshot of an image whose root mapping (as moto reports it) is `snapshotId`. */
  async #taggedRootOfImageWith(snapshotId: string): Promise<string | undefined> {
    const { Images = [] } = await this.#ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    for (const image of Images) {
      const root = image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName)?.Ebs?.SnapshotId;
      const tagged = image.Tags?.find((t) => t.Key === ROOT_SNAPSHOT_TAG)?.Value;
      if (root === snapshotId && tagged !== undefined && tagged !== snapshotId) return tagged;
    }
    return undefined;
  }

  async #firstZone(): Promise<string> {
    const zones = await this.#ec2.send(new DescribeAvailabilityZonesCommand({}));
    return required(zones.AvailabilityZones?.[0]?.ZoneName, 'DescribeAvailabilityZones returned no zone');
  }
}

function checkId(id: string, prefix: string): string {
  // Ids name files here: nothing but the EC2 shape may reach a path.
  if (!new RegExp(`^${prefix}-[0-9a-f]+$`).test(id)) throw new Error(`${JSON.stringify(id)} is not a ${prefix}- id`);
  return id;
}

function required<T>(value: T | undefined, message: string): T {
  if (value === undefined) throw new Error(message);
  return value;
}

/** GNU cp keeps runs of zeros as holes, so a 1 GiB volume with 60 MiB written costs 60 MiB. */
async function sparseCopy(from: string, to: string): Promise<void> {
  await execa('cp', ['--sparse=always', from, to], { stdin: 'ignore' });
}

/**
 * Makes `path` with `fill` on a file beside it, then links it in place: whoever comes
 * second (two readers freezing one snapshot) keeps the first file and drops its copy.
 */
async function placeAtomically(path: string, fill: (temporary: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await fill(temporary);
    await link(temporary, path).catch((err: unknown) => {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
    });
  } finally {
    await rm(temporary, { force: true });
  }
}
