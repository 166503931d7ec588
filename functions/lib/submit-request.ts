/**
 * POST /builds, before the model sees it: size, JSON and the envelope's shape
 * (`{ "bundle": BuildBundle }`, what `ami-factory build` sends). The template inside is the
 * model's to judge; this only makes sure there is one to judge.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { BuildBundle } from '../../model/bundle.ts';
import { ProblemError, type FieldProblem } from './http.ts';

const FILE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/;

/** zod's messages say what was expected; a missing field deserves plainer words. */
const expect = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`),
});

const bundleSchema = z.object({
  template: z.record(z.string(), z.unknown(), expect('a JSON object, the Packer template')),
  variables: z.record(z.string(), z.string(), { error: 'must be an object of variable names to string values' }).default({}),
  files: z
    .record(
      z.string().regex(FILE_PATH, 'must be a relative path inside the template\'s folder'),
      z.base64({ error: 'must be the file\'s content in base64' }),
      { error: 'must be an object of relative paths to base64 contents' },
    )
    .default({}),
  renderedAt: z.iso.datetime({ offset: true, ...expect('an ISO 8601 date-time, such as 2024-05-06T07:08:09Z') }),
}, expect('a build bundle: {template, variables, files, renderedAt}'));

const bodySchema = z.object({ bundle: bundleSchema }, expect('a JSON object: {"bundle": ...}'));

export interface SubmitRequest {
  bundle: BuildBundle & { template: Record<string, unknown> };
  /** SHA-256 of the body's canonical JSON: what an Idempotency-Key replay must match. */
  hash: string;
}

/** JSON with sorted keys, so whitespace and key order do not make two requests differ. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) ? (out === '' ? name : `${out}.${name}`) : `${out}[${JSON.stringify(name)}]`;
  }, '');
}

export function parseSubmitBody(body: Buffer, maxBytes: number): SubmitRequest {
  if (body.length > maxBytes) {
    throw new ProblemError(413, 'PayloadTooLarge', `the request body is ${body.length} bytes; the limit is ${maxBytes}`);
  }
  if (body.length === 0) throw new ProblemError(400, 'InvalidRequest', 'the request body is empty: send {"bundle": ...}');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new ProblemError(400, 'InvalidJson', `the request body is not JSON: ${(error as Error).message}`);
  }
  const parsed = bodySchema.safeParse(json);
  if (!parsed.success) {
    const errors: FieldProblem[] = parsed.error.issues.map((issue) => ({
      path: fieldPath(issue.path),
      message: issue.message,
    }));
    throw new ProblemError(400, 'InvalidRequest', errors.map((e) => `${e.path || '(body)'}: ${e.message}`).join('; '), errors);
  }
  return { bundle: parsed.data.bundle, hash: createHash('sha256').update(canonicalJson(json)).digest('hex') };
}
