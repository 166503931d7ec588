/**
 * The `variables` block: declared names, values given by the requester (`--var`), required
 * variables (declared with null), values that refer to other variables, and which values
 * are secrets (`sensitive-variables`).
 */
import type { Issues } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { TemplateError } from './template/engine.ts';
import { renderRequestTemplate } from './template/request.ts';
import type { RequestTemplateContext } from './template/request.ts';

export interface ResolvedVariables {
  values: ReadonlyMap<string, string>;
  /** Rendered values of the sensitive variables, for masking. */
  sensitiveValues: string[];
  /** `{{user}}` for the rest of the template: undefined for an undeclared variable. */
  user: (name: string) => string | undefined;
}

type Environment = Omit<RequestTemplateContext, 'user'>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function undeclared(name: string): TemplateError {
  return new TemplateError(`user variable "${name}" is not declared in "variables"`);
}

function readDeclarations(raw: unknown, issues: Issues): Map<string, string | null> {
  const declared = new Map<string, string | null>();
  if (raw === undefined || raw === null) return declared;
  if (!isPlainObject(raw)) {
    issues.add('variables', 'must be an object of variable names to string values (null marks a required variable)');
    return declared;
  }
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === 'string' || value === null) declared.set(name, value);
    else {
      issues.add(joinPath('variables', name), 'must be a string, or null to mark a required variable');
      // Still declared: uses elsewhere should not add "not declared" noise.
      declared.set(name, '');
    }
  }
  return declared;
}

export function resolveVariables(
  rawVariables: unknown,
  rawSensitive: unknown,
  overrides: Readonly<Record<string, string>>,
  environment: Environment,
  issues: Issues,
): ResolvedVariables {
  const declared = readDeclarations(rawVariables, issues);
  for (const name of Object.keys(overrides)) {
    // Packer accepts it (and ignores it): a shared var file may serve several templates.
    if (!declared.has(name)) {
      issues.warn(joinPath('variables', name), 'is given a value (--var) but is not declared in "variables": ignored');
    }
  }

  const values = new Map<string, string>();
  const failed = new Set<string>();
  const resolving: string[] = [];

  const resolve = (name: string): string => {
    const known = values.get(name);
    if (known !== undefined) return known;
    if (failed.has(name)) return '';
    const override = overrides[name];
    if (override !== undefined) {
      values.set(name, override);
      return override;
    }
    const raw = declared.get(name);
    if (raw === undefined) throw undeclared(name);
    if (raw === null) {
      issues.add(joinPath('variables', name), `is required (declared null) but no value was given: set it with --var ${name}=VALUE`);
      failed.add(name);
      return '';
    }
    if (resolving.includes(name)) {
      throw new TemplateError(`variables refer to each other in a cycle: ${[...resolving, name].join(' -> ')}`);
    }
    resolving.push(name);
    try {
      const warn = (message: string): void => {
        issues.warn(joinPath('variables', name), message);
      };
      const value = renderRequestTemplate(raw, { hostFields: [], inVariables: true }, { ...environment, user: resolve, warn });
      values.set(name, value);
      return value;
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      issues.add(joinPath('variables', name), error.message);
      failed.add(name);
      return '';
    } finally {
      resolving.pop();
    }
  };
  for (const name of declared.keys()) resolve(name);

  return {
    values,
    sensitiveValues: sensitiveValues(rawSensitive, declared, values, issues),
    user: (name) => (declared.has(name) ? (values.get(name) ?? '') : undefined),
  };
}

function sensitiveValues(
  raw: unknown,
  declared: ReadonlyMap<string, unknown>,
  values: ReadonlyMap<string, string>,
  issues: Issues,
): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    issues.add('sensitive-variables', 'must be a list of variable names');
    return [];
  }
  const secrets = new Set<string>();
  raw.forEach((name: unknown, index) => {
    const path = joinPath('sensitive-variables', index);
    if (typeof name !== 'string') issues.add(path, 'must be a variable name (a string)');
    // Packer skips it; a typo here would leave a secret unmasked, so it is said loudly.
    else if (!declared.has(name)) issues.warn(path, `"${name}" is not declared in "variables": ignored`);
    else {
      const value = values.get(name);
      // An empty value would "mask" every position of every line.
      if (value) secrets.add(value);
    }
  });
  return [...secrets];
}
