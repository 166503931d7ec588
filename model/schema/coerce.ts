/**
 * Scalar shapes with Packer's decoding. Packer decodes templates with mapstructure's weak
 * typing, so "10" fills a number option and "true" a boolean one; templates rely on it
 * because `{{user `x`}}` always yields a string.
 */
import * as z from 'zod';

const INTEGER_TEXT = /^[+-]?\d+$/;

export function integer(bounds: { min?: number; max?: number } = {}) {
  let number = z.number({ error: 'must be a whole number' }).int('must be a whole number');
  if (bounds.min !== undefined) number = number.min(bounds.min, `must be at least ${bounds.min}`);
  if (bounds.max !== undefined) number = number.max(bounds.max, `must be at most ${bounds.max}`);
  return z.preprocess(
    (value) => (typeof value === 'string' && INTEGER_TEXT.test(value.trim()) ? Number(value.trim()) : value),
    number,
  );
}

// The spellings Go's strconv.ParseBool accepts.
const TRUE_TEXT = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE_TEXT = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export function boolean() {
  return z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    if (TRUE_TEXT.has(value.trim())) return true;
    if (FALSE_TEXT.has(value.trim())) return false;
    return value;
  }, z.boolean({ error: 'must be true or false' }));
}

export function string() {
  return z.string({ error: 'must be a string' });
}

/**
 * A list of strings. A single string is split on commas, as Packer's decoder does for every
 * list of strings (packer-plugin-sdk config/decode.go: StringToSliceHookFunc(",")):
 * `"mount_options": "commit=900,relatime"`, `"copy_files": "/etc/resolv.conf"`. Parts are
 * trimmed and empty ones dropped ("a, b" is ["a", "b"]), where Packer would keep " b".
 * `commaSeparated` is kept for callers that name it; every list splits.
 */
export function stringList<T extends z.ZodType<string>>(item: T, _options: { commaSeparated?: boolean } = {}) {
  return z.preprocess(
    (value) => (typeof value === 'string' ? value.split(',').map((part) => part.trim()).filter((part) => part !== '') : value),
    z.array(item, { error: 'must be a list of strings' }),
  );
}

/** A string that matches `pattern`; `what` completes "must be ...". */
export function matching(pattern: RegExp, what: string) {
  return string().regex(pattern, `must be ${what}`);
}

/** A string map; numbers and booleans become strings, as Packer's weak decoding does. */
export function stringMap<K extends z.ZodType<string, string>>(key: K) {
  return z.record(
    key,
    z.preprocess(
      (value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value),
      string(),
    ),
    { error: 'must be an object of string values' },
  );
}

/**
 * A nested options object (e.g. `source_ami_filter`): unknown keys are errors, and null or
 * "" values count as unset, as Go's zero values do at the top level.
 */
export function options<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.preprocess((value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== null && item !== ''));
  }, z.strictObject(shape, { error: 'must be an object' }));
}
