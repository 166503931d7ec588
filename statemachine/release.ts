/**
 * Every image of a release, in parallel: the build region's as it is, and each copy
 * (`distribution.images`, planned by functions/lib/release-plan.ts) made by regional calls in
 * its region and account: CopyImage, wait until available, tag the copy and its snapshots with
 * its own ids, then product codes, deprecation, sharing and deregistration protection, as in
 * the build region. A copy that fails is removed again and reported `failed` with its error;
 * the others go on, and the release's images are reported one entry each, failed ones too.
 *
 * Used by the build workflow after the build region's distribution, and by the
 * distribute-image workflow that re-distributes an existing image.
 */
import { BUILD_FAILED, ec2Task, isOneOf, pollStart, pollUntil, publishEvent, regionalCall, whenPresent, type State, type States } from './asl.ts';
import { BUILD_DISTRIBUTED } from '../contract/events.ts';
import type { RegionalAction } from '../contract/regional-call.ts';

const COPY_FAILED = 'Copy failed';
/** The release's own failures (not a copy's) fail the build, as every other step's. */
const CATCH_ALL = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: BUILD_FAILED }];
const MAX_ATTEMPTS = '$.polling.maxAttempts';

/** A regional call in the copy's region and account; any failure removes the copy. */
function onTheCopy(
  action: RegionalAction,
  parameters: Record<string, unknown> | { path: string },
  next: string,
  options: { comment?: string; resultSelector?: Record<string, unknown>; resultPath?: string | null; retryOn?: string[] } = {},
): State {
  return regionalCall({ action, target: '$.image', parameters, next, failTo: COPY_FAILED, resultPath: options.resultPath ?? null, ...options });
}

/** The Map's iteration: one image of the release. */
const eachImage: States = {
  'Build region image?': {
    Type: 'Choice',
    Comment: 'The build region\'s image is the release\'s first, made and distributed already; every other item is a copy to make.',
    Choices: [{ Variable: '$.image.kind', StringEquals: 'build', Next: 'The build region image' }],
    Default: 'Copy the image',
  },
  'The build region image': {
    Type: 'Pass',
    Parameters: {
      'region.$': '$.image.region',
      'accountId.$': '$.image.accountId',
      'imageId.$': '$.built.ImageId',
      'snapshotIds.$': 'States.Array($.built.SnapshotId)',
      state: 'available',
    },
    End: true,
  },
  'Copy the image': onTheCopy('CopyImage', { path: 'States.JsonMerge($.image.copyImage, $.source, false)' }, pollStart('copy'), {
    comment:
      'Called in the copy\'s region (CopyImage pulls from SourceRegion), as the target account in copy mode: the build region\'s image is shared with it first. Its ClientToken makes a repeated call return the same copy.',
    resultSelector: { 'ImageId.$': '$.ImageId' },
    resultPath: '$.copied',
  }),
  ...pollUntil({
    what: 'copy',
    decision: 'Copy available?',
    describe: { action: 'DescribeImages', parameters: {}, item: '$.Images' },
    describeWith: ({ comment, resultSelector, resultPath, next }) =>
      onTheCopy('DescribeImages', { 'ImageIds.$': 'States.Array($.copied.ImageId)' }, next, {
        comment: comment ?? 'A new copy may be unknown to a describe for a moment: that error is retried.',
        resultSelector,
        resultPath,
        retryOn: ['InvalidAMIID.NotFound'],
      }),
    done: isOneOf('$.observed.item.State', ['available']),
    failed: {
      rule: isOneOf('$.observed.item.State', ['failed', 'error', 'invalid', 'deregistered']),
      error: 'CopyFailed',
      cause: { format: 'copy {} in {} went to the {} state', args: ['$.copied.ImageId', '$.image.region', '$.observed.item.State'] },
    },
    intervalPath: '$.polling.image',
    maxAttemptsPath: MAX_ATTEMPTS,
    timedOut: {
      error: 'CopyNotAvailable',
      cause: { format: 'copy {} in {} is still {} after {} polls', args: ['$.copied.ImageId', '$.image.region', '$.observed.item.State', '$.poll.attempts'] },
    },
    failTo: COPY_FAILED,
    next: 'Record the copy',
  }),
  'Record the copy': {
    Type: 'Pass',
    Comment: 'The copy\'s own ids: its snapshots are new ones, made by the copy.',
    Parameters: {
      'ImageId.$': '$.copied.ImageId',
      'snapshotIds.$': '$.observed.item.SnapshotIds',
      rootSnapshot: { 'SnapshotId.$': '$.observed.item.RootSnapshotId' },
    },
    ResultPath: '$.copied',
    Next: 'Tag the copy',
  },
  'Tag the copy': onTheCopy('CreateTags', { 'Resources.$': 'States.Array($.copied.ImageId)', 'Tags.$': '$.image.imageTags' }, 'Tag the copy snapshots', {
    comment: 'CopyImage copies no tags: the build\'s tags (build id, team, bake key, family, the template\'s) go on the copy, so clean-up and the lifecycle find it.',
  }),
  'Tag the copy snapshots': onTheCopy('CreateTags', { 'Resources.$': '$.copied.snapshotIds', 'Tags.$': '$.image.snapshotTags' }, 'Set the copy product codes?'),
  'Set the copy product codes?': whenPresent('$.image.productCodes', 'Set the copy product codes', 'Deprecate the copy?', 'ami_product_codes, before any sharing as in the build region.'),
  'Set the copy product codes': onTheCopy(
    'ModifyImageAttribute',
    { 'ImageId.$': '$.copied.ImageId', 'ProductCodes.$': '$.image.productCodes' },
    'Deprecate the copy?',
  ),
  'Deprecate the copy?': whenPresent('$.image.deprecateAt', 'Deprecate the copy', 'Share the copy?', 'deprecate_at: the release is deprecated everywhere at once.'),
  'Deprecate the copy': onTheCopy('EnableImageDeprecation', { 'ImageId.$': '$.copied.ImageId', 'DeprecateAt.$': '$.image.deprecateAt' }, 'Share the copy?'),
  'Share the copy?': whenPresent(
    '$.image.launchPermission',
    'Share the copy',
    'Share the copy snapshot?',
    'The template\'s ami_users, ami_groups, ami_org_arns and ami_ou_arns, and the share targets in this region.',
  ),
  'Share the copy': onTheCopy(
    'ModifyImageAttribute',
    { 'ImageId.$': '$.copied.ImageId', 'LaunchPermission.$': '$.image.launchPermission' },
    'Share the copy snapshot?',
  ),
  'Share the copy snapshot?': whenPresent(
    '$.image.snapshotPermission',
    'Share the copy snapshot',
    'Protect the copy?',
    'snapshot_users and snapshot_groups, and the share targets in this region: create-volume permission on the copy\'s root snapshot.',
  ),
  'Share the copy snapshot': onTheCopy(
    'ModifySnapshotAttribute',
    { path: 'States.JsonMerge($.image.snapshotPermission, $.copied.rootSnapshot, false)' },
    'Protect the copy?',
  ),
  'Protect the copy?': whenPresent('$.image.deregistrationProtection', 'Protect the copy', 'Copy made', 'deregistration_protection, last as in the build region.'),
  'Protect the copy': onTheCopy(
    'EnableImageDeregistrationProtection',
    { 'ImageId.$': '$.copied.ImageId', 'WithCooldown.$': '$.image.deregistrationProtection.WithCooldown' },
    'Copy made',
  ),
  'Copy made': {
    Type: 'Pass',
    Parameters: {
      'region.$': '$.image.region',
      'accountId.$': '$.image.accountId',
      'imageId.$': '$.copied.ImageId',
      'snapshotIds.$': '$.copied.snapshotIds',
      state: 'available',
    },
    End: true,
  },
  [COPY_FAILED]: {
    Type: 'Choice',
    Comment: 'A copy that EC2 gave an id is removed: a half-made copy (untagged, unshared) must not stay behind.',
    Choices: [{ And: [{ Variable: '$.copied.ImageId', IsPresent: true }, { Variable: '$.copied.ImageId', IsNull: false }], Next: 'Remove the failed copy' }],
    Default: 'Report the failed copy',
  },
  'Remove the failed copy': regionalCall({
    comment: 'DeleteAssociatedSnapshots: the copy\'s snapshots go with it, also those of a copy still pending. A removal that fails is reported with the copy.',
    action: 'DeregisterImage',
    target: '$.image',
    parameters: { 'ImageId.$': '$.copied.ImageId', DeleteAssociatedSnapshots: true },
    resultPath: null,
    next: 'Report the failed copy',
    failTo: 'Report the copy left behind',
  }),
  'Report the copy left behind': {
    Type: 'Pass',
    Comment: 'The removal\'s error replaces the copy\'s in the report: the image id says what to remove by hand.',
    Parameters: { 'Error.$': '$.error.Error', 'Cause.$': "States.Format('the copy failed and could not be removed: {}', $.error.Cause)" },
    ResultPath: '$.error',
    Next: 'Report the failed copy',
  },
  'Report the failed copy': {
    Type: 'Pass',
    Parameters: {
      'region.$': '$.image.region',
      'accountId.$': '$.image.accountId',
      'imageId.$': '$.copied.ImageId',
      snapshotIds: [],
      state: 'failed',
      'error.$': '$.error.Error',
      'cause.$': '$.error.Cause',
    },
    End: true,
  },
};

/**
 * The release's states: each image in parallel, then skip_save_build_region's deregistration
 * of the build region's image once every copy is available. The images end up in `$.images`.
 */
export function releaseStates(next: string): States {
  return {
    'Each image of the release': {
      Type: 'Map',
      Comment:
        'The build region\'s image and every copy (ami_regions, share targets\' regions, copy targets), 20 at a time. A failed copy is reported in its entry; it does not fail the build, whose image stands.',
      ItemsPath: '$.distribution.images',
      ItemSelector: {
        'image.$': '$$.Map.Item.Value',
        'buildId.$': '$.buildId',
        'polling.$': '$.polling',
        built: { 'ImageId.$': '$.image.ImageId', 'SnapshotId.$': '$.snapshot.SnapshotId' },
        source: { 'SourceImageId.$': '$.image.ImageId' },
        copied: { ImageId: null },
      },
      // EC2 runs a bounded number of concurrent copies per destination region, and throttles
      // bursts of calls: a release of up to 100 images makes 20 at a time.
      MaxConcurrency: 20,
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: 'Build region image?',
        States: eachImage,
      },
      ResultPath: '$.images',
      // Each image catches its own failures; what still fails the Map (the engine's own error)
      // fails the build, and the clean-up function removes its copies.
      Catch: CATCH_ALL,
      Next: 'Keep the build region image?',
    },
    'Keep the build region image?': {
      Type: 'Choice',
      Comment: 'skip_save_build_region: the image stays only in its copies, but only once every copy is available; otherwise it is kept.',
      Choices: [{ Variable: '$.distribution.skipSaveBuildRegion', BooleanEquals: true, Next: 'Every copy available?' }],
      Default: next,
    },
    'Every copy available?': {
      Type: 'Map',
      Comment: 'Lists the images\' states, one string each, so the decision needs no wildcard path (engines read one differently).',
      ItemsPath: '$.images',
      ItemSelector: { 'state.$': '$$.Map.Item.Value.state' },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: 'Its state',
        States: { 'Its state': { Type: 'Pass', OutputPath: '$.state', End: true } },
      },
      ResultSelector: { 'anyFailed.$': "States.ArrayContains($, 'failed')" },
      ResultPath: '$.release',
      Catch: CATCH_ALL,
      Next: 'Remove the build region image?',
    },
    'Remove the build region image?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.release.anyFailed', BooleanEquals: false, Next: 'Deregister the build region image' }],
      Default: next,
    },
    'Deregister the build region image': ec2Task('deregisterImage', {
      comment: 'The build region\'s own SDK integration. A failure keeps the image, reported as available: the release stands without its removal.',
      parameters: { 'ImageId.$': '$.image.ImageId' },
      resultPath: null,
      next: 'Delete the build region snapshot',
      onFailure: { resultPath: '$.release.keptBecause', next },
    }),
    'Delete the build region snapshot': ec2Task('deleteSnapshot', {
      parameters: { 'SnapshotId.$': '$.snapshot.SnapshotId' },
      resultPath: null,
      next: 'Mark the build region image deregistered',
      onFailure: { resultPath: '$.release.snapshotKeptBecause', next: 'Mark the build region image deregistered' },
    }),
    'Mark the build region image deregistered': {
      Type: 'Map',
      Comment: 'Rewrites the build region\'s entry of the report; the copies\' entries pass through.',
      ItemsPath: '$.images',
      ItemSelector: { 'entry.$': '$$.Map.Item.Value', 'build.$': '$.image.ImageId' },
      ItemProcessor: {
        ProcessorConfig: { Mode: 'INLINE' },
        StartAt: 'The deregistered image?',
        States: {
          'The deregistered image?': {
            Type: 'Choice',
            Choices: [{ Variable: '$.entry.imageId', StringEqualsPath: '$.build', Next: 'Deregistered' }],
            Default: 'Unchanged',
          },
          Deregistered: {
            Type: 'Pass',
            Parameters: { 'region.$': '$.entry.region', 'accountId.$': '$.entry.accountId', 'imageId.$': '$.entry.imageId', 'snapshotIds.$': '$.entry.snapshotIds', state: 'deregistered' },
            End: true,
          },
          Unchanged: { Type: 'Pass', OutputPath: '$.entry', End: true },
        },
      },
      ResultPath: '$.images',
      Catch: CATCH_ALL,
      Next: next,
    },
  };
}

/** Build Distributed: every image of the release (`$.result.amis`), for the build `$.announced` names. */
export function announceDistribution(comment: string, next: string): State {
  return publishEvent({
    comment,
    detailType: BUILD_DISTRIBUTED,
    detail: {
      'buildId.$': '$.announced.buildId',
      'team.$': '$.announced.team',
      'amiName.$': '$.announced.amiName',
      'amis.$': '$.result.amis',
    },
    next,
  });
}
