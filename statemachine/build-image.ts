/**
 * The build-image workflow, step by step, as Packer's amazon-chroot builder runs it: claim a
 * host, create the volume in its zone, attach, provision in the chroot, snapshot (while the
 * volume is detached, released and deleted), register, tag, then product codes, deprecation, sharing and deregistration protection. It
 * announces the start (after the claim) and the success (at the end) on the factory's event
 * bus. build-image.asl.json is rendered from this (`npm run render:workflow`).
 *
 * Input, worker tasks and output follow docs/architecture.md. The workflow undoes nothing
 * itself: every failure names its error and fails, and the clean-up function, run when an
 * execution ends FAILED, TIMED_OUT or ABORTED, removes what the build left.
 */
import {
  askWorker,
  awaitResource,
  BUILD_FAILED,
  ec2Task,
  ec2TaskVariants,
  failWithTheError,
  publishEvent,
  raise,
  secretsTask,
  sendToWorker,
  whenPresent,
  type States,
} from './asl.ts';
import { renderJson } from './render-json.ts';
import { BUILD_STARTED, BUILD_SUCCEEDED } from '../contract/events.ts';
import { announceDistribution, releaseStates } from './release.ts';
import { BUILD_ID_TAG, INSTANCE_ARN_TAG, INSTANCE_ID_TAG, ROOT_SNAPSHOT_TAG } from '../contract/execution.ts';
import { VOLUME_POOL_TAG } from '../contract/volume-pool.ts';

const MAX_ATTEMPTS = '$.polling.maxAttempts';
/** The build region's distribution requests (contract/execution.ts), each null when not asked for. */
const DISTRIBUTION_REQUESTS = ['productCodes', 'deprecateAt', 'launchPermission', 'snapshotPermission', 'deregistrationProtection'] as const;
/** The release's first state (release.ts): every image, the copies made in parallel. */
const RELEASE = 'Each image of the release';

const claim: States = {
  'Claim a host': askWorker({
    comment:
      'Hosts pull claims only while they have a free slot, so this waits for capacity, up to claimSeconds. The answer names the host, its zone, its own queue and the device it leased for this build.',
    queueUrl: '${ClaimsQueueUrl}',
    messageBody: { task: 'claim', 'buildId.$': '$.buildId' },
    timeoutSecondsPath: '$.timeouts.claimSeconds',
    resultSelector: {
      'instanceId.$': '$.instanceId',
      'availabilityZone.$': '$.availabilityZone',
      'hostQueueUrl.$': '$.hostQueueUrl',
      'deviceName.$': '$.deviceName',
    },
    resultPath: '$.host',
    next: 'Owned by a team?',
  }),
  'Owned by a team?': whenPresent(
    '$.owner',
    'Name the build for its events',
    'Name the build for its events without a team',
    'Builds submitted through the API have an owner; one started directly may not, and its events carry team null.',
  ),
  'Name the build for its events': {
    Type: 'Pass',
    Comment: 'What every event of the build says about it (contract/events.ts), gathered once.',
    Parameters: { 'buildId.$': '$.buildId', 'team.$': '$.owner.team', 'amiName.$': '$.registerImage.Name' },
    ResultPath: '$.announced',
    Next: 'Announce the start',
  },
  'Name the build for its events without a team': {
    Type: 'Pass',
    Parameters: { 'buildId.$': '$.buildId', team: null, 'amiName.$': '$.registerImage.Name' },
    ResultPath: '$.announced',
    Next: 'Announce the start',
  },
  'Announce the start': publishEvent({
    comment: 'Build Started, once a host took the build: from here it is building, not waiting for capacity.',
    detailType: BUILD_STARTED,
    detail: {
      'buildId.$': '$.announced.buildId',
      'team.$': '$.announced.team',
      'amiName.$': '$.announced.amiName',
      targets: [{ 'region.$': '$.target.region', 'accountId.$': '$.target.accountId' }],
    },
    next: 'Hand the secret to the host?',
  }),
  'Hand the secret to the host?': {
    Type: 'Choice',
    Comment:
      'Only a build whose template has sensitive variables has a secret: their values, which the stored bundle does not hold. Without one, on to the volume at once: the pool first when the build has one (the same question as "A pooled volume?", asked here to spare an ordinary build a transition).',
    Choices: [
      { And: [{ Variable: '$.secret', IsPresent: true }, { Variable: '$.secret', IsNull: false }], Next: 'Tag the secret for the host' },
      { And: [{ Variable: '$.volumePool', IsPresent: true }, { Variable: '$.volumePool', IsNull: false }], Next: 'Look for a pooled volume' },
    ],
    Default: 'Which volume?',
  },
  'Tag the secret for the host': secretsTask('tagResource', {
    comment:
      'The worker role may read a build secret only when this tag is its own instance\'s ARN (ec2:SourceInstanceARN), so only the host that claimed the build can read it, and only from now on.',
    parameters: {
      'SecretId.$': '$.secret.id',
      Tags: [{ Key: INSTANCE_ARN_TAG, 'Value.$': 'States.Format(\'{}{}\', $.secret.instanceArnPrefix, $.host.instanceId)' }],
    },
    next: 'A pooled volume?',
  }),
};

/** The state names of one round of looking in the pool: the first, and the one after a lost race. */
interface PoolRound {
  look: string;
  any: string;
  pick: string;
  one: string;
  attach: string;
  /** Where a lost attach goes: another round, or a volume of the build's own. */
  lost: string;
}

const FIRST_ROUND: PoolRound = {
  look: 'Look for a pooled volume',
  any: 'Any pooled volume?',
  pick: 'Pick a pooled volume',
  one: 'The one pooled volume',
  attach: 'Attach the pooled volume',
  lost: 'Look again for a pooled volume',
};
const SECOND_ROUND: PoolRound = {
  look: 'Look again for a pooled volume',
  any: 'Any pooled volume left?',
  pick: 'Pick another pooled volume',
  one: 'The one pooled volume left',
  attach: 'Attach another pooled volume',
  lost: 'Which volume?',
};

/** Look in the pool in the host's zone, pick a volume, attach it; any miss goes on without it. */
function poolRound(round: PoolRound): States {
  return {
    [round.look]: ec2Task('describeVolumes', {
      comment: 'Pristine volumes of the pool in the host\'s zone: a filtered describe (the larger bucket); a few are enough to pick from.',
      parameters: {
        Filters: [
          { Name: `tag:${VOLUME_POOL_TAG}`, 'Values.$': 'States.Array($.volumePool.key)' },
          { Name: 'availability-zone', 'Values.$': 'States.Array($.host.availabilityZone)' },
          { Name: 'status', Values: ['available'] },
        ],
        MaxResults: 5,
      },
      resultSelector: { 'volumes.$': '$.Volumes' },
      resultPath: '$.pooled',
      read: true,
      onFailure: { resultPath: '$.poolMiss', next: 'Which volume?' },
      next: round.any,
    }),
    [round.any]: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.pooled.volumes[1]', IsPresent: true, Next: round.pick },
        { Variable: '$.pooled.volumes[0]', IsPresent: true, Next: round.one },
      ],
      Default: 'Which volume?',
    },
    [round.pick]: {
      Type: 'Pass',
      Comment:
        'At random, so builds starting together in a zone mostly pick different volumes. MathRandom\'s end is exclusive in AWS and inclusive in the local engines: up to length - 1 is in range in both (AWS then never picks the last of several, which does no harm).',
      Parameters: { 'volume.$': 'States.ArrayGetItem($.pooled.volumes, States.MathRandom(0, States.MathAdd(States.ArrayLength($.pooled.volumes), -1)))' },
      ResultPath: '$.pooled',
      Next: round.attach,
    },
    [round.one]: {
      Type: 'Pass',
      Parameters: { 'volume.$': '$.pooled.volumes[0]' },
      ResultPath: '$.pooled',
      Next: round.attach,
    },
    [round.attach]: ec2Task('attachVolume', {
      comment:
        'The claim: EC2 attaches a volume to one instance only. Not retried: a late retry could attach the volume after the build that took it has detached it again. Refused (another build was first, or throttled): look once more, then create a volume of its own.',
      parameters: { 'VolumeId.$': '$.pooled.volume.VolumeId', 'InstanceId.$': '$.host.instanceId', 'Device.$': '$.host.deviceName' },
      resultSelector: { 'VolumeId.$': '$.VolumeId' },
      resultPath: '$.volume',
      retried: false,
      onFailure: { resultPath: '$.poolMiss', next: round.lost },
      next: 'Take the pooled volume',
    }),
  };
}

/**
 * A volume made ahead from the same snapshot with the same specification (contract/volume-pool.ts),
 * in the host's zone, saves the build CreateVolume and its wait. Attaching it is the claim: of
 * two builds that picked the same volume one gets it and the other looks once more. Any miss (an
 * empty pool, a race lost twice, a throttled call) is no failure: the build creates its volume
 * as it would without pools.
 */
const takePooledVolume: States = {
  'A pooled volume?': whenPresent(
    '$.volumePool',
    'Look for a pooled volume',
    'Which volume?',
    'Only when the factory keeps pools (factory.yml volume_pool) and the volume is restored from a snapshot.',
  ),
  ...poolRound(FIRST_ROUND),
  ...poolRound(SECOND_ROUND),
  'Take the pooled volume': ec2Task('createTags', {
    comment:
      'Before anything is written to it: the pool tag becomes "taken" (no pool counts or offers it again) and the volume gets the tags the build\'s CreateVolume would have given it, the build id among them for the clean-up function.',
    parameters: { 'Resources.$': 'States.Array($.volume.VolumeId)', 'Tags.$': '$.volumePool.takeTags' },
    resultPath: null,
    next: 'Tag the pooled volume with its host',
  }),
  'Tag the pooled volume with its host': ec2Task('createTags', {
    comment: 'As a created volume is tagged: the clean-up function finds the host\'s device lease by it.',
    parameters: {
      'Resources.$': 'States.Array($.volume.VolumeId)',
      Tags: [{ Key: INSTANCE_ID_TAG, 'Value.$': '$.host.instanceId' }],
    },
    resultPath: null,
    next: 'Ask for a refill',
  }),
  'Ask for a refill': {
    Type: 'Task',
    Comment: 'The pool tender makes a new volume for the pool in this zone. Best effort: its schedule refills the pool anyway.',
    Resource: 'arn:aws:states:::sqs:sendMessage',
    Parameters: { QueueUrl: '${VolumePoolsQueueUrl}', MessageBody: { 'poolKey.$': '$.volumePool.key', 'availabilityZone.$': '$.host.availabilityZone' } },
    ResultPath: null,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'Provision on the host' }],
    Next: 'Provision on the host',
  },
};

const createVolume: States = {
  ...ec2TaskVariants('Create volume', 'createVolume', {
    decision: 'Which volume?',
    comment:
      'In the host\'s zone: a volume attaches only to an instance in its own zone. The build id as ClientToken makes a retried call return the same volume instead of a second one. A from_scratch build has no source snapshot: its volume starts empty.',
    request: '$.createVolume',
    always: [
      ['AvailabilityZone', '$.host.availabilityZone'],
      'Size',
      'VolumeType',
      'Encrypted',
      'TagSpecifications',
      ['ClientToken', '$.buildId'],
    ],
    whenPresent: ['SnapshotId', 'KmsKeyId'],
    usual: ['SnapshotId'],
    supported: [['SnapshotId'], ['SnapshotId', 'KmsKeyId'], [], ['KmsKeyId']],
    resultSelector: { 'VolumeId.$': '$.VolumeId' },
    resultPath: '$.volume',
    next: 'Tag volume with its host',
  }),
  'Tag volume with its host': ec2Task('createTags', {
    comment: 'The clean-up function reads this tag to know which host\'s device lease to release when the history names none.',
    parameters: {
      'Resources.$': 'States.Array($.volume.VolumeId)',
      Tags: [{ Key: INSTANCE_ID_TAG, 'Value.$': '$.host.instanceId' }],
    },
    resultPath: null,
    next: 'Wait for the new volume',
  }),
  'Wait for the new volume': awaitResource({
    comment: 'Until EC2 shows it available: seconds; a restored volume is usable before its blocks are all loaded.',
    kind: 'volume-available',
    resourceId: '$.volume.VolumeId',
    intervalPath: '$.polling.volume',
    maxAttemptsPath: MAX_ATTEMPTS,
    next: 'Attach volume',
  }),
};

const attach: States = {
  'Attach volume': ec2Task('attachVolume', {
    comment:
      'At the device the host leased for this build in its claim. The workflow does not wait for the attachment: the worker does, on the host that needs it (it checks EC2 says attached there, under that name, then waits for the device node), which saves a round of polls and a transition per poll.',
    parameters: { 'VolumeId.$': '$.volume.VolumeId', 'InstanceId.$': '$.host.instanceId', 'Device.$': '$.host.deviceName' },
    resultPath: null,
    next: 'Provision on the host',
  }),
};

const provision: States = {
  'Provision on the host': askWorker({
    comment:
      'The host\'s worker mounts the volume, runs the template\'s provisioners in the chroot, unmounts and answers. It beats while it works: a host that dies or hangs misses heartbeats and the build fails instead of waiting for the full provisioning timeout.',
    queueUrl: '$.host.hostQueueUrl',
    messageBody: {
      task: 'provision',
      'buildId.$': '$.buildId',
      'volumeId.$': '$.volume.VolumeId',
      'deviceName.$': '$.host.deviceName',
      'bundleKey.$': '$.bundleKey',
      'logKey.$': '$.logKey',
    },
    heartbeatSecondsPath: '$.timeouts.heartbeatSeconds',
    timeoutSecondsPath: '$.timeouts.provisionSeconds',
    resultPath: null,
    next: 'Delete the secret?',
  }),
  'Delete the secret?': whenPresent('$.secret', 'Delete the secret', 'Create snapshot', 'Provisioning was the secret\'s only use.'),
  'Delete the secret': secretsTask('deleteSecret', {
    comment: 'At once, without a recovery window: nothing reads it again. A build that fails before this has it deleted by the clean-up function.',
    parameters: { 'SecretId.$': '$.secret.id', ForceDeleteWithoutRecovery: true },
    next: 'Create snapshot',
  }),
};

const snapshot: States = {
  'Create snapshot': ec2Task('createSnapshot', {
    comment:
      'As soon as the worker has unmounted, while the volume is still attached: a snapshot is of what the volume holds when it starts, and the file system was cleanly unmounted before the worker answered. Detaching, releasing the host\'s device and deleting the volume then happen while the snapshot runs, off the critical path. There is no idempotency token here: a retry after a lost answer can leave a second snapshot, which carries the build id tag for the clean-up function. Throttling is the likelier reason to retry.',
    parameters: {
      'VolumeId.$': '$.volume.VolumeId',
      'Description.$': '$.createSnapshot.Description',
      'TagSpecifications.$': '$.createSnapshot.TagSpecifications',
    },
    resultSelector: { 'SnapshotId.$': '$.SnapshotId' },
    resultPath: '$.snapshot',
    // EC2 names every refusal alike (Ec2.Ec2Exception, its code not even in the cause): the
    // wait tells the account's 100 pending snapshots from any other reason. Two retries only:
    // at the limit every refused call also spends a token of the bucket CreateVolume,
    // AttachVolume and DeleteVolume share, and the wait handles throttling as well.
    maxAttempts: 2,
    onFailure: { resultPath: '$.snapshotRefusal', next: 'Wait for snapshot capacity' },
    next: 'Detach volume',
  }),
  'Wait for snapshot capacity': awaitResource({
    comment:
      'Refused after its retries: when the account is at its limit of pending snapshots (100 per region), until there is room, the longest-waiting builds first; then CreateSnapshot again. Refused while the account had plenty of room: the build fails with the refusal (AmiFactory.SnapshotRefused).',
    kind: 'snapshot-capacity',
    resourceId: '$.volume.VolumeId',
    intervalPath: '$.polling.snapshot',
    maxAttemptsPath: MAX_ATTEMPTS,
    message: { 'refusal.$': '$.snapshotRefusal' },
    next: 'Create snapshot',
  }),
};

const detach: States = {
  'Detach volume': ec2Task('detachVolume', {
    comment: 'Names the instance and device as well as the volume: a detach that names both cannot take the volume away from a host it was moved to.',
    parameters: { 'VolumeId.$': '$.volume.VolumeId', 'InstanceId.$': '$.host.instanceId', 'Device.$': '$.host.deviceName' },
    resultPath: null,
    next: 'Wait for the volume to detach',
  }),
  'Wait for the volume to detach': awaitResource({
    comment: 'Until EC2 shows the volume available, with no attachment left.',
    kind: 'volume-detached',
    resourceId: '$.volume.VolumeId',
    intervalPath: '$.polling.attachment',
    maxAttemptsPath: MAX_ATTEMPTS,
    next: 'Release the device',
  }),
  'Release the device': sendToWorker({
    comment:
      'Only once the volume is off the device, so the host cannot lease the device to another build while EC2 still shows it in use. Frees the host\'s slot while the snapshot runs, which can take minutes.',
    queueUrl: '$.host.hostQueueUrl',
    messageBody: { task: 'release', 'buildId.$': '$.buildId' },
    next: 'Delete volume',
  }),
  'Delete volume': ec2Task('deleteVolume', {
    comment: 'A snapshot in progress goes on without its volume. Deleting it before registering means a failure here leaves no image behind.',
    parameters: { 'VolumeId.$': '$.volume.VolumeId' },
    resultPath: null,
    next: 'Wait for the snapshot',
  }),
  'Wait for the snapshot': awaitResource({
    comment: 'Usually the longest wait of a build: its checks are paced by the snapshot\'s progress, closing in on its completion.',
    kind: 'snapshot-completed',
    resourceId: '$.snapshot.SnapshotId',
    intervalPath: '$.polling.snapshot',
    maxAttemptsPath: MAX_ATTEMPTS,
    next: 'Replace an existing image?',
  }),
};

const replaceExisting: States = {
  'Replace an existing image?': {
    Type: 'Choice',
    Comment: 'force_deregister: the submit function found an image with this ami_name and passes it here; without force_deregister it refused the request instead.',
    Choices: [
      {
        And: [
          { Variable: '$.existingImage', IsPresent: true },
          { Variable: '$.existingImage', IsNull: false },
        ],
        Next: 'Deregister the existing image',
      },
    ],
    Default: 'Point the root mapping at the snapshot',
  },
  'Deregister the existing image': ec2Task('deregisterImage', {
    comment: 'As late as possible, right before the new image takes its name, so a build that fails earlier leaves the old image in place.',
    parameters: { 'ImageId.$': '$.existingImage.imageId' },
    resultPath: null,
    next: 'Delete the snapshots of the existing image',
  }),
  'Delete the snapshots of the existing image': {
    Type: 'Map',
    Comment: 'force_delete_snapshot: snapshotIds is empty without it. Only after deregistering: EC2 refuses to delete a snapshot a registered image uses.',
    ItemsPath: '$.existingImage.snapshotIds',
    ItemSelector: { 'SnapshotId.$': '$$.Map.Item.Value' },
    MaxConcurrency: 5,
    ItemProcessor: {
      ProcessorConfig: { Mode: 'INLINE' },
      StartAt: 'Delete a snapshot of the existing image',
      States: {
        'Delete a snapshot of the existing image': ec2Task('deleteSnapshot', { parameters: { 'SnapshotId.$': '$.SnapshotId' }, resultPath: null, next: null }),
      },
    },
    ResultPath: null,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: BUILD_FAILED }],
    Next: 'Point the root mapping at the snapshot',
  },
};

const register: States = {
  'Point the root mapping at the snapshot': {
    Type: 'Map',
    Comment: 'The planned mappings are final except for the root one, which gets the new snapshot; the others (ephemeral, extra EBS) pass through unchanged.',
    ItemsPath: '$.registerImage.BlockDeviceMappings',
    ItemSelector: {
      'mapping.$': '$$.Map.Item.Value',
      'rootDeviceName.$': '$.rootDeviceName',
      snapshot: { 'SnapshotId.$': '$.snapshot.SnapshotId' },
    },
    ItemProcessor: {
      ProcessorConfig: { Mode: 'INLINE' },
      StartAt: 'Root mapping?',
      States: {
        'Root mapping?': {
          Type: 'Choice',
          Choices: [{ Variable: '$.mapping.DeviceName', StringEqualsPath: '$.rootDeviceName', Next: 'Set the root snapshot' }],
          Default: 'Keep the mapping',
        },
        'Set the root snapshot': {
          Type: 'Pass',
          Parameters: { 'DeviceName.$': '$.mapping.DeviceName', 'Ebs.$': 'States.JsonMerge($.mapping.Ebs, $.snapshot, false)' },
          End: true,
        },
        'Keep the mapping': { Type: 'Pass', OutputPath: '$.mapping', End: true },
      },
    },
    ResultPath: '$.blockDeviceMappings',
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: BUILD_FAILED }],
    Next: 'Select the image tags',
  },
  'Select the image tags': {
    Type: 'Pass',
    Comment: 'A path that ends in the index reads the same everywhere; Tag the image then reads .Tags from here.',
    Parameters: { 'specification.$': '$.registerImage.TagSpecifications[0]' },
    ResultPath: '$.imageTags',
    Next: 'Which registration?',
  },
  ...ec2TaskVariants('Register image', 'registerImage', {
    decision: 'Which registration?',
    comment:
      'TagSpecifications tags the image as it is created, so it carries the build id even if the execution stops right after this call. A retry after a lost answer fails on the name it took; that image is in the execution history for the clean-up function.',
    request: '$.registerImage',
    always: [
      'Name',
      'Description',
      'Architecture',
      'VirtualizationType',
      'RootDeviceName',
      ['BlockDeviceMappings', '$.blockDeviceMappings'],
      'EnaSupport',
      'BootMode',
      'TagSpecifications',
    ],
    // SR-IOV 'simple' instance types boot legacy BIOS only, while NitroTPM and UEFI data need
    // UEFI: SR-IOV combines with neither. ImdsSupport is set after registration (Require IMDSv2).
    whenPresent: ['SriovNetSupport', 'TpmSupport', 'UefiData'],
    supported: [[], ['SriovNetSupport'], ['TpmSupport'], ['UefiData'], ['TpmSupport', 'UefiData']],
    otherwise: 'Unsupported image options',
    resultSelector: { 'ImageId.$': '$.ImageId' },
    resultPath: '$.image',
    next: 'Tag the image',
  }),
  'Unsupported image options': raise(
    'UnsupportedImageOptions',
    'SriovNetSupport cannot be combined with TpmSupport or UefiData: SR-IOV \'simple\' instance types boot legacy BIOS, NitroTPM and UEFI data need UEFI',
  ),
  'Tag the image': ec2Task('createTags', {
    comment:
      'Applies the registration\'s tags again: the same tags where RegisterImage honoured TagSpecifications, the only tags where it does not (the local AWS ignores them).',
    parameters: { 'Resources.$': 'States.Array($.image.ImageId)', 'Tags.$': '$.imageTags.specification.Tags' },
    resultPath: null,
    next: 'Record the root snapshot on the image',
  }),
  'Record the root snapshot on the image': ec2Task('createTags', {
    comment:
      'The build id whatever the input\'s tags say, and the snapshot the build made: the local factory reads it, since the local AWS registers images with a snapshot of its own.',
    parameters: {
      'Resources.$': 'States.Array($.image.ImageId)',
      Tags: [
        { Key: BUILD_ID_TAG, 'Value.$': '$.buildId' },
        { Key: ROOT_SNAPSHOT_TAG, 'Value.$': '$.snapshot.SnapshotId' },
      ],
    },
    resultPath: null,
    next: 'Wait for the image',
  }),
  'Wait for the image': awaitResource({
    kind: 'image-available',
    resourceId: '$.image.ImageId',
    intervalPath: '$.polling.image',
    maxAttemptsPath: MAX_ATTEMPTS,
    next: 'Anything to set in the build region?',
  }),
  'Anything to set in the build region?': {
    Type: 'Choice',
    Comment:
      'One decision for the ordinary build, which sets and shares nothing here: it goes straight to the release instead of through six decisions, each a state transition (billed, and counted against the account\'s transition bucket).',
    Choices: [
      {
        Or: [
          { Variable: '$.registerImage.ImdsSupport', IsPresent: true },
          ...DISTRIBUTION_REQUESTS.map((field) => ({
            And: [
              { Variable: `$.distribution.${field}`, IsPresent: true },
              { Variable: `$.distribution.${field}`, IsNull: false },
            ],
          })),
        ],
        Next: 'Require IMDSv2?',
      },
    ],
    Default: RELEASE,
  },
  'Require IMDSv2?': {
    Type: 'Choice',
    Comment: 'ImdsSupport has no "off" value either; unlike the registration options it can be set afterwards, which saves doubling the registration variants.',
    Choices: [{ Variable: '$.registerImage.ImdsSupport', IsPresent: true, Next: 'Require IMDSv2' }],
    Default: 'Set product codes?',
  },
  'Require IMDSv2': ec2Task('modifyImageAttribute', {
    parameters: { 'ImageId.$': '$.image.ImageId', ImdsSupport: { 'Value.$': '$.registerImage.ImdsSupport' } },
    resultPath: null,
    next: 'Set product codes?',
  }),
};

/**
 * Packer's last steps, in the build region, each only when the planner wrote its request
 * (`distribution`, null for nothing to do). The image is available, so each call acts on a
 * finished image; a failure fails the build like any other, and the clean-up function
 * deregisters the image, so no half-shared image stays behind. Product codes and deprecation
 * come before sharing, so no one is ever given the image without them; deregistration
 * protection comes last, as a protected image is one the clean-up function could not remove.
 */
export const distribute: States = {
  'Set product codes?': whenPresent('$.distribution.productCodes', 'Set product codes', 'Deprecate the image?', 'ami_product_codes.'),
  'Set product codes': ec2Task('modifyImageAttribute', {
    comment: 'Before any sharing: EC2 refuses to change product codes on an image that has them, and to make a product-coded image public.',
    parameters: { 'ImageId.$': '$.image.ImageId', 'ProductCodes.$': '$.distribution.productCodes' },
    resultPath: null,
    next: 'Deprecate the image?',
  }),
  'Deprecate the image?': whenPresent('$.distribution.deprecateAt', 'Deprecate the image', 'Share the image?', 'deprecate_at.'),
  'Deprecate the image': ec2Task('enableImageDeprecation', {
    comment: 'The planner checked that the time is in the future and within EC2\'s limit when the build was submitted.',
    parameters: { 'ImageId.$': '$.image.ImageId', 'DeprecateAt.$': '$.distribution.deprecateAt' },
    resultPath: null,
    next: 'Share the image?',
  }),
  'Share the image?': whenPresent(
    '$.distribution.launchPermission',
    'Share the image',
    'Share the snapshot?',
    'ami_users, ami_groups ("all": public), ami_org_arns and ami_ou_arns, in one launch permission change.',
  ),
  'Share the image': ec2Task('modifyImageAttribute', {
    comment: 'Adds launch permissions only, never removes: a force_deregister build starts from a new image anyway.',
    parameters: { 'ImageId.$': '$.image.ImageId', 'LaunchPermission.$': '$.distribution.launchPermission' },
    resultPath: null,
    next: 'Share the snapshot?',
  }),
  'Share the snapshot?': whenPresent(
    '$.distribution.snapshotPermission',
    'Which snapshot sharing?',
    'Protect from deregistration?',
    'snapshot_users and snapshot_groups: create-volume permission on the snapshot the build made, the image\'s only snapshot (the planner refuses sharing for images that map others).',
  ),
  ...ec2TaskVariants('Share the snapshot', 'modifySnapshotAttribute', {
    decision: 'Which snapshot sharing?',
    comment: 'OperationType with UserIds and GroupNames rather than a CreateVolumePermission structure: both mean the same to EC2, and the local AWS honours only this form.',
    request: '$.distribution.snapshotPermission',
    always: [['SnapshotId', '$.snapshot.SnapshotId'], 'Attribute', 'OperationType'],
    whenPresent: ['UserIds', 'GroupNames'],
    supported: [['UserIds'], ['GroupNames'], ['UserIds', 'GroupNames']],
    otherwise: 'Snapshot sharing names no one',
    resultPath: null,
    next: 'Protect from deregistration?',
  }),
  'Snapshot sharing names no one': raise('NothingToShare', 'snapshotPermission names neither UserIds nor GroupNames: the planner writes it only with one of them'),
  'Protect from deregistration?': whenPresent(
    '$.distribution.deregistrationProtection',
    'Protect from deregistration',
    RELEASE,
    'deregistration_protection.',
  ),
  'Protect from deregistration': ec2Task('enableImageDeregistrationProtection', {
    comment: 'Last: nothing after it can fail, and a protected image is one the clean-up function could not deregister.',
    parameters: { 'ImageId.$': '$.image.ImageId', 'WithCooldown.$': '$.distribution.deregistrationProtection.WithCooldown' },
    resultPath: null,
    next: RELEASE,
  }),
};

const report: States = {
  ...releaseStates('Report the images'),
  'Report the images': {
    Type: 'Pass',
    Comment: 'One entry per region and account, failed copies included. Kept beside the build\'s state until the success is announced, then output.',
    Parameters: { 'buildId.$': '$.buildId', 'amis.$': '$.images', 'count.$': 'States.ArrayLength($.images)' },
    ResultPath: '$.result',
    Next: 'Copies made?',
  },
  'Copies made?': {
    Type: 'Choice',
    Comment: 'Build Distributed is for releases beyond the build region.',
    Choices: [{ Variable: '$.result.count', NumericGreaterThan: 1, Next: 'Announce the distribution' }],
    Default: 'Announce the success',
  },
  'Announce the distribution': announceDistribution('Build Distributed: every image of the release by region and account, with its state.', 'Announce the success'),
  'Announce the success': publishEvent({
    comment: 'Build Succeeded, with the images the output reports: last, once nothing can fail the build any more.',
    detailType: BUILD_SUCCEEDED,
    detail: {
      'buildId.$': '$.announced.buildId',
      'team.$': '$.announced.team',
      'amiName.$': '$.announced.amiName',
      'amis.$': '$.result.amis',
    },
    next: 'Build succeeded',
  }),
  'Build succeeded': {
    Type: 'Pass',
    Comment: 'The execution\'s output is the report alone: { buildId, amis }.',
    Parameters: { 'buildId.$': '$.result.buildId', 'amis.$': '$.result.amis' },
    End: true,
  },
};

/** The workflow's definition, placeholders (`${ClaimsQueueUrl}`, `${EventBusName}`) unfilled. */
export const buildImageDefinition = {
  Comment:
    'Builds one EBS-backed AMI the chroot way. Rendered from statemachine/build-image.ts; docs/workflow.md shows it as a diagram. Every failure ends in Build failed; the clean-up function removes what a failed, stopped or timed-out build left.',
  StartAt: 'Claim a host',
  States: { ...claim, ...takePooledVolume, ...createVolume, ...attach, ...provision, ...snapshot, ...detach, ...replaceExisting, ...register, ...distribute, ...report, ...failWithTheError() },
};

/** The definition as build-image.asl.json holds it. */
export function renderBuildImageDefinition(): string {
  return `${renderJson(buildImageDefinition)}\n`;
}
