/**
 * A build bundle: a template with everything it references, made portable. The CLI makes
 * one on the requester's machine, the API validates and stores it (`POST /builds` sends
 * `{ "bundle": BuildBundle }`), and the chroot host that claimed the build loads it.
 */
import * as z from 'zod';

/** A relative path that stays inside the template's folder: no leading `/`, no `..` segment. */
const FILE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/;

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
      .record(
        z.string().regex(FILE_PATH, "must be a relative path inside the template's folder"),
        z.base64({ error: "must be the file's content in base64" }),
        { error: 'must be an object of relative paths to base64 contents' },
      )
      .default({}),
    /** The moment `{{timestamp}}` and `{{isotime}}` mean, the same wherever it is rendered. */
    renderedAt: z.iso.datetime({ offset: true, ...expecting('an ISO 8601 date-time, such as 2024-05-06T07:08:09Z') }),
  },
  expecting('a build bundle: {template, variables, files, renderedAt}'),
);

export type BuildBundle = z.output<typeof BuildBundleSchema>;

/** The body of `POST /builds`. */
export const SubmitBodySchema = z.object({ bundle: BuildBundleSchema }, expecting('a JSON object: {"bundle": ...}'));

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

/** A build as the submit function stores it for its host (at `bundleKey`). */
export const StoredBuildSchema = z.object({
  bundle: BuildBundleSchema,
  grants: BuildGrantsSchema,
});

export type StoredBuild = z.output<typeof StoredBuildSchema>;

/** Where a build's bundle and log live in the artifacts bucket. */
export const bundleKey = (buildId: string): string => `bundles/${buildId}.json`;
export const logKey = (buildId: string): string => `logs/${buildId}.log`;
