/**
 * POST /builds, before the model sees it: size, JSON and the envelope's shape
 * (`{ "bundle": BuildBundle }`, what `ami-factory build` sends). The template inside is the
 * model's to judge; this only makes sure there is one to judge.
 */
import { createHash } from 'node:crypto';
import { SubmitBodySchema, type BuildBundle, type SubmitBody } from '../../contract/bundle.ts';
import { fieldErrorsOf, formatFieldErrors } from '../../contract/field-errors.ts';
import type { Target } from '../../contract/targets.ts';
import { ProblemError } from './http.ts';

export interface SubmitRequest {
  bundle: BuildBundle;
  /** Bake even when the request's bake key already has an image or a running build. */
  rebake: boolean;
  /** Where the image goes beyond the build region and account; none by default. */
  targets: Target[];
  /** SHA-256 of the body's canonical JSON: what an Idempotency-Key replay must match. */
  hash: string;
}

/**
 * How deep a body may nest. A Packer template nests a handful of levels; the limit keeps
 * the recursive steps after parsing (validation, hashing, rendering) within the stack.
 */
export const MAX_BODY_DEPTH = 64;

/** The depth of a parsed JSON value, counted without recursion: a hostile body may nest thousands deep. */
function depthOf(root: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[root, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, depth] = next;
    if (value === null || typeof value !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_BODY_DEPTH) return deepest;
    for (const item of Object.values(value)) pending.push([item, depth + 1]);
  }
  return deepest;
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
  if (depthOf(json) > MAX_BODY_DEPTH) {
    throw new ProblemError(400, 'InvalidRequest', `the request body nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays`, [
      { path: '', message: `nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays` },
    ]);
  }
  const parsed = SubmitBodySchema.safeParse(json);
  if (!parsed.success) {
    const errors = fieldErrorsOf(parsed.error);
    throw new ProblemError(400, 'InvalidRequest', formatFieldErrors(errors, { whole: '(body)', separator: '; ' }), errors);
  }
  return { bundle: parsed.data.bundle, rebake: parsed.data.rebake ?? false, targets: parsed.data.targets ?? [], hash: requestHash(json) };
}

const requestHash = (json: unknown): string => createHash('sha256').update(canonicalJson(json)).digest('hex');

/**
 * The request a body makes that did not come over HTTP (a factory family's run,
 * family-run.ts): already valid, hashed as a body with the same JSON would be.
 */
export function submitRequestOf(body: SubmitBody): SubmitRequest {
  return { bundle: body.bundle, rebake: body.rebake ?? false, targets: body.targets ?? [], hash: requestHash(body) };
}
