/**
 * Validates an options object one option at a time. zod stops running object-level
 * refinements once any field has an issue; validating each option on its own keeps every
 * shape error, and leaves the cross-field rules a partial result they can always run on.
 */
import * as z from 'zod';
import type { Issues } from '../errors.ts';
import { fieldErrorsOf } from '../../contract/field-errors.ts';

export type Shape = Record<string, z.ZodType>;

export type Parsed<S extends Shape> = { -readonly [K in keyof S]?: z.output<S[K]> };

export interface ParsedOptions<S extends Shape> {
  value: Parsed<S>;
  /** Options the template sets (null and "" count as unset, as Go's zero values do). */
  given: ReadonlySet<string>;
  /** Options set but invalid: rules about them stay silent rather than guess. */
  bad: ReadonlySet<string>;
}

export function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

export function unknownKeyMessage(key: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const hint = best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? `; did you mean "${best}"?` : '';
  return `unknown configuration key "${key}"${hint}`;
}

/** zod's issues as field errors under `base`, one per unknown key. */
export function zodIssuesAsErrors(error: z.ZodError, base: string, issues: Issues): void {
  for (const { path, message } of fieldErrorsOf(error, base)) issues.add(path, message);
}

export function parseOptions<S extends Shape>(
  raw: Readonly<Record<string, unknown>>,
  shape: S,
  pathOf: (key: string) => string,
  issues: Issues,
  skip: ReadonlySet<string> = new Set(),
): ParsedOptions<S> {
  const value: Record<string, unknown> = {};
  const given = new Set<string>();
  const bad = new Set<string>();
  for (const key of Object.keys(shape)) {
    const input = raw[key];
    if (isUnset(input)) continue;
    given.add(key);
    if (skip.has(key)) {
      bad.add(key);
      continue;
    }
    const result = (shape[key] as z.ZodType).safeParse(input);
    if (result.success) value[key] = result.data;
    else {
      bad.add(key);
      zodIssuesAsErrors(result.error, pathOf(key), issues);
    }
  }
  return { value: value as Parsed<S>, given, bad };
}
