/**
 * A build bundle: a template with everything it references, made portable. The CLI makes
 * one on the requester's machine, the API validates and stores it (`POST /builds` sends
 * `{ "bundle": BuildBundle }`), and the chroot host that claimed the build loads it.
 */
import * as z from 'zod';
import { TargetSchema } from './targets.ts';

/**
 * A file's path in a bundle: relative, `/`-separated, each segment a real name (not empty,
 * `.` or `..`, no NUL, at most 255 bytes, as Linux allows), at most 1,024 characters, so it
 * names exactly one file inside the template's folder on every side.
 */
const BundleFilePath = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1,024 characters')
  .superRefine((path, context) => {
    const problem = path.startsWith('/')
      ? 'must be relative to the template\'s folder, not absolute'
      : path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
        ? 'must name a file inside the template\'s folder: no empty, "." or ".." segments'
        : path.includes('\0')
          ? 'must not contain a NUL character'
          : path.split('/').some((segment) => Buffer.byteLength(segment) > 255)
            ? 'has a segment longer than 255 bytes'
            : undefined;
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

/** A file whose path is also a folder of another file's path cannot exist on any side. */
function refuseFileFolderConflicts(files: Record<string, string>, context: z.RefinementCtx): void {
  const paths = new Set(Object.keys(files));
  for (const path of paths) {
    const segments = path.split('/');
    for (let length = 1; length < segments.length; length++) {
      const folder = segments.slice(0, length).join('/');
      if (paths.has(folder)) {
        context.addIssue({ code: 'custom', path: [folder], message: `is a file, but ${JSON.stringify(path)} needs it to be a folder` });
      }
    }
  }
}

/** zod's messages say what was expected; a missing field deserves plainer words. */
const expecting = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`),
});

export const BuildBundleSchema = z.object(
  {
    /** The template as written, `{{env}}` already rendered into its variables. */
    template: z.record(z.string(), z.unknown(), expecting('a JSON object, the Packer template')),
    variables: z.record(z.string(), z.string(), { error: 'must be an object of variable names to string values' }).default({}),
    /** Files the provisioners reference, by path relative to the template, base64. */
    files: z
      .record(BundleFilePath, z.base64({ error: "must be the file's content in base64" }), {
        error: 'must be an object of relative paths to base64 contents',
      })
      .superRefine(refuseFileFolderConflicts)
      .default({}),
    /** The moment `{{timestamp}}` and `{{isotime}}` mean, the same wherever it is rendered. */
    renderedAt: z.iso.datetime({ offset: true, ...expecting('an ISO 8601 date-time, such as 2024-05-06T07:08:09Z') }),
    /**
     * The build the requester chose (`--only` / `--except`), by name, in a template of
     * several builders; absent, the template's one amazon-chroot builder.
     */
    build: z.string({ error: 'must be a build name (a builder\'s "name", else its type)' }).min(1, 'must not be empty').max(255, 'must be at most 255 characters').optional(),
    /**
     * An HCL2 template: its `.pkr.hcl` files, which are in `files`, in load order. `template`
     * is then `{}`: each side evaluates the HCL itself, with `variables` as its -var values.
     */
    hcl2: z
      .array(BundleFilePath.refine((path) => path.endsWith('.pkr.hcl'), 'must name a .pkr.hcl file'), { error: 'must be a list of .pkr.hcl file paths' })
      .min(1, 'must name at least one .pkr.hcl file')
      .max(100, 'at most 100 files')
      .optional(),
  },
  expecting('a build bundle: {template, variables, files, renderedAt}'),
);

export type BuildBundle = z.output<typeof BuildBundleSchema>;

/** A build's targets: regions times accounts, within EC2's concurrent-copy limits. */
export const MAX_TARGETS = 50;

/**
 * The body of `POST /builds`. `rebake` bakes even when an image (or a running build) of the
 * caller's team already has the request's bake key.
 */
export const SubmitBodySchema = z.object(
  {
    bundle: BuildBundleSchema,
    rebake: z.boolean({ error: 'must be true or false' }).optional(),
    /** Where the image goes beyond the build region and account (contract/targets.ts). */
    targets: z.array(TargetSchema).max(MAX_TARGETS, `at most ${MAX_TARGETS} targets`).optional(),
  },
  expecting('a JSON object: {"bundle": ...}'),
);

export type SubmitBody = z.output<typeof SubmitBodySchema>;

/**
 * What the factory grants one build, decided by the submit function from the factory's
 * configuration and the caller, never by the template: the host reads it from the stored
 * build, which only the submit function writes.
 */
export const BuildGrantsSchema = z.object({
  /**
   * Host-side commands (pre/post_mount_commands, command_wrapper, manual_mount_command,
   * chroot_mounts sources) are an operator's privilege.
   */
  hostCommands: z.boolean(),
});

export type BuildGrants = z.output<typeof BuildGrantsSchema>;

/**
 * A build as the submit function stores it for its host (at `bundleKey`). The values of the
 * template's sensitive variables are not in it: the submit function moves them into the
 * build's own secret (`secretId`, a Secrets Manager secret only the claiming host may read),
 * and the host puts them back as variables before it parses the template. In the stored
 * template those variables are declared required (null), so a missing secret is an error
 * naming them, never a build with empty values.
 */
export const StoredBuildSchema = z.object({
  bundle: BuildBundleSchema,
  grants: BuildGrantsSchema,
  /** The build's secret (name or ARN), or null when the template has no sensitive values. */
  secretId: z.string().min(1).nullable().optional(),
  /** The variables whose values are in the secret: a JSON object of name to value. */
  secretVariables: z.array(z.string()).optional(),
});

export type StoredBuild = z.output<typeof StoredBuildSchema>;

/** Where a build's bundle and log live in the artifacts bucket. */
export const bundleKey = (buildId: string): string => `bundles/${buildId}.json`;
export const logKey = (buildId: string): string => `logs/${buildId}.log`;
