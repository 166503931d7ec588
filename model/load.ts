/**
 * A Packer JSON template (or a lone amazon-chroot builder object) to a BuildRequest.
 * Everything is validated before anything is thrown, so one TemplateValidationError lists
 * every problem.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AmazonChrootConfig, BuildRequest } from './types.ts';
import { BUILDER_TYPE, normalizeBuilder } from './builder.ts';
import { Issues, TemplateValidationError } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { normalizeProvisioners } from './provisioners.ts';
import { isPlainObject, unknownKeyMessage } from './schema/fields.ts';
import type { RequestTemplateContext } from './template/request.ts';
import { resolveVariables } from './variables.ts';

export interface LoadOptions {
  /** Variable values given by the requester (`--var`); taken literally, not rendered. */
  vars?: Readonly<Record<string, string>>;
  /** See RequestTemplateContext.allowEnv: only the requester's own machine sets it. */
  allowEnv?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
  /** The build's instant for `{{timestamp}}` and `{{isotime}}`; defaults to now. */
  now?: Date;
}

export interface ParseOptions extends LoadOptions {
  /** Relative script and file paths resolve against this directory. */
  templateDir: string;
}

const TEMPLATE_KEYS = ['variables', 'sensitive-variables', 'builders', 'provisioners', 'description', 'min_packer_version'];

const POST_PROCESSORS_MESSAGE =
  'post-processors are not supported: the factory\'s product is the AMI itself; share, copy and tag it ' +
  'with builder options (ami_users, ami_regions, tags, ...)';

function checkTemplateKeys(template: Record<string, unknown>, issues: Issues): void {
  for (const key of Object.keys(template)) {
    // Packer ignores root keys starting with "_": the JSON way of writing comments.
    if (key.startsWith('_') || TEMPLATE_KEYS.includes(key)) continue;
    issues.add(key, key === 'post-processors' ? POST_PROCESSORS_MESSAGE : unknownKeyMessage(key, TEMPLATE_KEYS));
  }
  for (const key of ['description', 'min_packer_version']) {
    const value = template[key];
    if (value !== undefined && typeof value !== 'string') issues.add(key, 'must be a string');
  }
}

/** The one amazon-chroot builder of `builders`, validated; other entries are errors. */
function templateBuilder(raw: unknown, context: RequestTemplateContext, issues: Issues): AmazonChrootConfig | undefined {
  if (!Array.isArray(raw)) {
    issues.add('builders', raw === undefined ? 'builders is required: a list with one amazon-chroot builder' : 'must be a list of builders');
    return undefined;
  }
  if (raw.length !== 1) issues.add('builders', `exactly one builder (of type "${BUILDER_TYPE}") is supported, got ${raw.length}`);
  let chosen: AmazonChrootConfig | undefined;
  raw.forEach((entry: unknown, index) => {
    const path = joinPath('builders', index);
    const type = isPlainObject(entry) ? entry.type : undefined;
    if (type !== BUILDER_TYPE) {
      issues.add(
        joinPath(path, 'type'),
        typeof type === 'string' ? `builder type "${type}" is not supported: only "${BUILDER_TYPE}"` : `type is required ("${BUILDER_TYPE}")`,
      );
      return;
    }
    const builder = normalizeBuilder(entry, path, context, issues);
    chosen ??= builder;
  });
  return chosen;
}

function builderName(raw: unknown): string {
  const builders = isPlainObject(raw) && Array.isArray(raw.builders) ? (raw.builders as unknown[]) : [raw];
  const first = builders[0];
  const name = isPlainObject(first) ? first.name : undefined;
  return typeof name === 'string' && name !== '' ? name : BUILDER_TYPE;
}

/**
 * `json` is either a template ({"builders": [...]}) or one builder object
 * ({"type": "amazon-chroot", ...}), whose errors then have paths relative to it.
 */
export function parseTemplate(json: unknown, options: ParseOptions): BuildRequest {
  const issues = new Issues();
  if (!isPlainObject(json)) throw new TemplateValidationError([{ path: '', message: 'a template must be a JSON object' }]);
  const lone = !('builders' in json) && 'type' in json;
  const environment = { now: options.now ?? new Date(), allowEnv: options.allowEnv ?? false, env: options.env ?? {} };
  const overrides = options.vars ?? {};

  if (lone) {
    const variables = resolveVariables(undefined, undefined, overrides, environment, issues);
    const builder = normalizeBuilder(json, '', { ...environment, user: variables.user }, issues);
    issues.throwIfAny();
    return { builder: builder as AmazonChrootConfig, provisioners: [], sensitive_values: [], variables_used: {} };
  }

  checkTemplateKeys(json, issues);
  const variables = resolveVariables(json.variables, json['sensitive-variables'], overrides, environment, issues);
  const context = { ...environment, user: variables.user };
  const builder = templateBuilder(json.builders, context, issues);
  const provisioners = normalizeProvisioners(
    json.provisioners,
    { templateDir: options.templateDir, buildName: builder?.name ?? builderName(json), render: context },
    issues,
  );
  issues.throwIfAny();
  return {
    builder: builder as AmazonChrootConfig,
    provisioners,
    sensitive_values: variables.sensitiveValues,
    variables_used: Object.fromEntries(variables.values),
  };
}

function jsonErrorMessage(text: string, error: Error): string {
  if (/line \d+ column \d+/.test(error.message)) return error.message;
  const position = /position (\d+)/.exec(error.message);
  if (!position) return error.message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${error.message} (line ${line} column ${column})`;
}

/** Reads, parses and validates a template file; throws TemplateValidationError. */
export async function loadTemplateFile(path: string, options: LoadOptions = {}): Promise<BuildRequest> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    throw new TemplateValidationError([{ path: '', message: `cannot read template ${absolute}: ${(error as Error).message}` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TemplateValidationError([
      { path: '', message: `${absolute} is not valid JSON: ${jsonErrorMessage(text, error as Error)}` },
    ]);
  }
  return parseTemplate(json, { ...options, templateDir: dirname(absolute) });
}
