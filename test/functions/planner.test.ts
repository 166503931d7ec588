/** The planner on its own: templates parsed by the shared model, source images as EC2 describes them. */
import type { Image } from '@aws-sdk/client-ec2';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLLING, DEFAULT_TIMEOUTS } from '../../functions/lib/config.ts';
import type { ExecutionInput } from '../../contract/execution.ts';
import type { FieldError } from '../../contract/field-errors.ts';
import { ProblemError } from '../../functions/lib/http.ts';
import { planBuild, type PlanOptions } from '../../functions/lib/planner.ts';
import { parseTemplate } from '../../model/index.ts';
import { TAKEN, VOLUME_POOL_TAG, volumePoolKey } from '../../contract/volume-pool.ts';

const BUILD_ID = 'b-01hxq0000000000000000000000';
const OPTIONS: PlanOptions = {
  buildId: BUILD_ID,
  target: { region: 'eu-west-1', accountId: '111122223333' },
  polling: DEFAULT_POLLING,
  timeouts: DEFAULT_TIMEOUTS,
};

/** A Debian-like source: gp3 root with provisioned performance, a data volume, an instance store. */
const SOURCE: Image = {
  ImageId: 'ami-0aaaaaaaaaaaaaaaa',
  Name: 'debian-12-arm64',
  Architecture: 'arm64',
  VirtualizationType: 'hvm',
  RootDeviceType: 'ebs',
  RootDeviceName: '/dev/xvda',
  EnaSupport: true,
  SriovNetSupport: 'simple',
  BootMode: 'uefi',
  TpmSupport: 'v2.0',
  ImdsSupport: 'v2.0',
  BlockDeviceMappings: [
    { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-0root', VolumeSize: 8, VolumeType: 'gp3', Iops: 3000, Throughput: 125, DeleteOnTermination: true, Encrypted: false } },
    { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: 'snap-0data', VolumeSize: 100, VolumeType: 'st1', DeleteOnTermination: false, Encrypted: false } },
    { DeviceName: '/dev/xvdc', VirtualName: 'ephemeral0' },
  ],
};

function plan(builder: Record<string, unknown>, source: Image | null = SOURCE, options: Partial<PlanOptions> = {}): ExecutionInput {
  const request = parseTemplate(
    { builders: [{ type: 'amazon-chroot', ami_name: 'planned', ...(source ? { source_ami: source.ImageId } : {}), ...builder }] },
    { templateDir: tmpdir(), now: new Date('2024-05-06T07:08:09Z') },
  );
  return planBuild(request, source, { ...OPTIONS, ...options });
}

function problemsOf(run: () => unknown): FieldError[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ProblemError) {
      expect(error.status).toBe(400);
      return [...(error.errors ?? [])];
    }
    throw error;
  }
  throw new Error('expected the plan to be refused');
}

describe('root volume size', () => {
  it('is the source\'s root size by default', () => {
    const input = plan({});
    expect(input.createVolume).toMatchObject({ Size: 8, SnapshotId: 'snap-0root', VolumeType: 'gp3', Iops: 3000, Throughput: 125 });
    expect(input.registerImage.BlockDeviceMappings?.[0]).toEqual({
      DeviceName: '/dev/xvda',
      Ebs: { DeleteOnTermination: true, VolumeSize: 8, VolumeType: 'gp3', Iops: 3000, Throughput: 125 },
    });
  });

  it('grows to root_volume_size, and the image\'s root mapping with it', () => {
    const input = plan({ root_volume_size: 32 });
    expect(input.createVolume.Size).toBe(32);
    expect(input.registerImage.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize).toBe(32);
  });

  it('does not shrink: a smaller root_volume_size keeps the source\'s size, with a warning (as Packer)', () => {
    const warnings: { path: string; message: string }[] = [];
    const input = plan({ root_volume_size: 4 }, SOURCE, { warn: (path, message) => warnings.push({ path, message }) });
    expect(input.createVolume.Size).toBe(8);
    expect(input.registerImage.BlockDeviceMappings?.[0]?.Ebs?.VolumeSize).toBe(8);
    expect(warnings).toEqual([{ path: 'builders[0].root_volume_size', message: expect.stringContaining('keeps the source\'s 8 GiB') as string }]);
  });

  it('drops provisioned performance on a change of volume type; io1 without a source io1 is refused', () => {
    expect(plan({ root_volume_type: 'gp2' }).createVolume).toMatchObject({ VolumeType: 'gp2', Iops: undefined, Throughput: undefined });
    expect(problemsOf(() => plan({ root_volume_type: 'io1' })).map((p) => p.path)).toEqual(['builders[0].root_volume_type']);
  });
});

describe('block device mappings', () => {
  it('copies the source\'s mappings, without the source root snapshot or encryption flags on snapshots', () => {
    expect(plan({ root_volume_size: 20 }).registerImage.BlockDeviceMappings).toEqual([
      { DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, VolumeSize: 20, VolumeType: 'gp3', Iops: 3000, Throughput: 125 } },
      { DeviceName: '/dev/xvdb', Ebs: { SnapshotId: 'snap-0data', VolumeSize: 100, VolumeType: 'st1', DeleteOnTermination: false } },
      { DeviceName: '/dev/xvdc', VirtualName: 'ephemeral0' },
    ]);
  });

  it('keeps a source mapping\'s VirtualName beside its Ebs block, as Packer copies it whole', () => {
    const source: Image = {
      ...SOURCE,
      BlockDeviceMappings: [
        ...(SOURCE.BlockDeviceMappings ?? []).slice(0, 1),
        { DeviceName: '/dev/xvdd', VirtualName: 'ephemeral1', Ebs: { SnapshotId: 'snap-0data', VolumeSize: 10, VolumeType: 'gp2', DeleteOnTermination: true } },
      ],
    };
    expect(plan({}, source).registerImage.BlockDeviceMappings?.[1]).toEqual({
      DeviceName: '/dev/xvdd',
      VirtualName: 'ephemeral1',
      Ebs: { SnapshotId: 'snap-0data', VolumeSize: 10, VolumeType: 'gp2', DeleteOnTermination: true },
    });
  });

  it('replaces the source\'s mappings with ami_block_device_mappings', () => {
    const input = plan({
      root_device_name: '/dev/xvda',
      root_volume_size: 16,
      ami_block_device_mappings: [
        { device_name: '/dev/xvda', volume_size: 10, volume_type: 'gp3', delete_on_termination: true },
        { device_name: '/dev/xvdf', volume_size: 50, volume_type: 'gp2', encrypted: true },
        { device_name: '/dev/xvdg', no_device: true },
      ],
    });
    expect(input.registerImage.BlockDeviceMappings).toEqual([
      // The root entry is at least as large as the volume the snapshot comes from.
      { DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, VolumeSize: 16, VolumeType: 'gp3' } },
      { DeviceName: '/dev/xvdf', Ebs: { DeleteOnTermination: false, Encrypted: true, VolumeSize: 50, VolumeType: 'gp2' } },
      { DeviceName: '/dev/xvdg', NoDevice: '' },
    ]);
    expect(input.rootDeviceName).toBe('/dev/xvda');
    expect(JSON.stringify(input.registerImage)).not.toContain('snap-0data');
  });

  it('refuses a KMS key on an additional mapping, which RegisterImage cannot take', () => {
    const problems = problemsOf(() =>
      plan({
        root_device_name: '/dev/xvda',
        root_volume_size: 8,
        ami_block_device_mappings: [
          { device_name: '/dev/xvda' },
          { device_name: '/dev/xvdf', volume_size: 5, encrypted: true, kms_key_id: 'alias/data' },
        ],
      }),
    );
    expect(problems.map((p) => p.path)).toEqual(['builders[0].ami_block_device_mappings[1].kms_key_id']);
  });
});

describe('image attributes', () => {
  it('come from the source when the template is silent', () => {
    expect(plan({}).registerImage).toMatchObject({
      Name: 'planned',
      Architecture: 'arm64',
      VirtualizationType: 'hvm',
      RootDeviceName: '/dev/xvda',
      EnaSupport: true,
      SriovNetSupport: 'simple',
      BootMode: 'uefi',
      TpmSupport: 'v2.0',
      ImdsSupport: 'v2.0',
    });
  });

  it('come from the template when it speaks', () => {
    const plain: Image = { ...SOURCE, EnaSupport: undefined, SriovNetSupport: undefined, BootMode: undefined, TpmSupport: undefined, ImdsSupport: undefined };
    expect(plan({ ena_support: false, ami_architecture: 'x86_64', boot_mode: 'legacy-bios' }).registerImage).toMatchObject({
      EnaSupport: false,
      Architecture: 'x86_64',
      BootMode: 'legacy-bios',
    });
    expect(plan({ sriov_support: true, ena_support: true, boot_mode: 'uefi', tpm_support: 'v2.0', imds_support: 'v2.0' }, plain).registerImage).toMatchObject({
      SriovNetSupport: 'simple',
      EnaSupport: true,
      BootMode: 'uefi',
      TpmSupport: 'v2.0',
      ImdsSupport: 'v2.0',
    });
    // The workflow always sends EnaSupport and BootMode: silence means EC2's defaults.
    const silent = plan({}, plain).registerImage;
    const archDefault = plain.Architecture?.startsWith('arm64') ? 'uefi' : 'legacy-bios';
    expect([silent.EnaSupport, silent.SriovNetSupport, silent.BootMode, silent.TpmSupport]).toEqual([false, undefined, archDefault, undefined]);
  });
});

describe('encryption', () => {
  it('encrypts the build volume itself with encrypt_boot, so no image copy is needed', () => {
    expect(plan({ encrypt_boot: true, kms_key_id: 'alias/images' }).createVolume).toMatchObject({ Encrypted: true, KmsKeyId: 'alias/images' });
    expect(plan({ root_volume_encrypt_boot: true, root_volume_kms_key_id: 'alias/scratch' }).createVolume).toMatchObject({
      Encrypted: true,
      KmsKeyId: 'alias/scratch',
    });
    expect(plan({}).createVolume.Encrypted).toBe(false);
    // The workflow's RegisterImage names Description: an unset ami_description is "".
    expect(plan({}).registerImage.Description).toBe('');
  });

  it('cannot decrypt an encrypted source', () => {
    const encrypted: Image = {
      ...SOURCE,
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-0root', VolumeSize: 8, Encrypted: true } }],
    };
    expect(problemsOf(() => plan({ encrypt_boot: false }, encrypted)).map((p) => p.path)).toEqual(['builders[0].encrypt_boot']);
  });
});

describe('tags, polling, target', () => {
  it('tags every resource with the build id and refuses the factory\'s prefix', () => {
    const input = plan({ tags: { App: 'web' }, snapshot_tags: { App: 'web-snapshot' }, root_volume_tags: { Scratch: 'yes' } });
    const build = { Key: 'ami-factory:build-id', Value: BUILD_ID };
    expect(input.createVolume.TagSpecifications).toEqual([{ ResourceType: 'volume', Tags: [{ Key: 'Scratch', Value: 'yes' }, build] }]);
    expect(input.createSnapshot.TagSpecifications).toEqual([{ ResourceType: 'snapshot', Tags: [{ Key: 'App', Value: 'web-snapshot' }, build] }]);
    expect(input.registerImage.TagSpecifications).toEqual([{ ResourceType: 'image', Tags: [{ Key: 'App', Value: 'web' }, build] }]);
    expect(problemsOf(() => plan({ tags: { 'ami-factory:build-id': 'mine' } })).map((p) => p.path)).toEqual(['builders[0].tags["ami-factory:build-id"]']);
  });

  it('takes Packer\'s aws_polling over the factory\'s pacing', () => {
    expect(plan({ aws_polling: { delay_seconds: 2, max_attempts: 30 } }).polling).toEqual({ volume: 2, attachment: 2, snapshot: 2, image: 2, maxAttempts: 30 });
    expect(plan({}).polling).toEqual(DEFAULT_POLLING);
  });

  it('refuses a region other than the factory\'s', () => {
    expect(problemsOf(() => plan({ region: 'us-west-2' })).map((p) => p.path)).toEqual(['builders[0].region']);
    expect(plan({ region: 'eu-west-1' }).target).toEqual({ region: 'eu-west-1', accountId: '111122223333' });
  });
});

describe('build data (Packer\'s BuildInfoTemplate)', () => {
  const source: Image = {
    ...SOURCE,
    OwnerId: '137112412989',
    ImageOwnerAlias: 'amazon',
    CreationDate: '2024-04-01T10:00:00.000Z',
    Tags: [{ Key: 'Name', Value: 'debian' }],
  };
  const templated = {
    ami_description: 'from {{ .SourceAMIName }} ({{.SourceAMI}}) in {{ .BuildRegion }}',
    tags: {
      source: '{{ .SourceAMI }}',
      '{{ .SourceAMIOwnerName }}-owner': '{{ .SourceAMIOwner }}',
      created: '{{ .SourceAMICreationDate }}',
      name: '{{ .SourceAMITags.Name | upper }}',
      missing: 'x{{ .SourceAMITags.Nope }}',
    },
    snapshot_tags: { from: '{{ .SourceAMIName | replace_all "-" "_" }}' },
    root_volume_tags: { from: '{{ .SourceAMI }}' },
  };

  it('is rendered from the resolved source image in the description and every tag option', () => {
    const input = plan(templated, source);
    expect(input.registerImage.Description).toBe('from debian-12-arm64 (ami-0aaaaaaaaaaaaaaaa) in eu-west-1');
    const imageTags = input.registerImage.TagSpecifications?.[0]?.Tags;
    for (const [Key, Value] of Object.entries({
      source: 'ami-0aaaaaaaaaaaaaaaa',
      'amazon-owner': '137112412989',
      created: '2024-04-01T10:00:00.000Z',
      name: 'DEBIAN',
      missing: 'x',
    })) {
      expect(imageTags).toContainEqual({ Key, Value });
    }
    const volumeTags = input.createVolume.TagSpecifications?.[0]?.Tags ?? [];
    expect(volumeTags).toContainEqual({ Key: 'from', Value: 'ami-0aaaaaaaaaaaaaaaa' });
    expect(input.createSnapshot.TagSpecifications?.[0]?.Tags).toContainEqual({ Key: 'from', Value: 'debian_12_arm64' });
  });

  it('is held to EC2\'s limits once rendered', () => {
    expect(problemsOf(() => plan({ tags: { '{{ .SourceAMITags.Nope }}': 'v' }, ami_description: '{{.SourceAMI}}'.padEnd(255, 'x') }, source))).toEqual([
      { path: 'builders[0].ami_description', message: expect.stringContaining('at most 255 characters once rendered') as string },
      { path: 'builders[0].tags["{{ .SourceAMITags.Nope }}"]', message: 'the tag key renders empty' },
    ]);
  });

  it('is empty from scratch, as in Packer; the region is still known', () => {
    const input = plan(
      {
        ...templated,
        from_scratch: true,
        root_volume_size: 4,
        root_device_name: '/dev/xvda',
        ami_virtualization_type: 'hvm',
        pre_mount_commands: ['true'],
        ami_block_device_mappings: [{ device_name: '/dev/xvda' }],
      },
      null,
    );
    expect(input.registerImage.Description).toBe('from  () in eu-west-1');
  });
});

describe('volume pools', () => {
  it('names the pool of the volume\'s specification when the factory keeps pools, and how a taken volume is tagged', () => {
    const input = plan({ root_volume_size: 20, root_volume_tags: { role: 'web' } }, SOURCE, { volumePools: true });
    const { createVolume } = input;
    expect(input.volumePool?.key).toBe(
      volumePoolKey({ SnapshotId: 'snap-0root', Size: 20, VolumeType: 'gp3', Iops: 3000, Throughput: 125, Encrypted: false }),
    );
    expect(input.volumePool?.takeTags).toEqual([...(createVolume.TagSpecifications?.[0]?.Tags ?? []), { Key: VOLUME_POOL_TAG, Value: TAKEN }]);
    expect(input.volumePool?.takeTags).toContainEqual({ Key: 'role', Value: 'web' });
    // Another size, type or key is another pool: a volume is only ever taken by a build that would have made the same one.
    expect(plan({ root_volume_size: 21 }, SOURCE, { volumePools: true }).volumePool?.key).not.toBe(input.volumePool?.key);
    expect(plan({ root_volume_size: 20, encrypt_boot: true }, SOURCE, { volumePools: true }).volumePool?.key).not.toBe(input.volumePool?.key);
  });

  it('names none without pools, or for a volume made from nothing', () => {
    expect(plan({}, SOURCE).volumePool).toBeNull();
    const scratch = plan(
      { from_scratch: true, root_volume_size: 4, root_device_name: '/dev/xvda', ami_virtualization_type: 'hvm', pre_mount_commands: ['true'], ami_block_device_mappings: [{ device_name: '/dev/xvda' }] },
      null,
      { volumePools: true },
    );
    expect(scratch.volumePool).toBeNull();
  });

  it('refuses a template that would tag its volume as a pristine pool volume, in any case: a build would take it after it', () => {
    expect(
      problemsOf(() => plan({ root_volume_tags: { 'ami-factory:volume-pool': 'vp-000000000000000000000000', 'AMI-Factory:Volume-Pool-Family': 'x/y' } }, SOURCE, { volumePools: true })),
    ).toEqual([
      expect.objectContaining({ path: 'builders[0].root_volume_tags["ami-factory:volume-pool"]' }),
      expect.objectContaining({ path: 'builders[0].root_volume_tags["AMI-Factory:Volume-Pool-Family"]' }),
    ]);
  });

  it('leaves room on the volume for the tags the workflow and the pools add', () => {
    const tags = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`t${index}`, 'x']));
    expect(problemsOf(() => plan({ root_volume_tags: tags }))).toEqual([
      expect.objectContaining({ path: 'builders[0].root_volume_tags', message: expect.stringContaining('ami-factory:volume-pool-family') as string }),
    ]);
  });
});

describe('from_scratch', () => {
  it('plans an empty volume and the template\'s mappings', () => {
    const input = plan(
      {
        from_scratch: true,
        root_volume_size: 4,
        root_device_name: '/dev/xvda',
        ami_virtualization_type: 'hvm',
        pre_mount_commands: ['parted {{.Device}} mklabel gpt'],
        ami_block_device_mappings: [{ device_name: '/dev/xvda', delete_on_termination: true }],
      },
      null,
    );
    expect(input.createVolume).toMatchObject({ Size: 4, VolumeType: 'gp2', SnapshotId: undefined });
    expect(input.registerImage).toMatchObject({
      Architecture: 'x86_64',
      VirtualizationType: 'hvm',
      BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, VolumeSize: 4 } }],
    });
  });
});

describe('mount_path at submit', () => {
  // A path with ".." segments is the model's to refuse, before planning.
  it.each(['/etc', '/mnt/packer-amazon-chroot-volumes', '/var/lib/{{.Device}}', '/mnt/packer-amazon-chroot-volumes-other/x'])(
    'refuses %s: it is not inside the hosts\' mount root',
    (mountPath) => {
      const problems = problemsOf(() => plan({ mount_path: mountPath }));
      expect(problems).toContainEqual({ path: 'builders[0].mount_path', message: expect.stringContaining("must lie inside the hosts' mount root") as unknown });
    },
  );

  it('accepts a path below the mount root, and one below the deployment\'s own root', () => {
    expect(() => plan({ mount_path: '/mnt/packer-amazon-chroot-volumes/builds/{{.Device}}' })).not.toThrow();
    expect(() => plan({ mount_path: '/srv/chroots/{{.Device}}' }, SOURCE, { mountRoot: '/srv/chroots' })).not.toThrow();
  });
});

describe('distribution in the build region', () => {
  const NOW = new Date('2024-05-06T07:08:09Z');
  /** A source whose only snapshot is the root one, which the build replaces with its own. */
  const ROOT_ONLY: Image = { ...SOURCE, BlockDeviceMappings: SOURCE.BlockDeviceMappings?.filter((mapping) => mapping.DeviceName !== '/dev/xvdb') };
  const ORG = 'arn:aws:organizations::111122223333:organization/o-abcdefghij';
  const OU = 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdef3456';

  it('asks for nothing when the template shares, codes, deprecates and protects nothing', () => {
    expect(plan({}).distribution).toEqual({
      launchPermission: null,
      snapshotPermission: null,
      productCodes: null,
      deprecateAt: null,
      deregistrationProtection: null,
      images: [{ kind: 'build', accountId: expect.any(String) as string, region: 'eu-west-1' }],
      skipSaveBuildRegion: false,
    });
  });

  it('writes one launch permission change for ami_users, ami_groups, ami_org_arns and ami_ou_arns, each once', () => {
    const input = plan({ ami_users: ['210987654321', '345678901234', '210987654321'], ami_groups: ['all'], ami_org_arns: [ORG], ami_ou_arns: [OU] });
    expect(input.distribution.launchPermission).toEqual({
      Add: [{ UserId: '210987654321' }, { UserId: '345678901234' }, { Group: 'all' }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }],
    });
  });

  it('shares the build\'s snapshot with snapshot_users and snapshot_groups, in the form OperationType + UserIds/GroupNames', () => {
    expect(plan({ snapshot_users: '210987654321,345678901234' }, ROOT_ONLY).distribution.snapshotPermission).toEqual({
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      UserIds: ['210987654321', '345678901234'],
    });
    expect(plan({ snapshot_groups: ['all'] }, ROOT_ONLY).distribution.snapshotPermission).toEqual({
      Attribute: 'createVolumePermission',
      OperationType: 'add',
      GroupNames: ['all'],
    });
  });

  it('refuses snapshot sharing for an image that maps snapshots the build did not make', () => {
    expect(problemsOf(() => plan({ snapshot_users: ['210987654321'] }))).toEqual([
      { path: 'builders[0].snapshot_users', message: expect.stringContaining('snap-0data (/dev/xvdb)') as string },
    ]);
    expect(
      problemsOf(() =>
        plan(
          {
            snapshot_groups: ['all'],
            root_device_name: '/dev/xvda',
            root_volume_size: 8,
            ami_block_device_mappings: [
              { device_name: '/dev/xvda', volume_size: 8 },
              { device_name: '/dev/xvdf', snapshot_id: 'snap-0123456789abcdef0' },
            ],
          },
          ROOT_ONLY,
        ),
      ),
    ).toEqual([{ path: 'builders[0].snapshot_groups', message: expect.stringContaining('snap-0123456789abcdef0 (/dev/xvdf)') as string }]);
  });

  it('sets ami_product_codes, and refuses codes that are not codes or on a public image', () => {
    expect(plan({ ami_product_codes: ['abcdefghijklmnopqrstuvwxy'] }).distribution.productCodes).toEqual(['abcdefghijklmnopqrstuvwxy']);
    expect(problemsOf(() => plan({ ami_product_codes: ['ok123', 'no/such code'] }))).toEqual([
      { path: 'builders[0].ami_product_codes[1]', message: expect.stringContaining('is not a product code') as string },
    ]);
    expect(problemsOf(() => plan({ ami_product_codes: ['abc123'], ami_groups: ['all'] }))).toEqual([
      { path: 'builders[0].ami_groups', message: expect.stringContaining('cannot be made public') as string },
    ]);
  });

  it('deprecates at deprecate_at, in UTC, only between the submit and EC2\'s limit', () => {
    expect(plan({ deprecate_at: '2026-01-02T15:04:05+02:00' }, SOURCE, { now: NOW }).distribution.deprecateAt).toBe('2026-01-02T13:04:05.000Z');
    expect(problemsOf(() => plan({ deprecate_at: '2024-05-06T07:00:00Z' }, SOURCE, { now: NOW }))).toEqual([
      { path: 'builders[0].deprecate_at', message: expect.stringContaining('is in the past') as string },
    ]);
    expect(problemsOf(() => plan({ deprecate_at: '2034-05-07T00:00:00Z' }, SOURCE, { now: NOW }))).toEqual([
      { path: 'builders[0].deprecate_at', message: expect.stringContaining('more than 10 years away') as string },
    ]);
    // A public image may be deprecated at most 2 years ahead.
    expect(problemsOf(() => plan({ deprecate_at: '2027-01-01T00:00:00Z', ami_groups: ['all'] }, SOURCE, { now: NOW }))).toEqual([
      { path: 'builders[0].deprecate_at', message: expect.stringContaining('more than 2 years away: EC2\'s limit for a public image') as string },
    ]);
  });

  it('protects the image from deregistration when enabled, with the cooldown asked for', () => {
    expect(plan({ deregistration_protection: { enabled: true } }).distribution.deregistrationProtection).toEqual({ WithCooldown: false });
    expect(plan({ deregistration_protection: { enabled: true, with_cooldown: true } }).distribution.deregistrationProtection).toEqual({ WithCooldown: true });
    expect(plan({ deregistration_protection: { enabled: false } }).distribution.deregistrationProtection).toBeNull();
  });
});

describe('copies to other regions and accounts', () => {
  it('copies into each ami_regions region but the build region, with the template\'s keys and pacing, and its tags', () => {
    const input = plan({
      encrypt_boot: true,
      kms_key_id: 'alias/images',
      ami_regions: ['eu-west-1', 'us-east-1', 'eu-central-1'],
      region_kms_key_ids: { 'eu-west-1': '', 'us-east-1': 'alias/images-us', 'eu-central-1': '' },
      snapshot_copy_duration_minutes: 60,
      tags: { os: 'debian' },
    });
    const copies = input.distribution.images.filter((image) => image.kind === 'copy');
    expect(copies.map((copy) => copy.region)).toEqual(['eu-central-1', 'us-east-1']);
    expect(copies[1]?.copyImage).toMatchObject({ SourceRegion: 'eu-west-1', Encrypted: true, KmsKeyId: 'alias/images-us', SnapshotCopyCompletionDurationMinutes: 60 });
    expect(copies[1]?.imageTags).toContainEqual({ Key: 'os', Value: 'debian' });
    expect(copies[1]?.imageTags).toContainEqual({ Key: 'ami-factory:build-id', Value: expect.any(String) as string });
    // The build region alone asks for no copy, with or without region set.
    expect(plan({ ami_regions: ['eu-west-1'] }).distribution.images).toHaveLength(1);
    expect(plan({ region: 'eu-west-1', ami_regions: ['eu-west-1'] }).distribution.images).toHaveLength(1);
  });

  it('keeps the build region image only in the copies with skip_save_build_region', () => {
    expect(plan({ ami_regions: ['us-east-1'], skip_save_build_region: true }).distribution.skipSaveBuildRegion).toBe(true);
  });
});

describe('factory tags', () => {
  it('puts the bake key, when given, on the volume, the snapshot and the image', () => {
    const key = 'a'.repeat(64);
    const input = plan({}, SOURCE, { bakeKey: key });
    for (const request of [input.createVolume, input.createSnapshot, input.registerImage]) {
      expect(request.TagSpecifications?.[0]?.Tags).toContainEqual({ Key: 'ami-factory:bake-key', Value: key });
    }
    const without = plan({});
    expect(without.registerImage.TagSpecifications?.[0]?.Tags?.map((tag) => tag.Key)).not.toContain('ami-factory:bake-key');
  });
});
