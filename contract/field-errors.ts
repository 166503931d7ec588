/**
 * Field errors, the one shape every layer reports bad input in: the template model, the
 * API's problem details (`errors: [{ path, message }]`), the worker's task parser and the
 * configuration loaders. Paths are spelled as users read them, `builders[0].chroot_mounts[2]`
 * or `tags["aws:x"]`, so errors from zod, from rules and from the template engine sort and
 * print together.
 */
import type { z } from 'zod';

/** One validation problem: the field path (empty for the whole input) and why. */
export interface FieldError {
  path: string;
  message: string;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!PLAIN_KEY.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

export function joinPaths(base: string, keys: readonly PropertyKey[]): string {
  return keys.reduce<string>((path, key) => (typeof key === 'symbol' ? path : joinPath(path, key)), base);
}

type Segment = string | number;

const SEGMENT = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/g;

function segments(path: string): Segment[] {
  const out: Segment[] = [];
  for (const match of path.matchAll(SEGMENT)) {
    if (match[1] !== undefined) out.push(Number(match[1]));
    else if (match[2] !== undefined) out.push(JSON.parse(match[2]) as string);
    else if (match[3] !== undefined) out.push(match[3]);
  }
  return out;
}

/** Orders `x[2]` before `x[10]`, and a parent before its children. */
export function comparePaths(a: string, b: string): number {
  const left = segments(a);
  const right = segments(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i] as Segment;
    const r = right[i] as Segment;
    if (l === r) continue;
    if (typeof l === 'number' && typeof r === 'number') return l - r;
    // Indices before names keeps array entries next to each other.
    if (typeof l === 'number') return -1;
    if (typeof r === 'number') return 1;
    return l < r ? -1 : 1;
  }
  return left.length - right.length;
}

/** Sorted by path, then message, without duplicates: stable output for people and tests. */
export function sortFieldErrors(errors: readonly FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors
    .filter((error) => {
      const key = `${error.path}\u0000${error.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => comparePaths(a.path, b.path) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}

/**
 * `path: message`, or `WHOLE: message` for an error about the whole input, where `whole`
 * names it for the reader (`(body)`, `(template)`, a file name).
 */
export function formatFieldError(error: FieldError, whole = ''): string {
  const path = error.path === '' ? whole : error.path;
  return path === '' ? error.message : `${path}: ${error.message}`;
}

/** Several errors on one line each, or joined with `separator`. */
export function formatFieldErrors(errors: readonly FieldError[], options: { whole?: string; separator?: string } = {}): string {
  return errors.map((error) => formatFieldError(error, options.whole)).join(options.separator ?? '\n');
}

/**
 * zod's issues as field errors under `base`: one per unknown key (named in its own path),
 * and the inner reasons of a bad record key or set element rather than zod's summary.
 */
export function fieldErrorsOf(error: z.ZodError, base = ''): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const path = joinPaths(base, issue.path);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: joinPath(path, key), message: `unknown configuration key "${key}"` }));
    }
    if (issue.code === 'invalid_key' || issue.code === 'invalid_element') {
      return issue.issues.map((inner) => ({ path, message: inner.message }));
    }
    return [{ path, message: issue.message }];
  });
}
