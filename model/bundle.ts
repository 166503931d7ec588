/**
 * A build bundle: a template with everything it references, made portable. The CLI makes
 * one on the requester's machine (where `{{env}}` may render and script paths exist); the
 * factory's API validates it and stores it; a chroot host loads it. Both ends run the same
 * parser over the same files, materialised in a directory of their own.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { loadTemplateFile, parseTemplate } from './load.ts';
import type { BuildRequest } from './types.ts';
import type { BuildBundle } from '../contract/bundle.ts';

async function filesUnder(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const found: string[] = [];
  for (const entry of await readdir(path)) found.push(...(await filesUnder(join(path, entry))));
  return found;
}

/**
 * Bundles a template file for the factory. Referenced files must lie inside the template's
 * directory: the bundle recreates that directory, and nothing outside it, on the far side.
 */
export async function bundleTemplateFile(
  templatePath: string,
  options: { vars?: Record<string, string>; env?: Record<string, string | undefined>; now?: Date } = {},
): Promise<BuildBundle> {
  const now = options.now ?? new Date();
  // Parsed here first: errors surface on the requester's machine, and the request tells
  // which files the provisioners reference.
  const request = await loadTemplateFile(templatePath, { vars: options.vars, allowEnv: true, env: options.env ?? {}, now });
  const templateDir = dirname(resolve(templatePath));
  const files: Record<string, string> = {};
  for (const provisioner of request.provisioners) {
    const paths = provisioner.type === 'shell' ? provisioner.scripts : provisioner.sources;
    for (const path of paths) {
      for (const file of await filesUnder(path)) {
        const inTemplateDir = relative(templateDir, file);
        if (inTemplateDir.startsWith('..')) {
          throw new Error(`provisioners[${provisioner.index}]: ${file} is outside the template's folder ${templateDir}; the factory receives only that folder`);
        }
        files[inTemplateDir.split(sep).join('/')] = (await readFile(file)).toString('base64');
      }
    }
  }
  return {
    // An object: the template was loaded from this text just above.
    template: JSON.parse(await readFile(templatePath, 'utf8')) as Record<string, unknown>,
    // Every variable's final value: passed back as overrides, no `{{env}}` is left to
    // render on the factory's side.
    variables: { ...request.variables_used },
    files,
    renderedAt: now.toISOString(),
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
  return parseTemplate(bundle.template, {
    templateDir: workDir,
    vars: bundle.variables,
    allowEnv: false,
    now: new Date(bundle.renderedAt),
  });
}
