/**
 * The template's `post-processors`: Packer's `manifest` is the one the factory honours,
 * served as `GET /builds/{id}/manifest` (and `ami-factory manifest BUILD`) once the build
 * succeeds, so `output` names no file the factory writes. Every other post-processor acts
 * on the requester's machine or on artifacts the factory does not make, and is refused
 * naming what the factory offers instead.
 */
import * as z from 'zod';
import type { Issues } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { renderOption } from './render-tree.ts';
import type { RequestTemplateContext } from './template/request.ts';
import { boolean, string, stringList } from './schema/coerce.ts';
import { isPlainObject, parseOptions, unknownKeyMessage } from './schema/fields.ts';
import type { ManifestPostProcessor } from './types.ts';

const manifestShape = {
  type: string(),
  output: string(),
  // Strips folders from the manifest's file names: an AMI build lists no files (`files: null`).
  strip_path: boolean(),
  strip_time: boolean(),
  custom_data: z.record(
    z.string(),
    z.preprocess((value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value), string()),
    { error: 'must be an object of names to string values' },
  ),
  keep_input_artifact: boolean(),
  only: stringList(string(), { commaSeparated: true }),
  except: stringList(string(), { commaSeparated: true }),
  name: string(),
};

const OFFERED =
  'the factory\'s product is the AMI itself: share, copy and tag it with builder options (ami_users, ami_regions, tags, ...) ' +
  'or `--target`; the one post-processor it runs is "manifest" (GET /builds/{id}/manifest, `ami-factory manifest BUILD`)';

const REFUSALS: Readonly<Record<string, string>> = {
  'shell-local': 'runs on the machine that ran Packer, which a factory build has none of; a shell-local provisioner (granted host commands) runs on the chroot host',
  'amazon-import': 'imports an OVA or disk file into EC2, and an amazon-chroot build makes no such file: it registers the AMI directly',
  compress: 'compresses output files, and an amazon-chroot build writes none',
  checksum: 'checksums output files, and an amazon-chroot build writes none',
  artifice: 'registers files as the artifact, and an amazon-chroot build writes none',
};

export interface PostProcessorContext {
  buildName: string;
  buildNames: readonly string[];
  render: RequestTemplateContext;
}

function normalizeManifest(
  raw: Record<string, unknown>,
  path: string,
  context: PostProcessorContext,
  issues: Issues,
): ManifestPostProcessor | undefined {
  const rendered: Record<string, unknown> = {};
  const unrendered = new Set<string>();
  for (const [option, value] of Object.entries(raw)) {
    if (!Object.hasOwn(manifestShape, option)) {
      issues.add(joinPath(path, option), unknownKeyMessage(option, Object.keys(manifestShape)));
      continue;
    }
    const result = renderOption(value, joinPath(path, option), { hostFields: [], inVariables: false }, context.render, issues);
    rendered[option] = result.value;
    if (!result.ok) unrendered.add(option);
  }
  const { value } = parseOptions(rendered, manifestShape, (option) => joinPath(path, option), issues, unrendered);
  for (const option of ['only', 'except'] as const) {
    value[option]?.forEach((name, index) => {
      if (!context.buildNames.includes(name)) {
        issues.add(joinPath(joinPath(path, option), index), `no build is named "${name}" (this template's builds: ${context.buildNames.map((known) => `"${known}"`).join(', ')})`);
      }
    });
  }
  if (value.only && value.only.length > 0 && !value.only.includes(context.buildName)) return undefined;
  if ((value.except ?? []).includes(context.buildName)) return undefined;
  return {
    type: 'manifest',
    path,
    custom_data: value.custom_data ?? null,
    strip_time: value.strip_time ?? false,
  };
}

function normalizeOne(raw: unknown, path: string, context: PostProcessorContext, issues: Issues): ManifestPostProcessor[] {
  // Packer's short form: a post-processor named by its type alone.
  const entry = typeof raw === 'string' ? { type: raw } : raw;
  if (!isPlainObject(entry)) {
    issues.add(path, 'a post-processor must be a type name, an object with "type", or a list of them (a sequence)');
    return [];
  }
  const type = entry.type;
  if (type === 'manifest') {
    const manifest = normalizeManifest(entry, path, context, issues);
    return manifest ? [manifest] : [];
  }
  if (typeof type !== 'string' || type === '') {
    issues.add(joinPath(path, 'type'), 'type is required ("manifest")');
    return [];
  }
  const why = REFUSALS[type];
  issues.add(joinPath(path, 'type'), `post-processor "${type}" is not supported${why ? `: it ${why}` : ''}; ${OFFERED}`);
  return [];
}

/** The manifest post-processors that apply to this build (one manifest is served whatever their number). */
export function normalizePostProcessors(raw: unknown, context: PostProcessorContext, issues: Issues): ManifestPostProcessor[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.add('post-processors', 'must be a list of post-processors');
    return [];
  }
  return raw.flatMap((item: unknown, index) => {
    const path = joinPath('post-processors', index);
    return Array.isArray(item)
      ? item.flatMap((inner: unknown, step) => normalizeOne(inner, joinPath(path, step), context, issues))
      : normalizeOne(item, path, context, issues);
  });
}
