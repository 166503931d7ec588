import { describe, expect, it } from 'vitest';
import { baseBuilder, errorsOf, expectErrors, NOW_SECONDS, parse, template } from './support.ts';

const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_ARN = `arn:aws:kms:us-east-1:123456789012:key/${KEY_ID}`;
const ORG_ARN = 'arn:aws:organizations::123456789012:organization/o-abcdefghij';
const OU_ARN = 'arn:aws:organizations::123456789012:ou/o-abcdefghij/ou-ab12-abcdefgh';
const FROM_SCRATCH = {
  source_ami: undefined,
  from_scratch: true,
  pre_mount_commands: ['parted {{.Device}} mklabel msdos', 'mkfs.ext4 {{.Device}}1'],
  root_device_name: '/dev/xvda',
  ami_virtualization_type: 'hvm',
  root_volume_size: 8,
  ami_block_device_mappings: [{ device_name: '/dev/xvda', volume_type: 'gp3', delete_on_termination: true }],
};

function builderOf(patch: Record<string, unknown>) {
  return parse(template(patch)).builder;
}

describe('builder defaults', () => {
  it('applies Packer defaults to a minimal builder', () => {
    const builder = builderOf({});
    expect(builder).toMatchObject({
      type: 'amazon-chroot',
      name: 'amazon-chroot',
      ami_name: `base-${NOW_SECONDS}`,
      ami_description: '',
      sriov_support: false,
      force_deregister: false,
      force_delete_snapshot: false,
      from_scratch: false,
      copy_files: ['/etc/resolv.conf'],
      command_wrapper: '{{.Command}}',
      mount_path: '/mnt/packer-amazon-chroot-volumes/{{.Device}}',
      mount_partition: '1',
      mount_options: [],
      pre_mount_commands: [],
      post_mount_commands: [],
      tags: {},
      snapshot_tags: {},
      root_volume_tags: {},
      ami_regions: [],
      ami_block_device_mappings: [],
      deregistration_protection: { enabled: false, with_cooldown: false },
      max_retries: 10,
    });
    expect(builder.chroot_mounts).toEqual([
      ['proc', 'proc', '/proc'],
      ['sysfs', 'sysfs', '/sys'],
      ['bind', '/dev', '/dev'],
      ['devpts', 'devpts', '/dev/pts'],
      ['binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc'],
    ]);
    expect(builder.ami_architecture).toBeUndefined();
    expect(builder.root_volume_type).toBeUndefined();
  });

  it('gives from_scratch builds no copy_files, a gp2 volume and x86_64', () => {
    const builder = builderOf(FROM_SCRATCH);
    expect(builder.copy_files).toEqual([]);
    expect(builder.root_volume_type).toBe('gp2');
    expect(builder.ami_architecture).toBe('x86_64');
    expect(builder.pre_mount_commands).toEqual(FROM_SCRATCH.pre_mount_commands);
  });

  it('treats an empty chroot_mounts list as the default, as Packer does', () => {
    expect(builderOf({ chroot_mounts: [] }).chroot_mounts).toHaveLength(5);
    expect(builderOf({ chroot_mounts: [['tmpfs', 'none', '/tmp']] }).chroot_mounts).toEqual([['tmpfs', 'none', '/tmp']]);
  });
});

interface GoodCase {
  name: string;
  patch: Record<string, unknown>;
  expect: Record<string, unknown>;
}

const GOOD: GoodCase[] = [
  { name: 'integer mount_partition becomes a string', patch: { mount_partition: 0 }, expect: { mount_partition: '0' } },
  { name: 'string mount_partition', patch: { mount_partition: '2' }, expect: { mount_partition: '2' } },
  {
    name: 'weakly typed numbers and booleans, as mapstructure decodes them',
    patch: { root_volume_size: '20', sriov_support: 'true', ena_support: 'false' },
    expect: { root_volume_size: 20, sriov_support: true, ena_support: false },
  },
  {
    name: 'null and "" mean unset',
    patch: { kms_key_id: '', ami_description: null, access_key: '', secret_key: null, boot_mode: '' },
    expect: { kms_key_id: undefined, ami_description: '', boot_mode: undefined },
  },
  {
    name: 'tags and tag merge',
    patch: { tags: { Name: 'x', Build: 3 }, tag: [{ key: 'Team', value: 'infra' }] },
    expect: { tags: { Name: 'x', Build: '3', Team: 'infra' } },
  },
  {
    name: 'snapshot and root volume tags merge',
    patch: { snapshot_tag: [{ key: 'a', value: '1' }], root_volume_tags: { b: '2' }, root_volume_tag: [{ key: 'c', value: '3' }] },
    expect: { snapshot_tags: { a: '1' }, root_volume_tags: { b: '2', c: '3' } },
  },
  {
    name: 'source_ami_filter with owner aliases',
    patch: {
      source_ami: undefined,
      source_ami_filter: { filters: { name: 'debian-12-*' }, owners: ['self', 'amazon', 'aws-marketplace', '136693071363'] },
    },
    expect: {
      source_ami_filter: {
        filters: { name: 'debian-12-*' },
        owners: ['self', 'amazon', 'aws-marketplace', '136693071363'],
        most_recent: false,
        include_deprecated: false,
      },
    },
  },
  {
    name: 'region keys for every region; the build region leaves ami_regions',
    patch: {
      region: 'us-east-1',
      ami_regions: ['us-east-1', 'eu-west-1', 'eu-west-1'],
      encrypt_boot: true,
      region_kms_key_ids: { 'us-east-1': KEY_ARN, 'eu-west-1': 'alias/images' },
    },
    expect: { ami_regions: ['eu-west-1'], region: 'us-east-1' },
  },
  { name: 'comma-separated regions', patch: { ami_regions: 'eu-west-1, us-gov-west-1' }, expect: { ami_regions: ['eu-west-1', 'us-gov-west-1'] } },
  {
    name: 'sharing with accounts, organizations and OUs',
    patch: { ami_users: ['123456789012'], ami_org_arns: [ORG_ARN], ami_ou_arns: [OU_ARN], snapshot_users: ['210987654321'], ami_groups: ['all'] },
    expect: { ami_users: ['123456789012'], ami_groups: ['all'] },
  },
  {
    name: 'kms keys in every form Packer accepts',
    patch: { encrypt_boot: true, kms_key_id: 'mrk-1234abcd12ab34cd56ef1234567890ab', root_volume_encrypt_boot: true, root_volume_kms_key_id: KEY_ID },
    expect: { root_volume_kms_key_id: KEY_ID },
  },
  { name: 'with_cooldown implies enabled', patch: { deregistration_protection: { with_cooldown: true } }, expect: { deregistration_protection: { enabled: true, with_cooldown: true } } },
  { name: 'uefi, tpm and uefi data', patch: { boot_mode: 'uefi', tpm_support: 'v2.0', uefi_data: 'QU1aTlVFRkk=' }, expect: { boot_mode: 'uefi', tpm_support: 'v2.0' } },
  { name: 'uefi_data on arm64 without boot_mode (arm64 boots UEFI)', patch: { ami_architecture: 'arm64', uefi_data: 'QU1a' }, expect: { ami_architecture: 'arm64' } },
  { name: 'enhanced networking on HVM', patch: { ena_support: true, sriov_support: true, ami_virtualization_type: 'hvm' }, expect: { ena_support: true } },
  { name: 'imds_support v2.0', patch: { imds_support: 'v2.0' }, expect: { imds_support: 'v2.0' } },
  { name: 'deprecate_at with an offset', patch: { deprecate_at: '2030-02-28T23:59:59.5+02:00' }, expect: { deprecate_at: '2030-02-28T23:59:59.5+02:00' } },
  { name: 'snapshot copy duration', patch: { ami_regions: ['eu-west-1'], snapshot_copy_duration_minutes: 30 }, expect: { snapshot_copy_duration_minutes: 30 } },
  { name: 'force_delete_snapshot with force_deregister', patch: { force_deregister: true, force_delete_snapshot: true }, expect: { force_delete_snapshot: true } },
  {
    name: 'block device mappings replace the source mappings',
    patch: {
      root_device_name: '/dev/xvda',
      root_volume_size: 10,
      ami_block_device_mappings: [
        { device_name: '/dev/xvda', volume_type: 'gp3', iops: 4000, throughput: 250 },
        { device_name: '/dev/xvdb', volume_type: 'io2', iops: 1000, volume_size: 10, encrypted: true, kms_key_id: 'alias/data' },
        { device_name: '/dev/xvdc', virtual_name: 'ephemeral0' },
      ],
    },
    expect: { root_device_name: '/dev/xvda' },
  },
  { name: 'polling, retries and the AccessConfig options kept', patch: { aws_polling: { delay_seconds: 5, max_attempts: 200 }, max_retries: 3, skip_region_validation: true }, expect: { aws_polling: { delay_seconds: 5, max_attempts: 200 }, max_retries: 3 } },
  { name: 'ignored AccessConfig options', patch: { skip_metadata_api_check: true, skip_credential_validation: true, decode_authorization_messages: false }, expect: {} },
  { name: 'empty credentials are not credentials', patch: { access_key: '', token: '', assume_role: { role_arn: '' }, insecure_skip_tls_verify: false }, expect: {} },
  { name: 'an ami_name rendered into the allowed characters', patch: { ami_name: "debian (12) [x] a.b/c-d'e@f_g {{timestamp}}" }, expect: { ami_name: `debian (12) [x] a.b/c-d'e@f_g ${NOW_SECONDS}` } },
  { name: 'device paths', patch: { device_path: '/dev/xvdf', nvme_device_path: '/dev/nvme1n1' }, expect: { device_path: '/dev/xvdf' } },
  { name: 'a named build', patch: { name: 'debian' }, expect: { name: 'debian' } },
];

describe('valid builders', () => {
  it.each(GOOD)('$name', ({ patch, expect: expected }) => {
    expect(builderOf(patch)).toMatchObject(expected);
  });
});

interface BadCase {
  name: string;
  patch: Record<string, unknown>;
  /** [path under builders[0], message substring], in path order. */
  errors: [string, string][];
}

const BAD: BadCase[] = [
  { name: 'unknown option', patch: { ami_nmae: 'x' }, errors: [['ami_nmae', 'unknown configuration key "ami_nmae"; did you mean "ami_name"?']] },
  { name: 'missing ami_name', patch: { ami_name: undefined }, errors: [['ami_name', 'ami_name must be specified']] },
  { name: 'ami_name too short', patch: { ami_name: 'ab' }, errors: [['ami_name', '3 to 128 characters']] },
  { name: 'ami_name too long', patch: { ami_name: 'a'.repeat(129) }, errors: [['ami_name', '3 to 128 characters']] },
  { name: 'ami_name characters, after rendering', patch: { ami_name: 'x {{isotime}}' }, errors: [['ami_name', 'clean_resource_name']] },
  { name: 'neither source', patch: { source_ami: undefined }, errors: [['source_ami', 'source_ami or source_ami_filter is required']] },
  {
    name: 'both sources',
    patch: { source_ami_filter: { owners: ['self'], filters: { name: 'x' } } },
    errors: [['source_ami_filter', 'either source_ami or source_ami_filter, not both']],
  },
  { name: 'source_ami format', patch: { source_ami: 'ami-xyz' }, errors: [['source_ami', 'must be an AMI id']] },
  { name: 'filter without owners', patch: { source_ami: undefined, source_ami_filter: { filters: { name: 'x' } } }, errors: [['source_ami_filter.owners', 'owners is required']] },
  { name: 'filter owner format', patch: { source_ami: undefined, source_ami_filter: { owners: ['microsoft2'] } }, errors: [['source_ami_filter.owners[0]', '12-digit AWS account id or one of "self"']] },
  { name: 'filter unknown key', patch: { source_ami: undefined, source_ami_filter: { owners: ['self'], most_recnt: true } }, errors: [['source_ami_filter.most_recnt', 'unknown configuration key']] },
  {
    name: 'from_scratch with a source and nothing required',
    patch: { from_scratch: true, source_ami_filter: { owners: ['self'] } },
    errors: [
      ['ami_block_device_mappings', 'ami_block_device_mappings is required with from_scratch'],
      ['ami_virtualization_type', 'ami_virtualization_type is required with from_scratch'],
      ['pre_mount_commands', 'pre_mount_commands is required with from_scratch'],
      ['root_device_name', 'root_device_name is required with from_scratch'],
      ['root_volume_size', 'root_volume_size is required with from_scratch'],
      ['source_ami', 'must not be set with from_scratch'],
      ['source_ami_filter', 'must not be set with from_scratch'],
    ],
  },
  { name: 'from_scratch io1', patch: { ...FROM_SCRATCH, root_volume_type: 'io1' }, errors: [['root_volume_type', 'cannot be io1']] },
  { name: 'mappings without root_device_name', patch: { ami_block_device_mappings: [{ device_name: '/dev/xvda' }] }, errors: [['root_device_name', 'root_device_name is required when ami_block_device_mappings is set']] },
  { name: 'root_device_name without mappings', patch: { root_device_name: '/dev/xvda' }, errors: [['ami_block_device_mappings', 'required when root_device_name is set']] },
  {
    name: 'mappings and root_device_name without root_volume_size',
    patch: { root_device_name: '/dev/xvda', ami_block_device_mappings: [{ device_name: '/dev/xvda' }] },
    errors: [['root_volume_size', 'root_volume_size is required when ami_block_device_mappings is set']],
  },
  {
    name: 'no mapping for the root device',
    patch: { root_device_name: '/dev/xvda', root_volume_size: 8, ami_block_device_mappings: [{ device_name: '/dev/xvdb' }] },
    errors: [['root_device_name', 'no entry of ami_block_device_mappings has device_name "/dev/xvda"']],
  },
  {
    name: 'block device mapping rules',
    patch: {
      ...FROM_SCRATCH,
      ami_block_device_mappings: [
        { device_name: '/dev/xvda', volume_type: 'gp2', iops: 3000, throughput: 200 },
        { volume_type: 'gp3', iops: 100, throughput: 2000 },
        { device_name: '/dev/xvdc', volume_type: 'io1', iops: 1000, volume_size: 10 },
        { device_name: '/dev/xvdd', volume_type: 'io2' },
        { device_name: '/dev/xvda', encrypted: false, kms_key_id: 'alias/x', size: 3 },
      ],
    },
    errors: [
      ['ami_block_device_mappings[0].iops', 'iops is only valid for io1, io2 and gp3 volumes'],
      ['ami_block_device_mappings[0].throughput', 'throughput is only valid for gp3 volumes'],
      ['ami_block_device_mappings[1].device_name', 'device_name must be specified'],
      ['ami_block_device_mappings[1].iops', 'between 3000 and 16000'],
      ['ami_block_device_mappings[1].throughput', 'between 125 and 1000'],
      ['ami_block_device_mappings[2].iops', 'ratio'],
      ['ami_block_device_mappings[3].iops', 'iops is required for io2'],
      ['ami_block_device_mappings[4].size', 'unknown configuration key "size"'],
    ],
  },
  {
    name: 'duplicate mapped device and kms key without encryption',
    patch: { ...FROM_SCRATCH, ami_block_device_mappings: [{ device_name: '/dev/xvda' }, { device_name: '/dev/xvda', encrypted: false, kms_key_id: 'alias/x' }] },
    errors: [
      ['ami_block_device_mappings[1].device_name', 'already mapped by entry [0]'],
      ['ami_block_device_mappings[1].kms_key_id', 'needs "encrypted": true'],
    ],
  },
  {
    name: 'chroot_mounts entries are 3 strings',
    patch: { chroot_mounts: [['proc', 'proc', '/proc'], ['sysfs', '/sys'], ['a', 'b', 'c', 'd'], ['a', 1, '/x'], 'proc'] },
    errors: [
      ['chroot_mounts[1]', 'must be 3 strings'],
      ['chroot_mounts[2]', 'must be 3 strings'],
      ['chroot_mounts[3]', 'must be 3 strings'],
      ['chroot_mounts[4]', 'must be 3 strings'],
    ],
  },
  { name: 'chroot mountpoint escaping the chroot', patch: { chroot_mounts: [['bind', '/', '/../../root']] }, errors: [['chroot_mounts[0]', 'without ".." segments']] },
  { name: 'ena_support on paravirtual', patch: { ena_support: true, sriov_support: true, ami_virtualization_type: 'paravirtual' }, errors: [['ena_support', 'needs an HVM image'], ['sriov_support', 'needs an HVM image']] },
  { name: 'region names', patch: { region: 'US-EAST-1', ami_regions: ['eu-west-1', 'moon'] }, errors: [['ami_regions[1]', 'AWS region name'], ['region', 'AWS region name']] },
  { name: 'region key names', patch: { encrypt_boot: true, ami_regions: ['eu-west-1'], region_kms_key_ids: { 'eu-west-1': '', mars: '' } }, errors: [['region_kms_key_ids.mars', 'AWS region name']] },
  { name: 'account ids', patch: { ami_users: ['12345678901'], snapshot_users: ['self'] }, errors: [['ami_users[0]', '12-digit'], ['snapshot_users[0]', '12-digit']] },
  { name: 'organization ARNs', patch: { ami_org_arns: [OU_ARN], ami_ou_arns: [ORG_ARN] }, errors: [['ami_org_arns[0]', 'organization ARN'], ['ami_ou_arns[0]', 'OU ARN']] },
  { name: 'groups', patch: { ami_groups: ['public'], snapshot_groups: ['everyone'] }, errors: [['ami_groups[0]', '"all"'], ['snapshot_groups[0]', '"all"']] },
  { name: 'kms_key_id needs encrypt_boot', patch: { kms_key_id: KEY_ID }, errors: [['kms_key_id', 'kms_key_id needs encrypt_boot: true']] },
  { name: 'kms_key_id format', patch: { encrypt_boot: true, kms_key_id: 'my-key' }, errors: [['kms_key_id', 'must be a KMS key id']] },
  { name: 'root_volume_kms_key_id needs root_volume_encrypt_boot', patch: { root_volume_kms_key_id: KEY_ID, root_volume_encrypt_boot: false }, errors: [['root_volume_kms_key_id', 'needs root_volume_encrypt_boot: true']] },
  {
    name: 'region_kms_key_ids must match ami_regions',
    patch: { encrypt_boot: true, ami_regions: ['eu-west-1', 'us-west-2'], region_kms_key_ids: { 'eu-west-1': 'alias/a', 'ap-south-1': 'alias/b' } },
    errors: [
      ['ami_regions[1]', 'region us-west-2 has no entry in region_kms_key_ids'],
      ['region_kms_key_ids.ap-south-1', 'is in region_kms_key_ids but not in ami_regions'],
    ],
  },
  { name: 'region_kms_key_ids needs encrypt_boot', patch: { ami_regions: ['eu-west-1'], region_kms_key_ids: { 'eu-west-1': 'alias/a' } }, errors: [['region_kms_key_ids', 'region_kms_key_ids needs encrypt_boot: true']] },
  { name: 'sharing an AMI encrypted with the default key', patch: { encrypt_boot: true, ami_users: ['123456789012'] }, errors: [['ami_users', 'cannot share an AMI encrypted with the default KMS key']] },
  {
    name: 'sharing snapshots with a region default key',
    patch: { encrypt_boot: true, ami_regions: ['eu-west-1'], region_kms_key_ids: { 'eu-west-1': '' }, snapshot_users: ['123456789012'] },
    errors: [['region_kms_key_ids.eu-west-1', 'cannot share an snapshot encrypted with the default KMS key of eu-west-1']],
  },
  { name: 'public and encrypted', patch: { encrypt_boot: true, kms_key_id: 'alias/a', ami_groups: ['all'] }, errors: [['ami_groups', 'an encrypted image cannot be made public']] },
  { name: 'force_delete_snapshot without force_deregister', patch: { force_delete_snapshot: true }, errors: [['force_delete_snapshot', 'set force_deregister: true']] },
  { name: 'tpm_support value', patch: { boot_mode: 'uefi', tpm_support: 'v1.2' }, errors: [['tpm_support', 'the only valid tpm_support value is "v2.0"']] },
  { name: 'tpm_support needs uefi', patch: { boot_mode: 'uefi-preferred', tpm_support: 'v2.0' }, errors: [['tpm_support', 'needs boot_mode "uefi"']] },
  { name: 'uefi_data with legacy-bios', patch: { boot_mode: 'legacy-bios', uefi_data: 'QU1a' }, errors: [['uefi_data', 'needs boot_mode "uefi" or "uefi-preferred"']] },
  { name: 'uefi_data without boot_mode on x86_64', patch: { uefi_data: 'QU1a' }, errors: [['uefi_data', 'needs boot_mode']] },
  { name: 'boot_mode value', patch: { boot_mode: 'bios' }, errors: [['boot_mode', 'must be one of "legacy-bios", "uefi", "uefi-preferred"']] },
  { name: 'imds_support value', patch: { imds_support: 'v1.0' }, errors: [['imds_support', 'the only valid imds_support value is "v2.0"']] },
  { name: 'deprecate_at format', patch: { deprecate_at: '2030-02-30T00:00:00Z' }, errors: [['deprecate_at', 'RFC 3339']] },
  { name: 'deprecate_at needs a zone', patch: { deprecate_at: '2030-01-01 00:00:00' }, errors: [['deprecate_at', 'RFC 3339']] },
  { name: 'snapshot copy duration too short', patch: { snapshot_copy_duration_minutes: 10 }, errors: [['snapshot_copy_duration_minutes', 'at least 15']] },
  { name: 'snapshot copy duration not a multiple of 15', patch: { snapshot_copy_duration_minutes: 40 }, errors: [['snapshot_copy_duration_minutes', 'multiple of 15']] },
  { name: 'root_volume_type', patch: { root_volume_type: 'gp4' }, errors: [['root_volume_type', 'must be one of standard, io1, io2, gp2, gp3, sc1, st1']] },
  { name: 'root_volume_size', patch: { root_volume_size: 0 }, errors: [['root_volume_size', 'at least 1']] },
  { name: 'mount_partition', patch: { mount_partition: 'p1' }, errors: [['mount_partition', 'partition number']] },
  { name: 'mount_path escaping', patch: { mount_path: '/mnt/../etc/{{.Device}}' }, errors: [['mount_path', 'without ".." segments']] },
  { name: 'copy_files relative', patch: { copy_files: ['etc/hosts'] }, errors: [['copy_files[0]', 'absolute path']] },
  { name: 'architecture', patch: { ami_architecture: 'sparc' }, errors: [['ami_architecture', 'must be one of "x86_64"']] },
  {
    name: 'tags: reserved prefix, lengths and duplicates',
    patch: {
      tags: { 'aws:owner': 'x', [`k${'x'.repeat(128)}`]: 'v', long: 'v'.repeat(257) },
      tag: [{ key: 'long', value: 'again' }, { key: 'ok', value: 'v' }, { key: 'ok', value: 'w' }, { key: '', value: 'x' }],
    },
    errors: [
      ['tag[0].key', 'duplicate tag key "long": also set in tags'],
      ['tag[2].key', 'duplicate tag key "ok": also set in an earlier tag entry'],
      ['tag[3].key', 'tag key must not be empty'],
      ['tags["aws:owner"]', 'reserved by AWS'],
      [`tags.k${'x'.repeat(128)}`, 'at most 128 characters'],
      ['tags.long', 'at most 256 characters'],
    ],
  },
  {
    name: 'at most 50 tags',
    patch: { snapshot_tags: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
    errors: [['snapshot_tags', 'at most 50 tags are allowed (got 51)']],
  },
  { name: 'tag list shape', patch: { root_volume_tag: [{ key: 'a' }], tag: { key: 'x' } }, errors: [['root_volume_tag[0].value', 'must be a string'], ['tag', 'must be a list']] },
  { name: 'skip_save_build_region without copies', patch: { region: 'us-east-1', ami_regions: ['us-east-1'], skip_save_build_region: true }, errors: [['skip_save_build_region', 'the build would keep no image']] },
  { name: 'shape errors', patch: { sriov_support: 'yes', root_volume_size: 1.5, mount_options: 3 }, errors: [['mount_options', 'list of strings'], ['root_volume_size', 'whole number'], ['sriov_support', 'true or false']] },
  { name: 'aws_polling', patch: { aws_polling: { delay_seconds: 0, max_attemps: 3 } }, errors: [['aws_polling.delay_seconds', 'at least 1'], ['aws_polling.max_attemps', 'unknown configuration key']] },
  { name: 'device_path outside /dev', patch: { device_path: '/tmp/disk' }, errors: [['device_path', 'device path under /dev']] },
];

describe('invalid builders', () => {
  it.each(BAD)('$name', ({ patch, errors }) => {
    const found = errorsOf(() => parse(template(patch)));
    expectErrors(found, errors.map(([path, message]) => [`builders[0].${path}`.replace('.[', '['), message] as const));
  });
});

describe('credentials', () => {
  const REFUSED = ['access_key', 'secret_key', 'token', 'profile', 'shared_credentials_file', 'mfa_code', 'custom_endpoint_ec2'];

  it.each(REFUSED)('refuses %s', (option) => {
    expectErrors(errorsOf(() => parse(template({ [option]: 'something' }))), [
      [`builders[0].${option}`, 'the factory uses its own IAM roles and requests must not carry credentials'],
    ]);
  });

  it('refuses assume_role, vault_aws_engine and insecure TLS', () => {
    const errors = errorsOf(() =>
      parse(template({ assume_role: { role_arn: 'arn:aws:iam::123456789012:role/x' }, vault_aws_engine: { name: 'x' }, insecure_skip_tls_verify: true })),
    );
    expectErrors(errors, [
      ['builders[0].assume_role', 'must not carry credentials'],
      ['builders[0].insecure_skip_tls_verify', 'always verifies TLS'],
      ['builders[0].vault_aws_engine', 'must not carry credentials'],
    ]);
  });

  it('refuses credentials that arrive through a variable', () => {
    const json = template({ access_key: '{{user `key`}}' }, { variables: { key: '' } });
    expect(() => parse(json)).not.toThrow();
    expectErrors(errorsOf(() => parse(json, { vars: { key: 'AKIAEXAMPLE' } })), [['builders[0].access_key', 'must not carry credentials']]);
  });
});

describe('all errors at once', () => {
  it('runs cross-field rules while unrelated options have shape errors', () => {
    const errors = errorsOf(() =>
      parse(template({ root_volume_size: 'big', kms_key_id: KEY_ID, force_delete_snapshot: true, chroot_mounts: [['a']], bogus: 1 })),
    );
    expectErrors(errors, [
      ['builders[0].bogus', 'unknown configuration key'],
      ['builders[0].chroot_mounts[0]', 'must be 3 strings'],
      ['builders[0].force_delete_snapshot', 'force_deregister'],
      ['builders[0].kms_key_id', 'needs encrypt_boot'],
      ['builders[0].root_volume_size', 'whole number'],
    ]);
  });

  it('keeps a base builder valid', () => {
    expect(() => parse({ builders: [baseBuilder] })).not.toThrow();
  });
});
