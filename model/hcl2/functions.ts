/**
 * Packer's HCL2 functions that real templates use: strings, collections, numbers, type
 * conversions, date and time, encodings, hashes, UUIDs, regular expressions and files in
 * the template's folder. A function not listed here is refused by name, never guessed.
 * Each takes evaluated arguments and throws a plain Error, which the evaluator places.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatGoTime } from '../template/go-time-layout.ts';
import { formatDate, parseTimestamp, addDuration, rfc3339 } from './time.ts';
import { goFormat } from './format.ts';
import { equal, isObject, toBool, toList, toMap, toNumber, toText, typeName, type Value } from './values.ts';

export interface FunctionEnvironment {
  templateDir: string;
  now: Date;
  /** Files read by file(), templatefile() and friends, relative to the folder: bundled. */
  reads?: Set<string>;
  /** env(): the requester's environment, readable only in a variable's default, as in Packer. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Evaluation steps left: the factory evaluates requesters' templates, so nested `for`
   * expressions cannot make it compute (or allocate) without end.
   */
  budget?: { steps: number };
  /** templatefile(): renders a file's text as an HCL template with these variables. */
  renderTemplate?: (text: string, name: string, variables: { [key: string]: Value }) => Value;
}

export type HclFunction = (args: Value[], environment: FunctionEnvironment) => Value;

function arity(name: string, args: Value[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const wanted = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new Error(`${name}() takes ${wanted} argument${wanted === '1' ? '' : 's'}, got ${args.length}`);
  }
}

const str = (name: string, fn: (text: string) => Value): HclFunction => (args) => {
  arity(name, args, 1);
  return fn(toText(args[0] ?? null, `${name}()'s argument`));
};

/** Go's RE2 syntax to JavaScript's: named groups are written `(?P<name>...)` in Go. */
function goRegExp(pattern: string, flags = ''): RegExp {
  try {
    return new RegExp(pattern.replace(/\(\?P</g, '(?<'), flags + 'u');
  } catch (error) {
    throw new Error(`invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`, { cause: error });
  }
}

/** regex()'s result: the match, the list of groups, or the map of named groups. */
function matchValue(match: RegExpExecArray): Value {
  // Groups that took no part in the match are undefined at run time, whatever the types say.
  const orNull = (group: string | undefined): Value => group ?? null;
  if (match.groups) return Object.fromEntries(Object.entries(match.groups).map(([key, value]) => [key, orNull(value)]));
  if (match.length > 1) return match.slice(1).map(orNull);
  return match[0];
}

/** A path the template may read: inside its folder, by name and by where links lead. */
function templateFile(path: string, environment: FunctionEnvironment): string {
  const full = resolve(environment.templateDir, path);
  const leaves = (to: string): boolean => to === '..' || to.startsWith(`..${sep}`) || isAbsolute(to);
  if (leaves(relative(environment.templateDir, full))) {
    throw new Error(`${JSON.stringify(path)} is outside the template's folder: the factory receives only that folder`);
  }
  if (existsSync(full) && leaves(relative(realpathSync(environment.templateDir), realpathSync(full)))) {
    throw new Error(`${JSON.stringify(path)} links outside the template's folder`);
  }
  return full;
}

function readTemplateFile(path: string, environment: FunctionEnvironment): string {
  const full = templateFile(path, environment);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  environment.reads?.add(relative(environment.templateDir, full).split(sep).join('/'));
  return text;
}

function flatten(list: Value[]): Value[] {
  return list.flatMap((item) => (Array.isArray(item) ? flatten(item) : [item]));
}

function distinct(list: Value[]): Value[] {
  const out: Value[] = [];
  for (const item of list) if (!out.some((seen) => equal(seen, item))) out.push(item);
  return out;
}

const hash = (algorithm: string, encoding: 'hex' | 'base64') => (name: string): HclFunction =>
  str(name, (text) => createHash(algorithm).update(text).digest(encoding));

/** uuidv5: the name-based UUID of RFC 4122 (SHA-1), with the DNS/URL/OID/X500 namespaces. */
function uuidv5(namespace: string, name: string): string {
  const known: Record<string, string> = {
    dns: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', url: '6ba7b811-9dad-11d1-80b4-00c04fd430c8',
    oid: '6ba7b812-9dad-11d1-80b4-00c04fd430c8', x500: '6ba7b814-9dad-11d1-80b4-00c04fd430c8',
  };
  const space = known[namespace] ?? namespace;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(space)) throw new Error(`uuidv5(): unknown namespace ${JSON.stringify(namespace)}`);
  const bytes = createHash('sha1').update(Buffer.from(space.replace(/-/g, ''), 'hex')).update(name).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const numbers = (name: string, fn: (values: number[]) => number): HclFunction => (args) => {
  arity(name, args, 1, Infinity);
  return fn(args.map((arg) => toNumber(arg, `${name}()'s argument`)));
};

export const FUNCTIONS: Readonly<Record<string, HclFunction>> = {
  // Strings.
  chomp: str('chomp', (text) => text.replace(/(\r?\n)+$/, '')),
  lower: str('lower', (text) => text.toLowerCase()),
  upper: str('upper', (text) => text.toUpperCase()),
  title: str('title', (text) => text.replace(/(^|\s)(\S)/g, (_match, space: string, letter: string) => space + letter.toUpperCase())),
  strrev: str('strrev', (text) => Array.from(text).reverse().join('')),
  trimspace: str('trimspace', (text) => text.trim()),
  format: (args) => {
    arity('format', args, 1, Infinity);
    return goFormat(toText(args[0] ?? null, 'format()\'s format'), args.slice(1));
  },
  formatlist: (args) => {
    arity('formatlist', args, 1, Infinity);
    const format = toText(args[0] ?? null, 'formatlist()\'s format');
    const lists = args.slice(1).filter(Array.isArray);
    const length = lists[0]?.length ?? 1;
    if (lists.some((list) => list.length !== length)) throw new Error('formatlist(): all lists must have the same length');
    return Array.from({ length }, (_, index) => goFormat(format, args.slice(1).map((arg) => (Array.isArray(arg) ? (arg[index] ?? null) : arg))));
  },
  indent: (args) => {
    arity('indent', args, 2);
    const pad = ' '.repeat(toNumber(args[0] ?? null, 'indent()\'s spaces'));
    return toText(args[1] ?? null, 'indent()\'s text').replace(/\n/g, `\n${pad}`);
  },
  join: (args) => {
    arity('join', args, 2, Infinity);
    const separator = toText(args[0] ?? null, 'join()\'s separator');
    return args.slice(1).flatMap((list) => toList(list, 'join()\'s list')).map((item) => toText(item, 'a joined element')).join(separator);
  },
  split: (args) => {
    arity('split', args, 2);
    return toText(args[1] ?? null, 'split()\'s text').split(toText(args[0] ?? null, 'split()\'s separator'));
  },
  replace: (args) => {
    arity('replace', args, 3);
    const [text, search, replacement] = args.map((arg) => toText(arg, 'replace()\'s argument')) as [string, string, string];
    // As in Terraform and Packer: a search wrapped in slashes is a regular expression.
    if (search.length > 1 && search.startsWith('/') && search.endsWith('/')) {
      return text.replace(goRegExp(search.slice(1, -1), 'g'), replacement.replace(/\$\{(\w+)\}/g, '$<$1>'));
    }
    return text.split(search).join(replacement);
  },
  regex_replace: (args) => {
    arity('regex_replace', args, 3);
    const [text, pattern, replacement] = args.map((arg) => toText(arg, 'regex_replace()\'s argument')) as [string, string, string];
    return text.replace(goRegExp(pattern, 'g'), replacement.replace(/\$\{(\w+)\}/g, '$<$1>'));
  },
  substr: (args) => {
    arity('substr', args, 3);
    const chars = Array.from(toText(args[0] ?? null, 'substr()\'s text'));
    let offset = toNumber(args[1] ?? null, 'substr()\'s offset');
    const length = toNumber(args[2] ?? null, 'substr()\'s length');
    if (offset < 0) offset += chars.length;
    if (offset < 0 || offset > chars.length) throw new Error('substr(): offset is out of range');
    return chars.slice(offset, length < 0 ? undefined : offset + length).join('');
  },
  trim: (args) => {
    arity('trim', args, 2);
    const cut = new Set(Array.from(toText(args[1] ?? null, 'trim()\'s characters')));
    const chars = Array.from(toText(args[0] ?? null, 'trim()\'s text'));
    while (chars.length > 0 && cut.has(chars[0] as string)) chars.shift();
    while (chars.length > 0 && cut.has(chars[chars.length - 1] as string)) chars.pop();
    return chars.join('');
  },
  trimprefix: (args) => {
    arity('trimprefix', args, 2);
    const [text, prefix] = args.map((arg) => toText(arg, 'trimprefix()\'s argument')) as [string, string];
    return text.startsWith(prefix) ? text.slice(prefix.length) : text;
  },
  trimsuffix: (args) => {
    arity('trimsuffix', args, 2);
    const [text, suffix] = args.map((arg) => toText(arg, 'trimsuffix()\'s argument')) as [string, string];
    return suffix !== '' && text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
  },
  startswith: (args) => (arity('startswith', args, 2), toText(args[0] ?? null).startsWith(toText(args[1] ?? null))),
  endswith: (args) => (arity('endswith', args, 2), toText(args[0] ?? null).endsWith(toText(args[1] ?? null))),
  strcontains: (args) => (arity('strcontains', args, 2), toText(args[0] ?? null).includes(toText(args[1] ?? null))),

  // Regular expressions.
  regex: (args) => {
    arity('regex', args, 2);
    const match = goRegExp(toText(args[0] ?? null, 'regex()\'s pattern')).exec(toText(args[1] ?? null, 'regex()\'s text'));
    if (!match) throw new Error('regex(): the pattern did not match');
    return matchValue(match);
  },
  regexall: (args) => {
    arity('regexall', args, 2);
    const pattern = goRegExp(toText(args[0] ?? null, 'regexall()\'s pattern'), 'g');
    return [...toText(args[1] ?? null, 'regexall()\'s text').matchAll(pattern)].map(matchValue);
  },

  // Collections.
  length: (args) => {
    arity('length', args, 1);
    const value = args[0] ?? null;
    if (typeof value === 'string') return Array.from(value).length;
    if (Array.isArray(value)) return value.length;
    if (isObject(value)) return Object.keys(value).length;
    throw new Error(`length() needs a string, list or map, got ${typeName(value)}`);
  },
  concat: (args) => args.flatMap((list) => toList(list, 'concat()\'s argument')),
  contains: (args) => (arity('contains', args, 2), toList(args[0] ?? null, 'contains()\'s list').some((item) => equal(item, args[1] ?? null))),
  coalesce: (args) => {
    const found = args.find((arg) => arg !== null && arg !== '');
    if (found === undefined) throw new Error('coalesce(): no non-null, non-empty argument');
    return found;
  },
  coalescelist: (args) => args.find((arg) => toList(arg, 'coalescelist()\'s argument').length > 0) ?? [],
  compact: (args) => (arity('compact', args, 1), toList(args[0] ?? null, 'compact()\'s list').filter((item) => item !== null && item !== '')),
  chunklist: (args) => {
    arity('chunklist', args, 2);
    const list = toList(args[0] ?? null, 'chunklist()\'s list');
    const size = toNumber(args[1] ?? null, 'chunklist()\'s size');
    if (size <= 0) return [list];
    return Array.from({ length: Math.ceil(list.length / size) }, (_, index) => list.slice(index * size, (index + 1) * size));
  },
  distinct: (args) => (arity('distinct', args, 1), distinct(toList(args[0] ?? null, 'distinct()\'s list'))),
  element: (args) => {
    arity('element', args, 2);
    const list = toList(args[0] ?? null, 'element()\'s list');
    if (list.length === 0) throw new Error('element(): the list is empty');
    const index = toNumber(args[1] ?? null, 'element()\'s index');
    return list[((index % list.length) + list.length) % list.length] ?? null;
  },
  index: (args) => {
    arity('index', args, 2);
    const found = toList(args[0] ?? null, 'index()\'s list').findIndex((item) => equal(item, args[1] ?? null));
    if (found < 0) throw new Error('index(): the value is not in the list');
    return found;
  },
  flatten: (args) => (arity('flatten', args, 1), flatten(toList(args[0] ?? null, 'flatten()\'s list'))),
  keys: (args) => (arity('keys', args, 1), Object.keys(toMap(args[0] ?? null, 'keys()\'s map')).sort()),
  values: (args) => {
    arity('values', args, 1);
    const map = toMap(args[0] ?? null, 'values()\'s map');
    return Object.keys(map).sort().map((key) => map[key] ?? null);
  },
  lookup: (args) => {
    arity('lookup', args, 2, 3);
    const map = toMap(args[0] ?? null, 'lookup()\'s map');
    const key = toText(args[1] ?? null, 'lookup()\'s key');
    if (key in map) return map[key] ?? null;
    if (args.length === 3) return args[2] ?? null;
    throw new Error(`lookup(): no key "${key}" and no default`);
  },
  merge: (args) => Object.assign({}, ...args.filter((arg) => arg !== null).map((arg) => toMap(arg, 'merge()\'s argument'))) as Value,
  range: (args) => {
    arity('range', args, 1, 3);
    const [a, b, c] = args.map((arg) => toNumber(arg, 'range()\'s argument'));
    const [start, end, step] = args.length === 1 ? [0, a as number, 1] : [a as number, b as number, c ?? ((b as number) >= (a as number) ? 1 : -1)];
    if (step === 0) throw new Error('range(): the step must not be zero');
    const out: number[] = [];
    for (let value = start; step > 0 ? value < end : value > end; value += step) {
      if (out.length >= 1024) throw new Error('range(): more than 1024 elements');
      out.push(value);
    }
    return out;
  },
  reverse: (args) => (arity('reverse', args, 1), [...toList(args[0] ?? null, 'reverse()\'s list')].reverse()),
  slice: (args) => {
    arity('slice', args, 3);
    const list = toList(args[0] ?? null, 'slice()\'s list');
    const from = toNumber(args[1] ?? null, 'slice()\'s start');
    const to = toNumber(args[2] ?? null, 'slice()\'s end');
    if (from < 0 || to > list.length || from > to) throw new Error('slice(): indexes are out of range');
    return list.slice(from, to);
  },
  sort: (args) => (arity('sort', args, 1), toList(args[0] ?? null, 'sort()\'s list').map((item) => toText(item, 'a sorted element')).sort()),
  sum: (args) => (arity('sum', args, 1), toList(args[0] ?? null, 'sum()\'s list').reduce<number>((total, item) => total + toNumber(item, 'a summed element'), 0)),
  setunion: (args) => distinct(args.flatMap((arg) => toList(arg, 'setunion()\'s argument'))),
  setintersection: (args) => {
    const [first, ...rest] = args.map((arg) => toList(arg, 'setintersection()\'s argument'));
    return distinct((first ?? []).filter((item) => rest.every((list) => list.some((other) => equal(other, item)))));
  },
  setsubtract: (args) => {
    arity('setsubtract', args, 2);
    const [a, b] = args.map((arg) => toList(arg, 'setsubtract()\'s argument')) as [Value[], Value[]];
    return distinct(a.filter((item) => !b.some((other) => equal(other, item))));
  },
  zipmap: (args) => {
    arity('zipmap', args, 2);
    const keys = toList(args[0] ?? null, 'zipmap()\'s keys');
    const values = toList(args[1] ?? null, 'zipmap()\'s values');
    if (keys.length !== values.length) throw new Error('zipmap(): keys and values differ in length');
    return Object.fromEntries(keys.map((key, index) => [toText(key, 'a zipmap key'), values[index] ?? null]));
  },
  one: (args) => {
    arity('one', args, 1);
    const list = toList(args[0] ?? null, 'one()\'s list');
    if (list.length > 1) throw new Error(`one(): the list has ${list.length} elements`);
    return list[0] ?? null;
  },
  alltrue: (args) => (arity('alltrue', args, 1), toList(args[0] ?? null).every((item) => toBool(item, 'an alltrue element'))),
  anytrue: (args) => (arity('anytrue', args, 1), toList(args[0] ?? null).some((item) => toBool(item, 'an anytrue element'))),

  // Numbers.
  abs: numbers('abs', ([value]) => Math.abs(value as number)),
  ceil: numbers('ceil', ([value]) => Math.ceil(value as number)),
  floor: numbers('floor', ([value]) => Math.floor(value as number)),
  signum: numbers('signum', ([value]) => Math.sign(value as number)),
  max: numbers('max', (values) => Math.max(...values)),
  min: numbers('min', (values) => Math.min(...values)),
  pow: numbers('pow', ([base, exponent]) => (base as number) ** (exponent ?? 1)),
  log: numbers('log', ([value, base]) => Math.log(value as number) / Math.log(base ?? Math.E)),
  parseint: (args) => {
    arity('parseint', args, 2);
    const text = toText(args[0] ?? null, 'parseint()\'s text');
    const base = toNumber(args[1] ?? null, 'parseint()\'s base');
    const value = parseInt(text, base);
    if (Number.isNaN(value) || !new RegExp(`^[-+]?[0-9a-z]+$`, 'i').test(text)) throw new Error(`parseint(): cannot parse ${JSON.stringify(text)} in base ${base}`);
    return value;
  },

  // Type conversions.
  tostring: (args) => (arity('tostring', args, 1), args[0] === null ? null : toText(args[0] ?? null, 'tostring()\'s argument')),
  tonumber: (args) => (arity('tonumber', args, 1), args[0] === null ? null : toNumber(args[0] ?? null, 'tonumber()\'s argument')),
  tobool: (args) => (arity('tobool', args, 1), args[0] === null ? null : toBool(args[0] ?? null, 'tobool()\'s argument')),
  tolist: (args) => (arity('tolist', args, 1), toList(args[0] ?? null, 'tolist()\'s argument')),
  toset: (args) => (arity('toset', args, 1), distinct(toList(args[0] ?? null, 'toset()\'s argument'))),
  tomap: (args) => (arity('tomap', args, 1), toMap(args[0] ?? null, 'tomap()\'s argument')),

  // Date and time: the build's instant, so both ends of a bundle agree.
  timestamp: (args, environment) => (arity('timestamp', args, 0), rfc3339(environment.now)),
  formatdate: (args) => {
    arity('formatdate', args, 2);
    return formatDate(toText(args[0] ?? null, 'formatdate()\'s format'), parseTimestamp(toText(args[1] ?? null, 'formatdate()\'s timestamp')));
  },
  timeadd: (args) => {
    arity('timeadd', args, 2);
    return rfc3339(addDuration(parseTimestamp(toText(args[0] ?? null, 'timeadd()\'s timestamp')), toText(args[1] ?? null, 'timeadd()\'s duration')));
  },
  legacy_isotime: (args, environment) => {
    arity('legacy_isotime', args, 1);
    return formatGoTime(environment.now, toText(args[0] ?? null, 'legacy_isotime()\'s layout'));
  },

  // Encodings and hashes.
  base64encode: str('base64encode', (text) => Buffer.from(text, 'utf8').toString('base64')),
  base64decode: str('base64decode', (text) => {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error('base64decode(): not valid base64');
    return Buffer.from(text, 'base64').toString('utf8');
  }),
  jsonencode: (args) => (arity('jsonencode', args, 1), JSON.stringify(args[0] ?? null)),
  jsondecode: str('jsondecode', (text) => {
    try {
      return JSON.parse(text) as Value;
    } catch (error) {
      throw new Error(`jsondecode(): ${(error as Error).message}`, { cause: error });
    }
  }),
  yamlencode: (args) => (arity('yamlencode', args, 1), stringifyYaml(args[0] ?? null)),
  yamldecode: str('yamldecode', (text) => parseYaml(text) as Value),
  urlencode: str('urlencode', (text) => encodeURIComponent(text).replace(/%20/g, '+')),
  md5: hash('md5', 'hex')('md5'),
  sha1: hash('sha1', 'hex')('sha1'),
  sha256: hash('sha256', 'hex')('sha256'),
  sha512: hash('sha512', 'hex')('sha512'),
  base64sha256: hash('sha256', 'base64')('base64sha256'),
  base64sha512: hash('sha512', 'base64')('base64sha512'),

  // UUIDs.
  uuidv4: (args) => (arity('uuidv4', args, 0), randomUUID()),
  uuidv5: (args) => (arity('uuidv5', args, 2), uuidv5(toText(args[0] ?? null), toText(args[1] ?? null))),

  env: (args, environment) => {
    arity('env', args, 1);
    if (!environment.env) throw new Error('env() may only be used in a variable\'s default, and only on the requester\'s machine');
    return environment.env[toText(args[0] ?? null, 'env()\'s name')] ?? '';
  },

  // Files, inside the template's folder only: it is all the factory receives.
  file: (args, environment) => (arity('file', args, 1), readTemplateFile(toText(args[0] ?? null, 'file()\'s path'), environment)),
  fileexists: (args, environment) => {
    arity('fileexists', args, 1);
    return existsSync(templateFile(toText(args[0] ?? null, 'fileexists()\'s path'), environment));
  },
  templatefile: (args, environment) => {
    arity('templatefile', args, 2);
    const path = toText(args[0] ?? null, 'templatefile()\'s path');
    if (!environment.renderTemplate) throw new Error('templatefile() is not available here');
    return environment.renderTemplate(readTemplateFile(path, environment), path, toMap(args[1] ?? null, 'templatefile()\'s variables'));
  },
  basename: str('basename', (path) => basename(path)),
  dirname: str('dirname', (path) => dirname(path)),
  abspath: (args, environment) => (arity('abspath', args, 1), resolve(environment.templateDir, toText(args[0] ?? null, 'abspath()\'s path'))),
};
