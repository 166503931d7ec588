/**
 * A bake key names what a build would produce, so an identical request can be answered with
 * the image (or the running build) that already has it instead of baking again. It is the
 * SHA-256 of a canonical JSON document holding:
 *
 * - the team: reuse never crosses teams, and a key seen on another team's image says nothing
 *   about whether one's own template matches it;
 * - the build request as the model parses it, rendered at a fixed instant, so the values of
 *   `{{timestamp}}` and `{{isotime}}` (in ami_name, tags, scripts' environment) do not make two
 *   otherwise identical requests differ: the key names the inputs, not the moment;
 * - every variable's final value, a sensitive one (or one holding a sensitive value) only as
 *   its own SHA-256, and every sensitive value masked wherever the request rendered it;
 * - the resolved source image id (not source_ami_filter: a newer image behind the same filter
 *   is a new key), or `from_scratch`;
 * - the SHA-256 of every file of the bundle, by path (the provisioners' scripts and files);
 * - the factory family a scheduled or on-demand family build is for (factory.yml), when it is
 *   one: a family reuses only its own images, which are the ones its lifecycle manages, never
 *   an image a team's own submit of the same template made (and the other way round).
 *
 * Out of it, as they do not change the image: force_deregister and force_delete_snapshot
 * (what happens to an older image of the same name), aws_polling and max_retries (how the
 * factory talks to EC2), and the folder the bundle was unpacked in (`{{template_dir}}`, the
 * scripts' absolute paths). Everything else a template says is in, distribution options
 * included: a reused image must be what the request asked for, option by option.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Image } from '@aws-sdk/client-ec2';
import type { BuildBundle } from '../../contract/bundle.ts';
import { loadBundle } from '../../model/bundle.ts';
import { maskSensitive, maskSensitiveDeep, type BuildRequest } from '../../model/index.ts';

/** Changes whenever what goes into the key does, so old and new keys never meet by accident. */
const KEY_VERSION = 'ami-factory bake key v1';

/** The instant the key renders the template at: any fixed one serves. */
const FIXED_RENDERED_AT = '2000-01-01T00:00:00Z';

/** Stands for the folder the bundle was unpacked in, which differs on every submit. */
const TEMPLATE_DIR = '{{template_dir}}';

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** JSON with sorted keys and no undefined members: one text for one value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Every string in `value` with `from` replaced by `to`. */
function replaceDeep(value: unknown, from: string, to: string): unknown {
  if (typeof value === 'string') return value.replaceAll(from, to);
  if (Array.isArray(value)) return value.map((item) => replaceDeep(item, from, to));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replaceAll(from, to), replaceDeep(item, from, to)]));
  }
  return value;
}

/** The request parsed at the fixed instant, without the unpacking folder or the options that do not change the image. */
async function normalisedRequest(bundle: BuildBundle): Promise<BuildRequest> {
  const workDir = await mkdtemp(join(tmpdir(), 'bake-key-'));
  try {
    const request = await loadBundle({ ...bundle, renderedAt: FIXED_RENDERED_AT }, workDir);
    return replaceDeep(request, workDir, TEMPLATE_DIR) as BuildRequest;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Builder options that do not change the image (see above). */
const NOT_IN_KEY = ['force_deregister', 'force_delete_snapshot', 'aws_polling', 'max_retries'] as const;

export interface BakeKeyInputs {
  team: string;
  /** The bundle as submitted; its template parses (the submit function validated it). */
  bundle: BuildBundle;
  /** The source image the submit function resolved, or null for from_scratch. */
  source: Image | null;
  /** The factory family the build is for; absent or null for a team's own submit. */
  family?: string | null;
}

/** The document the key hashes; no sensitive value appears in it. */
export async function bakeKeyDocument({ team, bundle, source, family = null }: BakeKeyInputs): Promise<Record<string, unknown>> {
  const request = await normalisedRequest(bundle);
  const secrets = request.sensitive_values;
  const builder = Object.fromEntries(Object.entries(request.builder).filter(([option]) => !(NOT_IN_KEY as readonly string[]).includes(option)));
  const variables = Object.fromEntries(
    Object.entries(request.variables_used).map(([name, value]) => [name, maskSensitive(value, secrets) === value ? { value } : { sha256: sha256(value) }]),
  );
  const files = Object.fromEntries(Object.entries(bundle.files).map(([path, content]) => [path, sha256(Buffer.from(content, 'base64'))]));
  return {
    version: KEY_VERSION,
    team,
    builder: maskSensitiveDeep(builder, secrets),
    provisioners: maskSensitiveDeep(request.provisioners, secrets),
    variables,
    sourceImageId: source?.ImageId ?? 'from_scratch',
    files,
    // Only when there is one, so the keys of plain submits stay what they were.
    ...(family === null ? {} : { family }),
  };
}

/** The bake key: 64 hex digits, a valid EC2 tag value. */
export async function bakeKey(inputs: BakeKeyInputs): Promise<string> {
  return sha256(canonicalJson(await bakeKeyDocument(inputs)));
}
