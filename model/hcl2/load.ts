/**
 * An HCL2 template (`.pkr.hcl` file, or a folder of them as Packer allows) to the same
 * BuildRequest its Packer JSON twin gives: parse every file, resolve variables and locals,
 * translate the blocks to the JSON template they stand for, validate that with the JSON
 * loader, and point its errors back into the HCL files.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { TemplateValidationError } from '../errors.ts';
import { parseTemplate, type LoadOptions } from '../load.ts';
import type { BuildRequest, FieldError } from '../types.ts';
import { at, HclError, parseHcl, readBody, type Block, type HclFile } from './parser.ts';
import { HclIssues, resolveScope, type Located } from './scope.ts';
import { renderTemplateFile } from './templatefile.ts';
import { positionOf, translate } from './translate.ts';
import { asTemplateText } from './values.ts';
import { parseHclVarFile } from './var-file.ts';
import { HCL2_SUFFIX } from './detect.ts';

export { HCL2_SUFFIX, isHcl2Template } from './detect.ts';

const AUTO_VARS_SUFFIX = '.auto.pkrvars.hcl';

export interface Hcl2Result {
  request: BuildRequest;
  /** The folder the template's files are in, and relative paths resolve against. */
  templateDir: string;
  /** The template's files, relative to its folder. */
  templateFiles: string[];
  /** Files its functions read (file(), templatefile()), relative to its folder. */
  reads: string[];
}

const TOP_LEVEL = new Set(['variable', 'locals', 'local', 'source', 'build', 'data', 'packer']);

/** Reads the files a template path names: one file, or a folder's `*.pkr.hcl`. */
async function templateNames(path: string): Promise<{ templateDir: string; names: string[] }> {
  const absolute = resolve(path);
  if ((await stat(absolute)).isDirectory()) {
    const names = (await readdir(absolute)).filter((name) => name.endsWith(HCL2_SUFFIX)).sort();
    if (names.length === 0) throw new Error(`${absolute} holds no ${HCL2_SUFFIX} files`);
    return { templateDir: absolute, names };
  }
  return { templateDir: dirname(absolute), names: [basename(absolute)] };
}

/** `*.auto.pkrvars.hcl` beside the template, in name order: values below var files and -var. */
async function autoVariables(templateDir: string): Promise<Record<string, string>> {
  let values: Record<string, string> = {};
  for (const name of (await readdir(templateDir)).filter((found) => found.endsWith(AUTO_VARS_SUFFIX)).sort()) {
    values = { ...values, ...(await parseHclVarFile(name, await readFile(resolve(templateDir, name), 'utf8'), templateDir)) };
  }
  return values;
}

/** Loads a template path on the requester's machine (auto var files included). */
export async function loadHcl2Template(path: string, options: LoadOptions = {}): Promise<Hcl2Result> {
  let found: { templateDir: string; names: string[] };
  try {
    found = await templateNames(path);
  } catch (error) {
    throw new TemplateValidationError([{ path: '', message: `cannot read template ${resolve(path)}: ${(error as Error).message}` }]);
  }
  const auto = await autoVariables(found.templateDir);
  return loadHcl2Files(found.templateDir, found.names, { ...options, vars: { ...auto, ...options.vars } });
}

/** Loads named files of a folder: what a bundle's far side does, with no auto var files. */
export async function loadHcl2Files(templateDir: string, names: readonly string[], given: LoadOptions = {}): Promise<Hcl2Result> {
  const options = { ...given, only: sourceNames(given.only), except: sourceNames(given.except) };
  const issues = new HclIssues();
  const files: HclFile[] = [];
  for (const name of names) {
    try {
      files.push(await parseHcl(name, await readFile(resolve(templateDir, name), 'utf8')));
    } catch (error) {
      if (error instanceof HclError) issues.add(error.where, error.message);
      // The code alone: the message would name this machine's folder.
      else issues.add(name, `cannot read: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }
  throwIfAny(issues.errors);

  const blocks: Located<Block>[] = [];
  for (const file of files) {
    const body = readBody(file.body);
    for (const attribute of body.attributes) issues.add(at(file.name, attribute.node), `"${attribute.name}" cannot be set at the top level of a template`);
    for (const block of body.blocks) {
      if (TOP_LEVEL.has(block.type)) blocks.push({ file: file.name, item: block });
      else issues.add(at(file.name, block.node), `unknown block "${block.type}" (known: ${[...TOP_LEVEL].join(', ')})`);
    }
  }
  const now = options.now ?? new Date();
  const reads = new Set<string>();
  const environment = { templateDir, now, reads, env: options.allowEnv ? (options.env ?? {}) : undefined, budget: { steps: 1_000_000 } };
  const withTemplates = { ...environment, renderTemplate: renderTemplateFile(environment) };
  const scope = resolveScope(
    blocks.filter(({ item }) => item.type === 'variable'),
    blocks.filter(({ item }) => item.type === 'locals' || item.type === 'local'),
    options.vars ?? {},
    withTemplates,
    issues,
  );
  // `packer { required_version, required_plugins }` concerns Packer's own binary: ignored.
  const { template, positions, failed } = translate(blocks, scope, issues, { only: options.only, except: options.except });
  // With no source translated, the JSON loader would only repeat what is reported.
  const builders = template.builders;
  if (!Array.isArray(builders) || builders.length === 0) throwIfAny(issues.errors);

  let request: BuildRequest;
  try {
    // Values are final: nothing is left for the JSON loader's variables to render.
    request = parseTemplate(template, { ...options, templateDir, now, vars: {}, allowEnv: false });
  } catch (error) {
    if (!(error instanceof TemplateValidationError)) throw error;
    // All at once: the HCL errors, then the option errors that are not their echo.
    const echoes = (path: string): boolean =>
      [...failed].some((bad) => bad === path || bad.startsWith(`${path}.`) || bad.startsWith(`${path}[`) || path.startsWith(`${bad}.`) || path.startsWith(`${bad}[`));
    const own = error.errors.filter((found) => !echoes(found.path)).map((found) => relocate(found, positions, template));
    throw new TemplateValidationError([...issues.errors, ...own]);
  }
  throwIfAny(issues.errors);
  const variables = [...scope.values].filter(([name]) => !name.startsWith('local.'));
  return {
    request: {
      ...request,
      sensitive_values: [...new Set([...request.sensitive_values, ...scope.sensitiveValues])],
      variables_used: Object.fromEntries(variables.map(([name, value]) => [name, asTemplateText(value)])),
      ...(request.warnings ? { warnings: request.warnings.map((warning) => relocate(warning, positions, template)) } : {}),
    },
    templateDir,
    templateFiles: [...names],
    reads: [...reads].sort(),
  };
}

/**
 * Packer's HCL2 `-only`/`-except` name sources as `TYPE.NAME` (or `BUILD.TYPE.NAME`); the
 * JSON loader chooses builders by name or type, and a source's builder is named NAME.
 */
function sourceNames(names: readonly string[] | undefined): readonly string[] | undefined {
  return names?.map((name) => (name.includes('.') ? (name.split('.').pop() ?? name) : name));
}

function throwIfAny(errors: readonly FieldError[]): void {
  if (errors.length > 0) throw new TemplateValidationError(errors);
}

/** A JSON validator error at the HCL that wrote it, named the HCL way (`source.amazon-chroot.x`). */
function relocate(error: FieldError, positions: ReadonlyMap<string, string>, template: Record<string, unknown>): FieldError {
  const where = positionOf(positions, error.path);
  if (where === undefined) return error;
  const builders = Array.isArray(template.builders) ? (template.builders as Record<string, unknown>[]) : [];
  const named = error.path.replace(/^builders\[(\d+)\]/, (whole, index: string) => {
    const builder = builders[Number(index)];
    return builder ? `source.${String(builder.type)}.${String(builder.name)}` : whole;
  });
  return { path: where, message: named === '' ? error.message : `${named}: ${error.message}` };
}
