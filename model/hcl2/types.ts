/**
 * A `variable` block's `type`: string, number, bool, any, and list/set/map/object/tuple of
 * those. Values are converted the way HCL converts them (numbers and bools to and from
 * strings) and refused with the path of the part that does not fit.
 */
import { named, type Node } from './parser.ts';
import { isObject, toBool, toNumber, toText, typeName, type Value } from './values.ts';

export type HclType =
  | { kind: 'string' | 'number' | 'bool' | 'any' }
  | { kind: 'list' | 'set' | 'map'; element: HclType }
  | { kind: 'object'; attributes: Record<string, HclType>; optional: ReadonlySet<string> }
  | { kind: 'tuple'; elements: HclType[] };

export const ANY: HclType = { kind: 'any' };

/** Reads a type expression; throws a plain Error naming what is not a type. */
export function readType(node: Node): HclType {
  const parts = named(node);
  const primary = node.type === 'expression' ? parts[0] : node;
  if (!primary || (node.type === 'expression' && parts.length > 1)) throw new Error(`${JSON.stringify(node.text)} is not a type`);
  if (primary.type === 'variable_expr') {
    const kind = primary.text;
    if (kind === 'string' || kind === 'number' || kind === 'bool' || kind === 'any') return { kind };
    throw new Error(`unknown type "${kind}"`);
  }
  if (primary.type !== 'function_call') throw new Error(`${JSON.stringify(node.text)} is not a type`);
  const [name, argsNode] = named(primary);
  const args = argsNode ? named(argsNode).filter((child) => child.type === 'expression') : [];
  const kind = name?.text ?? '';
  const only = args[0];
  if (args.length !== 1 || !only) throw new Error(`${kind}(...) takes one argument`);
  if (kind === 'list' || kind === 'set' || kind === 'map') return { kind, element: readType(only) };
  const collection = named(named(only)[0] ?? only)[0];
  if (kind === 'tuple' && collection?.type === 'tuple') {
    return { kind, elements: named(collection).filter((child) => child.type === 'expression').map(readType) };
  }
  if (kind === 'object' && collection?.type === 'object') {
    const attributes: Record<string, HclType> = {};
    const optional = new Set<string>();
    for (const element of named(collection).filter((child) => child.type === 'object_elem')) {
      const [key, value] = named(element);
      if (!key || !value) continue;
      const inner = named(named(value)[0] ?? value);
      // optional(T) marks an attribute that may be left out (it is then null).
      if (named(value)[0]?.type === 'function_call' && inner[0]?.text === 'optional') {
        const wrapped = inner[1] ? named(inner[1]).find((child) => child.type === 'expression') : undefined;
        if (!wrapped) throw new Error('optional(...) takes a type');
        optional.add(key.text);
        attributes[key.text] = readType(wrapped);
      } else attributes[key.text] = readType(value);
    }
    return { kind, attributes, optional };
  }
  throw new Error(`${JSON.stringify(node.text)} is not a type`);
}

export function describeType(type: HclType): string {
  switch (type.kind) {
    case 'list': case 'set': case 'map': return `${type.kind}(${describeType(type.element)})`;
    case 'object': return `object({${Object.entries(type.attributes).map(([key, value]) => `${key}=${describeType(value)}`).join(', ')}})`;
    case 'tuple': return `tuple([${type.elements.map(describeType).join(', ')}])`;
    default: return type.kind;
  }
}

/** `value` as `type`; `what` names it in the error (e.g. `var.sizes[2]`). */
export function convert(value: Value, type: HclType, what: string): Value {
  if (value === null || type.kind === 'any') return value;
  switch (type.kind) {
    case 'string': return toText(value, what);
    case 'number': return toNumber(value, what);
    case 'bool': return toBool(value, what);
    case 'list':
    case 'set': {
      if (!Array.isArray(value)) throw new Error(`${what} must be a ${describeType(type)}, got ${typeName(value)}`);
      const items = value.map((item, index) => convert(item, type.element, `${what}[${index}]`));
      return type.kind === 'set' ? items.filter((item, index) => items.findIndex((other) => JSON.stringify(other) === JSON.stringify(item)) === index) : items;
    }
    case 'map': {
      if (!isObject(value)) throw new Error(`${what} must be a ${describeType(type)}, got ${typeName(value)}`);
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, convert(item, type.element, `${what}["${key}"]`)]));
    }
    case 'object': {
      if (!isObject(value)) throw new Error(`${what} must be an ${describeType(type)}, got ${typeName(value)}`);
      const out: { [key: string]: Value } = {};
      for (const [key, attribute] of Object.entries(type.attributes)) {
        if (!(key in value) && !type.optional.has(key)) throw new Error(`${what} is missing attribute "${key}"`);
        out[key] = convert(value[key] ?? null, attribute, `${what}.${key}`);
      }
      const extra = Object.keys(value).filter((key) => !(key in type.attributes));
      if (extra.length > 0) throw new Error(`${what} has attribute${extra.length > 1 ? 's' : ''} not in its type: ${extra.join(', ')}`);
      return out;
    }
    case 'tuple': {
      if (!Array.isArray(value) || value.length !== type.elements.length) throw new Error(`${what} must be a ${describeType(type)}`);
      return value.map((item, index) => convert(item, type.elements[index] as HclType, `${what}[${index}]`));
    }
  }
}
