/**
 * A Packer JSON template (or a lone amazon-chroot builder object) to a BuildRequest.
 * Everything is validated before anything is thrown, so one TemplateValidationError lists
 * every problem.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { AmazonChrootConfig, BuildRequest } from './types.ts';
import { BUILDER_TYPE, normalizeBuilder } from './builder.ts';
import { chooseBuild, templateBuilds, type BuildSelection } from './builds.ts';
import { Issues, TemplateValidationError } from './errors.ts';
import { normalizePostProcessors } from './post-processors.ts';
import { normalizeProvisioners } from './provisioners.ts';
import { isPlainObject, unknownKeyMessage } from './schema/fields.ts';
import type { RequestTemplateContext } from './template/request.ts';
import { resolveVariables } from './variables.ts';
// The HCL2 loader (a WASM parser) is imported only for an HCL2 template: see loadTemplateFile.
import { isHcl2Template } from './hcl2/detect.ts';

export interface LoadOptions {
  /** Variable values given by the requester (`--var`); taken literally, not rendered. */
  vars?: Readonly<Record<string, string>>;
  /** See RequestTemplateContext.allowEnv: only the requester's own machine sets it. */
  allowEnv?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
  /** The build's instant for `{{timestamp}}` and `{{isotime}}`; defaults to now. */
  now?: Date;
  /** The requester's working directory for `{{pwd}}` (only where allowEnv). */
  cwd?: string;
  /** Packer's `-only` / `-except`: builder names or types (builds.ts). */
  only?: readonly string[];
  except?: readonly string[];
}

export interface ParseOptions extends LoadOptions {
  /** Relative script and file paths resolve against this directory. */
  templateDir: string;
}

const TEMPLATE_KEYS = ['variables', 'sensitive-variables', 'builders', 'provisioners', 'post-processors', 'description', 'min_packer_version'];

function checkTemplateKeys(template: Record<string, unknown>, issues: Issues): void {
  for (const key of Object.keys(template)) {
    // Packer ignores root keys starting with "_": the JSON way of writing comments.
    if (key.startsWith('_') || TEMPLATE_KEYS.includes(key)) continue;
    issues.add(key, unknownKeyMessage(key, TEMPLATE_KEYS));
  }
  for (const key of ['description', 'min_packer_version']) {
    const value = template[key];
    if (value !== undefined && typeof value !== 'string') issues.add(key, 'must be a string');
  }
}

/** The chosen amazon-chroot builder of `builders`, validated, with its path and every build's name. */
function templateBuilder(
  raw: unknown,
  selection: BuildSelection,
  context: RequestTemplateContext,
  issues: Issues,
): { builder?: AmazonChrootConfig; path?: string; buildName: string; buildNames: string[] } {
  if (!Array.isArray(raw)) {
    issues.add('builders', raw === undefined ? 'builders is required: a list with an amazon-chroot builder' : 'must be a list of builders');
    return { buildName: BUILDER_TYPE, buildNames: [] };
  }
  const builds = templateBuilds(raw);
  const chosen = chooseBuild(builds, selection, issues);
  const buildNames = builds.map((build) => build.name);
  if (chosen === undefined) return { buildName: BUILDER_TYPE, buildNames };
  const builder = normalizeBuilder(chosen.raw, chosen.path, context, issues);
  return { builder, path: chosen.path, buildName: chosen.name, buildNames };
}

/**
 * `json` is either a template ({"builders": [...]}) or one builder object
 * ({"type": "amazon-chroot", ...}), whose errors then have paths relative to it.
 */
export function parseTemplate(json: unknown, options: ParseOptions): BuildRequest {
  const issues = new Issues();
  if (!isPlainObject(json)) throw new TemplateValidationError([{ path: '', message: 'a template must be a JSON object' }]);
  const lone = !('builders' in json) && 'type' in json;
  const allowEnv = options.allowEnv ?? false;
  const environment = {
    now: options.now ?? new Date(),
    allowEnv,
    env: options.env ?? {},
    // The requester's directories: on the factory's side they would name its work folder.
    directories: allowEnv ? { pwd: options.cwd, template_dir: options.templateDir } : {},
  };
  const overrides = options.vars ?? {};
  const selection = { only: options.only, except: options.except };

  if (lone) {
    const variables = resolveVariables(undefined, undefined, overrides, environment, issues);
    // A lone builder is the template's only build: a selection must leave it chosen.
    chooseBuild(templateBuilds([json]), selection, issues);
    const builder = normalizeBuilder(json, '', { ...environment, user: variables.user }, issues);
    issues.throwIfAny();
    return { builder: builder as AmazonChrootConfig, provisioners: [], sensitive_values: [], variables_used: {}, builder_path: '', warnings: issues.warnings };
  }

  checkTemplateKeys(json, issues);
  const variables = resolveVariables(json.variables, json['sensitive-variables'], overrides, environment, issues);
  const context = { ...environment, user: variables.user };
  const { builder, path, buildName, buildNames } = templateBuilder(json.builders, selection, context, issues);
  const provisioners = normalizeProvisioners(
    json.provisioners,
    { templateDir: options.templateDir, buildName, buildNames, render: context },
    issues,
  );
  const postProcessors = normalizePostProcessors(json['post-processors'], { buildName, buildNames, render: context }, issues);
  issues.throwIfAny();
  return {
    builder: builder as AmazonChrootConfig,
    provisioners,
    sensitive_values: variables.sensitiveValues,
    variables_used: Object.fromEntries(variables.values),
    builder_path: path,
    ...(postProcessors.length > 0 ? { post_processors: postProcessors } : {}),
    warnings: issues.warnings,
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
  // A `.pkr.hcl` file or a folder of them: HCL2, translated to this loader's JSON (hcl2/).
  if (await isHcl2Template(path)) return (await (await import('./hcl2/load.ts')).loadHcl2Template(path, options)).request;
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
