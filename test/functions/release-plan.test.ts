/**
 * The release plan: Packer's ami_regions and the factory's targets turned into the build
 * region's sharing and one copy per region and account, with the problems a hostile or
 * mistaken request can make refused by field path.
 */
import { describe, expect, it } from 'vitest';
import type { FieldError } from '../../contract/field-errors.ts';
import type { ImageCopy } from '../../contract/execution.ts';
import { planRelease, type CopyOptions, type ReleaseInputs } from '../../functions/lib/release-plan.ts';

const FACTORY = '111111111111';
const TARGET = '222222222222';
const OTHER = '333333333333';
const BUILD = { accountId: FACTORY, region: 'us-east-1' };
const TAGS = [{ Key: 'ami-factory:build-id', Value: 'b-1' }];

const options = (copies: Partial<CopyOptions> = {}): CopyOptions => ({
  name: 'web',
  description: 'the web image',
  regions: [],
  regionKmsKeyIds: {},
  encrypt: false,
  skipSaveBuildRegion: false,
  ...copies,
});

function plan(inputs: Partial<ReleaseInputs> & { copies?: CopyOptions }): { release: ReturnType<typeof planRelease>; problems: FieldError[] } {
  const problems: FieldError[] = [];
  const release = planRelease({
    copies: options(),
    buildId: 'b-1',
    build: BUILD,
    targets: [],
    buildRegion: { launchPermission: null, snapshotPermission: null, productCodes: null, deprecateAt: null, deregistrationProtection: null },
    imageTags: TAGS,
    snapshotTags: TAGS,
    encryptedWithManagedKey: false,
    builderPath: (...keys) => `builders[0].${keys.join('.')}`,
    add: (path, message) => problems.push({ path, message }),
    ...inputs,
  });
  return { release, problems };
}

const copies = (release: ReturnType<typeof planRelease>): ImageCopy[] => release.images.filter((image): image is ImageCopy => image.kind === 'copy');
const where = (release: ReturnType<typeof planRelease>): string[] => copies(release).map((copy) => `${copy.accountId}/${copy.region}`);

describe('the release plan', () => {
  it('starts with the build region image and makes nothing else when nothing is asked', () => {
    const { release, problems } = plan({});
    expect(problems).toEqual([]);
    expect(release.images).toEqual([{ kind: 'build', ...BUILD }]);
    expect(release.buildRegion).toEqual({ launchPermission: null, snapshotPermission: null });
  });

  it('copies into each of ami_regions with Packer\'s encryption rules, tagged from birth, idempotent', () => {
    const { release, problems } = plan({
      copies: options({ regions: ['us-east-1', 'eu-west-1', 'us-west-2'], encrypt: true, regionKmsKeyIds: { 'eu-west-1': 'alias/images', 'us-west-2': '' }, snapshotCopyDurationMinutes: 30 }),
      buildRegion: { launchPermission: { Add: [{ UserId: OTHER }] }, snapshotPermission: null, productCodes: ['abc'], deprecateAt: '2030-01-01T00:00:00.000Z', deregistrationProtection: { WithCooldown: true } },
    });
    expect(problems).toEqual([]);
    // The build region itself is not copied to.
    expect(where(release)).toEqual([`${FACTORY}/eu-west-1`, `${FACTORY}/us-west-2`]);
    const [eu, west] = copies(release);
    expect(eu?.copyImage).toMatchObject({ Name: 'web', Description: 'the web image', SourceRegion: 'us-east-1', Encrypted: true, KmsKeyId: 'alias/images', SnapshotCopyCompletionDurationMinutes: 30 });
    expect(eu?.copyImage.TagSpecifications).toEqual([{ ResourceType: 'image', Tags: TAGS }, { ResourceType: 'snapshot', Tags: TAGS }]);
    // "" is the region's default key: encrypted, no key named.
    expect(west?.copyImage.Encrypted).toBe(true);
    expect(west?.copyImage).not.toHaveProperty('KmsKeyId');
    // As Packer, the template's sharing, product codes, deprecation and protection apply in every region.
    expect(eu).toMatchObject({ launchPermission: { Add: [{ UserId: OTHER }] }, productCodes: ['abc'], deprecateAt: '2030-01-01T00:00:00.000Z', deregistrationProtection: { WithCooldown: true } });
    expect(eu?.copyImage.ClientToken).toMatch(/^[0-9a-f]{64}$/);
    expect(eu?.copyImage.ClientToken).not.toBe(west?.copyImage.ClientToken);
    expect(plan({ copies: options({ regions: ['eu-west-1'] }) }).release.images[1]).toMatchObject({ copyImage: { ClientToken: eu?.copyImage.ClientToken } });
  });

  it('shares with an account in the build region, and makes a copy to share in another region', () => {
    const { release, problems } = plan({ targets: [{ account: TARGET, region: 'us-east-1', mode: 'share' }, { account: OTHER, region: 'eu-west-1', mode: 'share' }] });
    expect(problems).toEqual([]);
    expect(release.buildRegion).toEqual({
      launchPermission: { Add: [{ UserId: TARGET }] },
      snapshotPermission: { Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [TARGET] },
    });
    expect(where(release)).toEqual([`${FACTORY}/eu-west-1`]);
    expect(copies(release)[0]).toMatchObject({
      launchPermission: { Add: [{ UserId: OTHER }] },
      snapshotPermission: { Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [OTHER] },
    });
  });

  it('shares the build region image with a copy-mode account, which copies it into its own region', () => {
    const { release, problems } = plan({
      targets: [{ account: TARGET, region: 'ap-southeast-2', mode: 'copy' }],
      buildRegion: { launchPermission: { Add: [{ Group: 'all' }] }, snapshotPermission: null, productCodes: null, deprecateAt: null, deregistrationProtection: null },
    });
    expect(problems).toEqual([]);
    expect(release.buildRegion.launchPermission).toEqual({ Add: [{ Group: 'all' }, { UserId: TARGET }] });
    expect(release.buildRegion.snapshotPermission).toMatchObject({ UserIds: [TARGET] });
    expect(where(release)).toEqual([`${TARGET}/ap-southeast-2`]);
    // The target owns its copy: the factory's sharing is not the target's.
    expect(copies(release)[0]).toMatchObject({ copyImage: { SourceRegion: 'us-east-1' }, launchPermission: null, snapshotPermission: null, imageTags: TAGS });
  });

  it('treats a target in the factory\'s own account as a copy, and one in the build region as the build image', () => {
    const { release } = plan({ targets: [{ region: 'us-west-2', mode: 'share' }, { account: FACTORY, region: 'us-east-1', mode: 'copy' }], copies: options({ regions: ['us-west-2'] }) });
    expect(where(release)).toEqual([`${FACTORY}/us-west-2`]);
  });

  it('refuses what cannot work, every problem at once, by field path', () => {
    const { problems } = plan({
      copies: options({ skipSaveBuildRegion: true }),
      targets: [{ account: TARGET, region: 'us-east-1', mode: 'share' }, { account: OTHER, region: 'eu-west-1', mode: 'copy' }, { account: OTHER, region: 'eu-west-1', mode: 'copy' }],
      encryptedWithManagedKey: true,
    });
    expect(problems.map((problem) => problem.path).sort()).toEqual(['builders[0].skip_save_build_region', 'targets', 'targets', 'targets[2]']);
    expect(problems.find((problem) => problem.path === 'targets[2]')?.message).toMatch(/named twice/);
    expect(problems.map((problem) => problem.message).join('\n')).toMatch(/AWS managed key/);
    expect(problems.map((problem) => problem.message).join('\n')).toMatch(/skip_save_build_region removes/);
  });

  it('keeps a release within its bound', () => {
    const regions = Array.from({ length: 120 }, (_, index) => `xx-test-${index + 1}`);
    const { problems } = plan({ copies: options({ regions }) });
    expect(problems).toEqual([{ path: 'targets', message: expect.stringMatching(/at most 100/) as string }]);
  });
});
