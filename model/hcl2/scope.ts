/**
 * `variable` and `locals` blocks: values given by the requester (`-var`, var files),
 * defaults, type conversion, `validation` blocks, `sensitive`, and locals evaluated in
 * dependency order (a cycle is an error naming it). Errors are collected, not thrown.
 */
import { evaluate, type Context } from './evaluate.ts';
import type { FunctionEnvironment } from './functions.ts';
import { at, DependentError, HclError, parseExpression, type Attribute, type Block, type Node } from './parser.ts';
import { ANY, convert, readType, type HclType } from './types.ts';
import { isObject, toBool, toText, type Value } from './values.ts';

/** Errors at `file:line:column`, all of them reported together. */
export class HclIssues {
  readonly errors: { path: string; message: string }[] = [];

  add(where: string, message: string): void {
    this.errors.push({ path: where, message });
  }

  /** Runs `work`; an HclError becomes an issue and `fallback` the result. */
  catch<T>(work: () => T, fallback: T): T {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof HclError)) throw error;
      if (!(error instanceof DependentError)) this.add(error.where, error.message);
      return fallback;
    }
  }
}

export interface Located<T> {
  file: string;
  item: T;
}

export interface Environment extends FunctionEnvironment {
  /** Answers roots other than var., local. and path. (source., build., data.). */
  extra?: Context['reference'];
}

export interface Scope {
  /** A context for expressions in `file`, where `var.`, `local.` and `path.root` resolve. */
  context: (file: string, extra?: Context['reference']) => Context;
  values: ReadonlyMap<string, Value>;
  /** Names of sensitive variables and locals. */
  sensitive: ReadonlySet<string>;
  /** Values of sensitive variables and locals: every string in them. */
  sensitiveValues: string[];
}

interface Variable {
  file: string;
  block: Block;
  type: HclType;
}

function attribute(block: Block, name: string): Attribute | undefined {
  return block.attributes.find((found) => found.name === name);
}

function strings(value: Value): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (isObject(value)) return Object.values(value).flatMap(strings);
  return [];
}

/**
 * An untyped variable whose default is not a string (`default = ["a"]`) takes its values
 * written as HCL, so a list survives the trip through a bundle's string variables.
 */
function nonStringDefault(expression: Node | undefined): boolean {
  const kind = expression?.namedChildren[0]?.type;
  return kind === 'collection_value' || kind === 'for_expr' || (kind === 'literal_value' && expression?.namedChildren[0]?.namedChildren[0]?.type !== 'string_lit');
}

const VARIABLE_KEYS = new Set(['type', 'default', 'description', 'sensitive', 'nullable']);

export function resolveScope(
  variableBlocks: readonly Located<Block>[],
  localBlocks: readonly Located<Block>[],
  overrides: Readonly<Record<string, string>>,
  environment: FunctionEnvironment,
  issues: HclIssues,
): Scope {
  const values = new Map<string, Value>();
  const sensitive = new Set<string>();
  const locals = new Map<string, Located<Attribute>>();
  const localState = new Map<string, 'busy' | 'failed'>();
  const localStack: string[] = [];

  const context = (file: string, extra?: Context['reference']): Context => ({
    ...environment,
    env: undefined,
    file,
    reference: (root, name, node) => {
      if (root === 'var') {
        if (!values.has(name) && !variables.has(name)) throw new HclError(at(file, node), `variable "${name}" is not declared`);
        if (!values.has(name)) throw new DependentError(at(file, node), `var.${name} has no value`);
        return values.get(name) ?? null;
      }
      if (root === 'local') return local(name, file, node);
      // Relative paths resolve against the template's folder anyway: "." keeps machine
      // paths out of the request and means the same on both ends of a bundle.
      if (root === 'path' && name === 'root') return '.';
      return extra?.(root, name, node);
    },
  });

  const local = (name: string, file: string, node: Node): Value => {
    const key = `local.${name}`;
    if (values.has(key)) return values.get(key) ?? null;
    const found = locals.get(name);
    if (!found) throw new HclError(at(file, node), `local "${name}" is not defined`);
    if (localState.get(name) === 'failed') throw new DependentError(at(file, node), `local.${name} has no value`);
    if (localState.get(name) === 'busy') {
      throw new HclError(at(found.file, found.item.node), `locals refer to each other in a cycle: ${[...localStack, name].join(' -> ')}`);
    }
    localState.set(name, 'busy');
    localStack.push(name);
    try {
      const value = evaluate(found.item.expression, context(found.file));
      values.set(key, value);
      localState.delete(name);
      return value;
    } catch (error) {
      localState.set(name, 'failed');
      throw error;
    } finally {
      localStack.pop();
    }
  };

  // Declarations first: defaults may not refer to anything, validations may.
  const variables = new Map<string, Variable>();
  for (const { file, item: block } of variableBlocks) {
    const name = block.labels[0] ?? '';
    if (block.labels.length !== 1) {
      issues.add(at(file, block.node), 'a variable block takes one label, its name');
      continue;
    }
    if (variables.has(name)) {
      issues.add(at(file, block.node), `variable "${name}" is declared twice`);
      continue;
    }
    for (const extra of block.attributes.filter((found) => !VARIABLE_KEYS.has(found.name))) {
      issues.add(at(file, extra.node), `unknown variable attribute "${extra.name}" (known: ${[...VARIABLE_KEYS].join(', ')})`);
    }
    for (const extra of block.blocks.filter((found) => found.type !== 'validation')) {
      issues.add(at(file, extra.node), `unknown block "${extra.type}" in a variable (only validation)`);
    }
    const typeAttribute = attribute(block, 'type');
    let type = ANY;
    if (typeAttribute) {
      try {
        type = readType(typeAttribute.expression);
      } catch (error) {
        issues.add(at(file, typeAttribute.expression), (error as Error).message);
      }
    }
    variables.set(name, { file, block, type });
  }
  for (const name of Object.keys(overrides)) {
    if (!variables.has(name)) issues.add(name, `is given a value (-var or a var file) but no variable "${name}" is declared`);
  }

  for (const [name, { file, block, type }] of variables) {
    const noReferences: Context = { ...context(file), reference: () => undefined };
    const defaults: Context = { ...noReferences, env: environment.env };
    const sensitiveAttribute = attribute(block, 'sensitive');
    if (sensitiveAttribute && issues.catch(() => toBool(evaluate(sensitiveAttribute.expression, noReferences), 'sensitive'), false)) sensitive.add(name);
    const given = overrides[name];
    const defaultAttribute = attribute(block, 'default');
    let value: Value | undefined;
    if (given !== undefined) {
      // Strings are taken as they are; other types are written as HCL (`["a", "b"]`, `3`).
      value = issues.catch(() => {
        const plain = type.kind === 'string' || type.kind === 'number' || type.kind === 'bool';
        if (plain || (type.kind === 'any' && !nonStringDefault(defaultAttribute?.expression))) return given;
        const label = `-var ${name}`;
        return evaluate(parseExpression(label, given), { ...noReferences, file: label });
      }, undefined);
    } else if (defaultAttribute) {
      value = issues.catch(() => evaluate(defaultAttribute.expression, defaults), undefined);
    } else {
      issues.add(at(file, block.node), `variable "${name}" has no default and no value was given: set it with -var ${name}=VALUE or in a var file`);
    }
    if (value === undefined) continue;
    const where = at(file, given !== undefined ? block.node : (defaultAttribute?.expression ?? block.node));
    const converted = issues.catch(() => {
      try {
        return convert(value, type, `var.${name}`);
      } catch (error) {
        throw new HclError(where, (error as Error).message);
      }
    }, undefined);
    if (converted !== undefined) values.set(name, converted);
  }

  for (const [name, { file, block }] of variables) {
    if (!values.has(name)) continue;
    for (const validation of block.blocks.filter((found) => found.type === 'validation')) {
      const condition = attribute(validation, 'condition');
      const message = attribute(validation, 'error_message');
      if (!condition || !message) {
        issues.add(at(file, validation.node), 'a validation block needs condition and error_message');
        continue;
      }
      const passed = issues.catch(() => toBool(evaluate(condition.expression, context(file)), 'a validation condition'), true);
      if (!passed) {
        const text = issues.catch(() => toText(evaluate(message.expression, context(file)), 'error_message'), 'invalid value');
        issues.add(at(file, condition.node), `var.${name}: ${text}`);
      }
    }
  }

  for (const { file, item: block } of localBlocks) {
    // `locals { a = 1 }`, or `local "a" { expression = 1, sensitive = true }`.
    if (block.type === 'locals') {
      for (const found of block.attributes) {
        if (locals.has(found.name)) issues.add(at(file, found.node), `local "${found.name}" is defined twice`);
        else locals.set(found.name, { file, item: found });
      }
      continue;
    }
    const name = block.labels[0] ?? '';
    const expression = attribute(block, 'expression');
    if (!expression) {
      issues.add(at(file, block.node), 'a local block needs an expression');
      continue;
    }
    locals.set(name, { file, item: { ...expression, name } });
    const flag = attribute(block, 'sensitive');
    if (flag && issues.catch(() => toBool(evaluate(flag.expression, context(file)), 'sensitive'), false)) sensitive.add(`local.${name}`);
  }
  for (const [name, { file, item }] of locals) issues.catch(() => local(name, file, item.node), null);

  const sensitiveValues = [...new Set([...sensitive].flatMap((name) => strings(values.get(name) ?? null)))];
  return { context, values, sensitive, sensitiveValues };
}
