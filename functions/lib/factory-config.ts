/**
 * The factory configuration (`factory.yml`, contract/factory-config.ts) as the functions read
 * it: the file deployed beside the function bundle (serverless.yml packages it, with the folders
 * of its families' templates, into the functions that read it), or the file `FACTORY_CONFIG`
 * names. Checked as a whole, every problem named with its path, as the access configuration is:
 * a broken file fails the first request with a line that says what to fix.
 *
 * Beyond the schema: each cron is EventBridge's (schedule-cron.ts) and each time zone an IANA
 * one, so `serverless package` refuses what CloudFormation would refuse at deploy time; and
 * each template lies inside the configuration's folder, the only folder that is deployed.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { BuildBundle } from '../../contract/bundle.ts';
import { FactoryConfigSchema, FamilySchema, type FactoryConfig, type Family, type Schedule } from '../../contract/factory-config.ts';
import { fieldErrorsOf, formatFieldErrors, joinPaths, sortFieldErrors, type FieldError } from '../../contract/field-errors.ts';
import { bundleTemplateFile } from '../../model/bundle.ts';
import { TemplateValidationError } from '../../model/index.ts';
import { ConfigError } from './config.ts';
import { ProblemError } from './http.ts';
import { checkTimeZone, CronError, cronerJob } from './schedule-cron.ts';

export const FACTORY_CONFIG_FILE = 'factory.yml';

/** The configuration and the file it was read from (templates are relative to its folder). */
export interface LoadedFactoryConfig extends FactoryConfig {
  path: string;
}

/**
 * Where the configuration is: `FACTORY_CONFIG` when set (relative to the working directory);
 * in Lambda the file packaged at the root of the function's code; elsewhere (the local
 * factory, tests) the checkout's own.
 */
export function factoryConfigPath(): string {
  const configured = process.env.FACTORY_CONFIG?.trim();
  if (configured !== undefined && configured !== '') return resolve(configured);
  const taskRoot = process.env.LAMBDA_TASK_ROOT;
  if (taskRoot !== undefined && taskRoot !== '') return resolve(taskRoot, FACTORY_CONFIG_FILE);
  return fileURLToPath(new URL(`../../${FACTORY_CONFIG_FILE}`, import.meta.url));
}

/** A schedule's problems (cron, time zone), each under `path`. */
function scheduleErrors(schedule: Schedule | undefined, path: readonly (string | number)[]): FieldError[] {
  if (schedule === undefined) return [];
  const problem = (field: string, check: () => unknown): FieldError[] => {
    try {
      check();
      return [];
    } catch (error) {
      if (!(error instanceof CronError)) throw error;
      return [{ path: joinPaths('', [...path, field]), message: error.message }];
    }
  };
  // The cron on its own (in UTC), so a bad time zone is reported once, as the time zone's.
  return [...problem('cron', () => cronerJob(schedule.cron, 'UTC')), ...problem('timezone', () => { checkTimeZone(schedule.timezone); })];
}

/** What the schema cannot say: EventBridge's cron and time zones, templates inside the folder. */
function familyErrors(name: string, family: Family): FieldError[] {
  const base = ['families', name];
  const errors = [...scheduleErrors(family.schedule, [...base, 'schedule']), ...scheduleErrors(family.lifecycle?.schedule, [...base, 'lifecycle', 'schedule'])];
  const segments = family.template.split(/[\\/]/);
  if (isAbsolute(family.template) || segments.includes('..') || segments.length < 2) {
    errors.push({
      path: joinPaths('', [...base, 'template']),
      message: `"${family.template}" must lie in a folder of its own inside the configuration's folder (relative, without ".."): that folder, with the scripts and files beside the template, is what is deployed`,
    });
  }
  return errors;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses and checks a configuration's text; `source` names it in errors. */
export function parseFactoryConfig(text: string, source: string): FactoryConfig {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new ConfigError(`${source} is not YAML: ${(error as Error).message}`);
  }
  // An empty file is a factory without families.
  const parsed = FactoryConfigSchema.safeParse(document ?? {});
  // Every problem at once: the checks beyond the schema run on each family the schema takes,
  // even when another one (or the file's shape) is wrong.
  const families = isRecord(document) && isRecord(document.families) ? document.families : {};
  const errors = [
    ...(parsed.success ? [] : fieldErrorsOf(parsed.error)),
    ...Object.entries(families).flatMap(([name, raw]) => {
      const family = FamilySchema.safeParse(raw);
      return family.success ? familyErrors(name, family.data) : [];
    }),
  ];
  if (!parsed.success || errors.length > 0) {
    throw new ConfigError(`${source} is invalid: ${formatFieldErrors(sortFieldErrors(errors), { whole: '(root)', separator: '; ' })}`);
  }
  return parsed.data;
}

let cached: { path: string; text: string; config: LoadedFactoryConfig } | undefined;

/** The deployment's configuration, checked again only when its text changes. */
export async function loadFactoryConfig(path: string = factoryConfigPath()): Promise<LoadedFactoryConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the factory configuration ${path} (FACTORY_CONFIG, or ${FACTORY_CONFIG_FILE} deployed with the functions): ${(error as Error).message}`);
  }
  if (cached?.path !== path || cached.text !== text) cached = { path, text, config: { ...parseFactoryConfig(text, path), path } };
  return cached.config;
}

/** Whether any family keeps a volume pool: builds then look in their pool before creating a volume. */
export function keepsVolumePools(config: FactoryConfig): boolean {
  return Object.values(config.families).some((family) => family.volume_pool !== undefined);
}

/** 404 FamilyNotFound: also the answer for a family the caller may not see, so none leaks. */
export function familyNotFound(name: string): ProblemError {
  return new ProblemError(404, 'FamilyNotFound', `the factory configuration has no family "${name}"`);
}

/** The family of this name; 404 FamilyNotFound when the configuration has none. */
export function familyOrNotFound(config: FactoryConfig, name: string): Family {
  const family = Object.hasOwn(config.families, name) ? config.families[name] : undefined;
  if (family === undefined) throw familyNotFound(name);
  return family;
}

/** The family's template file, as deployed beside the configuration. */
export function familyTemplatePath(config: LoadedFactoryConfig, family: Family): string {
  return resolve(dirname(config.path), family.template);
}

/**
 * The bundle a `POST /builds` of the family would carry: the template with the files its
 * provisioners reference and the family's variables, made by the CLI's own bundling code.
 * `{{env}}` renders empty: the factory's environment is never a template's to read.
 * A template with errors is 400 InvalidTemplate with every error, as at submit; one that
 * cannot be read or bundled is 500 FamilyTemplateUnreadable (the deployment's fault).
 */
export async function familyBundle(config: LoadedFactoryConfig, name: string, now: Date = new Date()): Promise<BuildBundle> {
  const family = familyOrNotFound(config, name);
  try {
    return await bundleTemplateFile(familyTemplatePath(config, family), { vars: family.variables, env: {}, now });
  } catch (error) {
    if (error instanceof TemplateValidationError) {
      throw new ProblemError(400, 'InvalidTemplate', `the template of family "${name}" (${family.template}) has ${error.errors.length} error(s)`, error.errors);
    }
    throw new ProblemError(500, 'FamilyTemplateUnreadable', `the template of family "${name}" (${family.template}) cannot be bundled: ${(error as Error).message}`);
  }
}
