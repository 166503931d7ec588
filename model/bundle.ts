/**
 * A build bundle: a template with everything it references, made portable. The CLI makes
 * one on the requester's machine (where `{{env}}` may render and script paths exist); the
 * factory's API validates it and stores it; a chroot host loads it. Both ends run the same
 * parser over the same files, materialised in a directory of their own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { readdir, realpath, stat } from 'node:fs/promises';
import { loadTemplateFile, parseTemplate } from './load.ts';
import { isHcl2Template, loadHcl2Files, loadHcl2Template } from './hcl2/load.ts';
import { localPathsOf } from './provisioners.ts';
import type { BuildRequest } from './types.ts';
import type { BuildBundle } from '../contract/bundle.ts';

/** The files at or below `path`; a folder reached twice through links is walked once. */
async function filesUnder(path: string, walked = new Set<string>()): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const real = await realpath(path);
  if (walked.has(real)) return [];
  walked.add(real);
  const found: string[] = [];
  for (const entry of await readdir(path)) found.push(...(await filesUnder(join(path, entry), walked)));
  return found;
}

/** A relative path that climbs out of its base (`..`, `../x`), or a path on another root. */
const leavesFolder = (path: string): boolean => path === '..' || path.startsWith(`..${sep}`) || isAbsolute(path);

/**
 * Where a referenced file really is, refusing one outside the template's folder: by its
 * path, and by where its symlinks lead, so a link to /etc cannot bundle /etc/shadow.
 */
async function insideTemplateDir(templateDir: string, file: string, what: string): Promise<string> {
  const realDir = await realpath(templateDir);
  const real = await realpath(file);
  if (leavesFolder(relative(realDir, real)) || leavesFolder(relative(templateDir, file))) {
    throw new Error(`${what}: ${file}${real === file ? '' : ` (a link to ${real})`} is outside the template's folder ${templateDir}; the factory receives only that folder`);
  }
  return relative(templateDir, file);
}

/**
 * Bundles a template file for the factory. Referenced files must lie inside the template's
 * directory: the bundle recreates that directory, and nothing outside it, on the far side.
 */
export async function bundleTemplateFile(
  templatePath: string,
  options: {
    vars?: Record<string, string>;
    env?: Record<string, string | undefined>;
    now?: Date;
    /** The requester's working directory, for `{{pwd}}` in variables. */
    cwd?: string;
    /** `--only` / `--except`: the chosen build travels in the bundle by its name. */
    only?: readonly string[];
    except?: readonly string[];
  } = {},
): Promise<BuildBundle> {
  const now = options.now ?? new Date();
  // Parsed here first: errors surface on the requester's machine, and the request tells
  // which files the provisioners reference.
  const loadOptions = {
    vars: options.vars, allowEnv: true, env: options.env ?? {}, cwd: options.cwd, now, only: options.only, except: options.except,
  };
  // HCL2 travels as its own files, evaluated again on the far side (hcl2/).
  const hcl2 = (await isHcl2Template(templatePath)) ? await loadHcl2Template(templatePath, loadOptions) : undefined;
  const request = hcl2?.request ?? (await loadTemplateFile(templatePath, loadOptions));
  const templateDir = hcl2?.templateDir ?? dirname(resolve(templatePath));
  const files: Record<string, string> = {};
  for (const name of [...(hcl2?.templateFiles ?? []), ...(hcl2?.reads ?? [])]) {
    const file = resolve(templateDir, name);
    files[(await insideTemplateDir(templateDir, file, name)).split(sep).join('/')] = (await readFile(file)).toString('base64');
  }
  for (const provisioner of request.provisioners) {
    const paths = localPathsOf(provisioner);
    for (const path of paths) {
      const what = `provisioners[${provisioner.index}]`;
      // The path itself first: a link to a folder outside is refused before it is walked.
      await insideTemplateDir(templateDir, path, what);
      for (const file of await filesUnder(path)) {
        const inTemplateDir = await insideTemplateDir(templateDir, file, what);
        files[inTemplateDir.split(sep).join('/')] = (await readFile(file)).toString('base64');
      }
    }
  }
  return {
    // An object: the template was loaded from this text just above.
    template: hcl2 ? {} : (JSON.parse(await readFile(templatePath, 'utf8')) as Record<string, unknown>),
    ...(hcl2 ? { hcl2: hcl2.templateFiles } : {}),
    // Every variable's final value: passed back as overrides, no `{{env}}` is left to
    // render on the factory's side.
    variables: { ...request.variables_used },
    files,
    renderedAt: now.toISOString(),
    // Only when chosen: a bundle of a one-builder template stays as it always was.
    ...((options.only?.length ?? 0) + (options.except?.length ?? 0) > 0 ? { build: request.builder.name } : {}),
  };
}

/** Recreates the bundle's files under `workDir` and parses its template there. */
export async function loadBundle(bundle: BuildBundle, workDir: string): Promise<BuildRequest> {
  for (const [path, content] of Object.entries(bundle.files)) {
    const target = resolve(workDir, path);
    if (!target.startsWith(resolve(workDir) + sep)) throw new Error(`bundle file ${path} escapes its directory`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, Buffer.from(content, 'base64'));
  }
  if (bundle.hcl2) {
    const options = { vars: bundle.variables, allowEnv: false, now: new Date(bundle.renderedAt), only: bundle.build === undefined ? undefined : [bundle.build] };
    return (await loadHcl2Files(workDir, bundle.hcl2, options)).request;
  }
  return parseTemplate(bundle.template, {
    templateDir: workDir,
    vars: bundle.variables,
    allowEnv: false,
    now: new Date(bundle.renderedAt),
    only: bundle.build === undefined ? undefined : [bundle.build],
  });
}
