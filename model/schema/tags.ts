/**
 * Tags come in Packer's two spellings: a map (`tags`) and a list of {key, value} (`tag`,
 * made for HCL's repeated blocks). They are merged into one map with EC2's tag limits.
 */
import * as z from 'zod';
import type { Issues } from '../errors.ts';
import { joinPath } from '../../contract/field-errors.ts';
import { string, stringMap } from './coerce.ts';

export const tagMap = () => stringMap(z.string());

export const tagList = () =>
  z.array(
    z.strictObject({
      key: string(),
      value: z.preprocess((value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value), string()),
    }),
    { error: 'must be a list of {"key": ..., "value": ...} objects' },
  );

export type TagList = z.output<ReturnType<typeof tagList>>;

const MAX_TAGS = 50;
const MAX_KEY_LENGTH = 128;
const MAX_VALUE_LENGTH = 256;

function checkTag(key: string, value: string, keyPath: string, valuePath: string, issues: Issues): void {
  if (key.length === 0) issues.add(keyPath, 'tag key must not be empty');
  if (key.length > MAX_KEY_LENGTH) issues.add(keyPath, `tag key must be at most ${MAX_KEY_LENGTH} characters`);
  // AWS reserves the prefix whatever its case.
  if (key.toLowerCase().startsWith('aws:')) issues.add(keyPath, 'tag keys starting with "aws:" are reserved by AWS');
  if (value.length > MAX_VALUE_LENGTH) issues.add(valuePath, `tag value must be at most ${MAX_VALUE_LENGTH} characters`);
}

/**
 * `mapName`/`listName` are the two options (`tags`/`tag`); `pathOf` turns an option name
 * into its full path.
 */
export function mergeTags(
  map: Readonly<Record<string, string>> | undefined,
  list: TagList | undefined,
  names: { map: string; list: string },
  pathOf: (option: string) => string,
  issues: Issues,
): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const [key, value] of Object.entries(map ?? {})) {
    const path = joinPath(pathOf(names.map), key);
    checkTag(key, value, path, path, issues);
    merged[key] = value;
  }
  (list ?? []).forEach(({ key, value }, index) => {
    const entry = joinPath(pathOf(names.list), index);
    if (Object.hasOwn(merged, key)) {
      const other = map && Object.hasOwn(map, key) ? names.map : `an earlier ${names.list} entry`;
      issues.add(joinPath(entry, 'key'), `duplicate tag key "${key}": also set in ${other}`);
      return;
    }
    checkTag(key, value, joinPath(entry, 'key'), joinPath(entry, 'value'), issues);
    merged[key] = value;
  });
  const count = Object.keys(merged).length;
  if (count > MAX_TAGS) {
    issues.add(pathOf(map ? names.map : names.list), `at most ${MAX_TAGS} tags are allowed (got ${count})`);
  }
  return merged;
}
