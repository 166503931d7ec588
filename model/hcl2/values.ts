/**
 * HCL values as plain JavaScript: strings, numbers, booleans, null, arrays (lists, sets
 * and tuples) and plain objects (maps and objects). The conversions HCL applies
 * implicitly live here, with the messages that name the value's type.
 */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

export function isObject(value: Value): value is { [key: string]: Value } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function typeName(value: Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (isObject(value)) return 'object';
  return typeof value;
}

/** HCL's implicit conversion to string: numbers and booleans, never null or collections. */
export function toText(value: Value, what = 'value'): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${what} must be a string, got ${typeName(value)}`);
}

export function toNumber(value: Value, what = 'value'): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw new Error(`${what} must be a number, got ${typeName(value)}${typeof value === 'string' ? ` ${JSON.stringify(value)}` : ''}`);
}

export function toBool(value: Value, what = 'value'): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new Error(`${what} must be a bool, got ${typeName(value)}`);
}

export function toList(value: Value, what = 'value'): Value[] {
  if (Array.isArray(value)) return value;
  throw new Error(`${what} must be a list, got ${typeName(value)}`);
}

export function toMap(value: Value, what = 'value'): { [key: string]: Value } {
  if (isObject(value)) return value;
  throw new Error(`${what} must be a map or object, got ${typeName(value)}`);
}

export function equal(left: Value, right: Value): boolean {
  if (Array.isArray(left) && Array.isArray(right)) {
    return left.length === right.length && left.every((item, index) => equal(item, right[index] ?? null));
  }
  if (isObject(left) && isObject(right)) {
    const keys = Object.keys(left);
    return keys.length === Object.keys(right).length && keys.every((key) => key in right && equal(left[key] ?? null, right[key] ?? null));
  }
  return left === right;
}

/** A value's text as a Packer JSON template would carry it: strings as they are. */
export function asTemplateText(value: Value): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
