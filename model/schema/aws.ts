/**
 * Formats of AWS identifiers, checked before a request reaches AWS so a mistake costs a
 * validation round, not a half-built image.
 */
import { matching, string } from './coerce.ts';

// Partitions differ in prefix (us-gov-west-1, cn-north-1, us-isob-east-1); the shape holds.
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const region = () => matching(REGION_PATTERN, 'an AWS region name such as "us-east-1"');

const ACCOUNT_ID_PATTERN = /^\d{12}$/;
export const accountId = () => matching(ACCOUNT_ID_PATTERN, 'a 12-digit AWS account id');

// The owner aliases DescribeImages accepts besides account ids.
const OWNER_ALIASES = ['self', 'amazon', 'aws-marketplace', 'aws-backup-vault'];
export const imageOwner = () =>
  string().refine(
    (value) => ACCOUNT_ID_PATTERN.test(value) || OWNER_ALIASES.includes(value),
    `must be a 12-digit AWS account id or one of ${OWNER_ALIASES.map((alias) => `"${alias}"`).join(', ')}`,
  );

const PARTITION = 'arn:aws(-[a-z]+)*';
export const organizationArn = () =>
  matching(
    new RegExp(`^${PARTITION}:organizations::\\d{12}:organization/o-[a-z0-9]{10,32}$`),
    'an AWS Organizations organization ARN (arn:aws:organizations::123456789012:organization/o-...)',
  );
export const organizationalUnitArn = () =>
  matching(
    new RegExp(`^${PARTITION}:organizations::\\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$`),
    'an AWS Organizations OU ARN (arn:aws:organizations::123456789012:ou/o-.../ou-...)',
  );

export const amiId = () => matching(/^ami-([0-9a-f]{8}|[0-9a-f]{17})$/, 'an AMI id such as "ami-0123456789abcdef0"');
export const snapshotId = () =>
  matching(/^snap-([0-9a-f]{8}|[0-9a-f]{17})$/, 'a snapshot id such as "snap-0123456789abcdef0"');

// Packer's ValidateKmsKey: a key id, a multi-region key id, an alias, or an ARN of either.
const KEY_ID = '[a-f0-9]+[a-f0-9-]+';
const MRK_KEY_ID = 'mrk-[a-f0-9]+[a-f0-9-]+';
const ALIAS = 'alias/[a-zA-Z0-9:/_-]+';
const KMS_ARN_START = String.raw`arn:aws(-[a-z]{2}(-gov)?)?:kms:([a-z]{2}-(gov-)?[a-z]+-\d)?:\d{12}:`;
const KMS_KEY_PATTERNS = [
  `^${KEY_ID}$`, `^${MRK_KEY_ID}$`, `^${ALIAS}$`,
  `^${KMS_ARN_START}key/${KEY_ID}$`, `^${KMS_ARN_START}key/${MRK_KEY_ID}$`, `^${KMS_ARN_START}${ALIAS}$`,
].map((source) => new RegExp(source));

export function isKmsKey(value: string): boolean {
  return KMS_KEY_PATTERNS.some((pattern) => pattern.test(value));
}

export const KMS_KEY_MESSAGE = 'must be a KMS key id, "alias/NAME", or a key or alias ARN';
export const kmsKey = () => string().refine(isKmsKey, KMS_KEY_MESSAGE);
