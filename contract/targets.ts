/**
 * Where a build's image goes beyond the region and account it was built in: targets, each an
 * account and a region with a mode. The factory configuration names them per template family,
 * a submit may name them per build, and a re-distribution names them for an existing image.
 *
 * - `share`: the image (in the target's region: the build region's, or the factory's own copy
 *   there) gets a launch permission for the account and its snapshots a create-volume
 *   permission. The target account launches it; the factory still owns it.
 * - `copy`: the target account runs CopyImage of the shared image through a role the factory
 *   assumes there (TARGET_ROLE_NAME, docs/target-account-role.md), so it owns an independent
 *   AMI with its own ids and the factory's tags.
 *
 * A target in the factory's own account is always a copy (Packer's `ami_regions`).
 */
import * as z from 'zod';

export const ACCOUNT_ID = /^\d{12}$/;
/** AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`. */
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** The role's name in every target account unless the deployment names another. */
export const DEFAULT_TARGET_ROLE_NAME = 'ami-factory-target';

export const TARGET_MODES = ['share', 'copy'] as const;
export type TargetMode = (typeof TARGET_MODES)[number];

export const TargetSchema = z.strictObject({
  /** The target account; absent means the factory's own account. */
  account: z.string().regex(ACCOUNT_ID, 'not a 12-digit AWS account id').optional(),
  region: z.string().regex(REGION, 'not an AWS region name such as us-east-1'),
  /** How the account gets the image; ignored (always a copy) in the factory's own account. */
  mode: z.enum(TARGET_MODES).default('share'),
});

export type Target = z.output<typeof TargetSchema>;

/** A target once its account is known: what the workflow and the lifecycle act on. */
export interface ResolvedTarget {
  accountId: string;
  region: string;
  mode: TargetMode;
}

/** `account/region`, the form the CLI takes and the API reports a target by. */
export function targetLabel(target: { accountId: string; region: string }): string {
  return `${target.accountId}/${target.region}`;
}

/**
 * Parses the CLI's short form `[account/]region[:mode]` (`us-west-2`,
 * `222222222222/eu-west-1:copy`) into a target, or says what is wrong with it.
 */
export function parseTargetLabel(label: string): Target | string {
  const match = /^(?:(?<account>[^/:]+)\/)?(?<region>[^/:]+)(?::(?<mode>[^/:]+))?$/.exec(label.trim());
  if (match?.groups === undefined) return `"${label}" is not [account/]region[:mode]`;
  const { account, region, mode } = match.groups;
  const parsed = TargetSchema.safeParse({ account, region, ...(mode === undefined ? {} : { mode }) });
  if (!parsed.success) return `"${label}": ${parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}`;
  return parsed.data;
}
