/**
 * Evaluation of HCL2 expressions (the tree-sitter grammar's nodes): literals, tuples and
 * objects, templates with `${}` and `%{if}`/`%{for}`, operators, conditionals, `for`
 * expressions, splats, indexes and function calls. References (`var.x`, `local.y`,
 * `source.name`, ...) are answered by the caller's `reference`, so each place decides which
 * ones Packer allows there. Every error is an HclError at the node that failed.
 */
import { at, HclError, named, type Node } from './parser.ts';
import { FUNCTIONS, type FunctionEnvironment } from './functions.ts';
import { equal, isObject, toBool, toList, toNumber, toText, typeName, type Value } from './values.ts';

export interface Context extends FunctionEnvironment {
  /** The file's name, for `file:line:column`. */
  file: string;
  /** `root.attribute` (e.g. `var.region`); undefined when the root is not allowed here. */
  reference: (root: string, attribute: string, node: Node) => Value | undefined;
  /** Iteration symbols of enclosing `for` expressions. */
  symbols?: ReadonlyMap<string, Value>;
}

function fail(context: Context, node: Node, message: string): never {
  throw new HclError(at(context.file, node), message);
}

/** Runs `work`, turning a plain Error (from a conversion or function) into one at `node`. */
function guarded<T>(context: Context, node: Node, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof HclError) throw error;
    return fail(context, node, (error as Error).message);
  }
}

/** The longest string a template may make, far above any option's limit. */
const MAX_TEXT = 1 << 20;

export function evaluate(node: Node, context: Context): Value {
  if (context.budget && --context.budget.steps < 0) {
    return fail(context, node, 'the template takes too many evaluation steps (nested for expressions over large collections?)');
  }
  switch (node.type) {
    case 'expression':
      return expression(node, context);
    case 'literal_value':
    case 'collection_value':
    case 'template_expr':
    case 'for_expr':
    case 'operation':
      return evaluate(named(node)[0] ?? node, context);
    case 'numeric_lit':
      return Number(node.text);
    case 'bool_lit':
      return node.text === 'true';
    case 'null_lit':
      return null;
    case 'string_lit':
    case 'quoted_template':
    case 'heredoc_template':
      return template(node, context);
    case 'tuple':
      return named(node).filter((child) => child.type === 'expression').map((child) => evaluate(child, context));
    case 'object':
      return object(node, context);
    case 'variable_expr': {
      const name = node.text;
      if (context.symbols?.has(name)) return context.symbols.get(name) ?? null;
      return fail(context, node, `unknown name "${name}": a reference needs a root such as var., local. or source.`);
    }
    case 'function_call':
      return call(node, context);
    case 'binary_operation':
      return binary(node, context);
    case 'unary_operation':
      return unary(node, context);
    case 'conditional': {
      const [condition, whenTrue, whenFalse] = named(node);
      if (!condition || !whenTrue || !whenFalse) return fail(context, node, 'incomplete conditional');
      const chosen = guarded(context, condition, () => toBool(evaluate(condition, context), 'the condition'));
      return evaluate(chosen ? whenTrue : whenFalse, context);
    }
    case 'for_tuple_expr':
    case 'for_object_expr':
      return forExpression(node, context);
    default:
      return fail(context, node, `${node.type.replaceAll('_', ' ')} is not supported here`);
  }
}

/** A primary (possibly parenthesised) and its postfix traversals: `.a`, `[i]`, `[*]`, `.*`. */
function expression(node: Node, context: Context): Value {
  return sequence(named(node), node, context);
}

const POSTFIX = new Set(['get_attr', 'index', 'splat']);

/**
 * An operator's operands: the grammar lists an operand's primary and its traversals as
 * siblings (`-local.a.b` is "-", variable_expr, get_attr, get_attr), so each operand is a
 * primary and the traversals after it.
 */
function operands(node: Node): Node[][] {
  const groups: Node[][] = [];
  for (const child of named(node).filter((found) => found.type !== 'comment')) {
    const last = groups[groups.length - 1];
    if (POSTFIX.has(child.type) && last) last.push(child);
    else groups.push([child]);
  }
  return groups;
}

function sequence(parts: readonly Node[], node: Node, context: Context): Value {
  const primary = parts[0];
  if (!primary) return fail(context, node, 'empty expression');
  let rest = parts.slice(1);
  let value: Value;
  const attribute = rest[0]?.type === 'get_attr' ? named(rest[0])[0]?.text : undefined;
  if (primary.type === 'variable_expr' && !context.symbols?.has(primary.text) && attribute !== undefined) {
    const found = context.reference(primary.text, attribute, primary);
    if (found === undefined) {
      return fail(context, primary, `"${primary.text}.${attribute}" cannot be referenced here`);
    }
    value = found;
    rest = rest.slice(1);
  } else {
    value = evaluate(primary, context);
  }
  return traverse(value, rest, context);
}

function traverse(start: Value, steps: readonly Node[], context: Context): Value {
  let value = start;
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index] as Node;
    if (step.type === 'splat') {
      const splat = named(step)[0] ?? step;
      const inner = named(splat);
      const items = value === null ? [] : Array.isArray(value) ? value : [value];
      // A full splat applies everything after it; an attribute splat only its own steps.
      const after = splat.type === 'full_splat' ? [...inner, ...steps.slice(index + 1)] : inner;
      value = items.map((item) => traverse(item, after, context));
      if (splat.type === 'full_splat') return value;
      continue;
    }
    value = guarded(context, step, () => stepInto(value, step, context));
  }
  return value;
}

function stepInto(value: Value, step: Node, context: Context): Value {
  let key: Value;
  if (step.type === 'get_attr') key = named(step)[0]?.text ?? '';
  else {
    const inner = named(step)[0] ?? step;
    const keyNode = named(inner)[0];
    key = inner.type === 'legacy_index' ? Number(inner.text.slice(1)) : keyNode ? evaluate(keyNode, context) : null;
  }
  if (Array.isArray(value)) {
    const position = toNumber(key, 'a list index');
    if (!Number.isInteger(position) || position < 0 || position >= value.length) {
      throw new Error(`index ${position} is out of range for a list of ${value.length}`);
    }
    return value[position] ?? null;
  }
  if (isObject(value)) {
    const name = toText(key, 'a map key');
    if (!(name in value)) throw new Error(`no element "${name}" in this ${typeName(value)} (has ${Object.keys(value).join(', ') || 'none'})`);
    return value[name] ?? null;
  }
  throw new Error(`cannot index a ${typeName(value)} with ${JSON.stringify(key)}`);
}

function object(node: Node, context: Context): Value {
  const result: { [key: string]: Value } = {};
  for (const element of named(node).filter((child) => child.type === 'object_elem')) {
    const [keyNode, valueNode] = named(element);
    if (!keyNode || !valueNode) continue;
    // A bare name is the key itself (`{ a = 1 }`); anything else is evaluated.
    const bare = named(keyNode);
    const key =
      bare.length === 1 && bare[0]?.type === 'variable_expr' && keyNode.text === bare[0].text
        ? keyNode.text
        : guarded(context, keyNode, () => toText(evaluate(keyNode, context), 'an object key'));
    result[key] = evaluate(valueNode, context);
  }
  return result;
}

const STRUCTURAL = new Set(['template_interpolation', 'template_directive']);

function unescapeQuoted(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|\$\$\{|%%\{/g, (match, escape?: string) => {
    if (match === '$${') return '${';
    if (match === '%%{') return '%{';
    switch (escape?.[0]) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case '"': return '"';
      case '\\': return '\\';
      case 'u':
      case 'U': return String.fromCodePoint(parseInt(escape.slice(1), 16));
      default: return match;
    }
  });
}

interface TemplateText {
  /** The source between these offsets is literal text, with the nodes of `items` inside. */
  from: number;
  to: number;
  items: Node[];
  unescape: (text: string) => string;
  /** A heredoc's `<<-` indentation to drop from each line's start. */
  indent: number;
  source: string;
}

function template(node: Node, context: Context): Value {
  const source = rootText(node);
  const children = node.children.filter((child): child is Node => child !== null);
  if (node.type === 'heredoc_template') {
    const identifiers = children.filter((child) => child.type === 'heredoc_identifier');
    const open = identifiers[0];
    const close = identifiers[1];
    if (!open || !close) return fail(context, node, 'incomplete heredoc');
    const from = source.indexOf('\n', open.endIndex) + 1;
    // The closing marker's line (and its indentation) is not content.
    const to = source.lastIndexOf('\n', close.startIndex) + 1;
    const flush = children[0]?.text === '<<-';
    const indent = flush ? minimumIndent(source.slice(from, to)) : 0;
    return render({ from, to, items: children.filter((child) => STRUCTURAL.has(child.type)), unescape: unescapeDollars, indent, source }, context);
  }
  const start = children[0];
  const end = children[children.length - 1];
  if (!start || !end) return '';
  const items = children.filter((child) => STRUCTURAL.has(child.type));
  // `"${x}"` alone is x itself, not its text: HCL keeps the value's type.
  const only = items[0];
  if (items.length === 1 && only?.type === 'template_interpolation' && only.startIndex === start.endIndex && only.endIndex === end.startIndex) {
    const inner = named(only).find((child) => child.type === 'expression');
    if (inner) return evaluate(inner, context);
  }
  return render({ from: start.endIndex, to: end.startIndex, items, unescape: unescapeQuoted, indent: 0, source }, context);
}

const unescapeDollars = (text: string): string => text.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');

function minimumIndent(text: string): number {
  const indents = text.split('\n').filter((line) => line.trim() !== '').map((line) => /^[ \t]*/.exec(line)?.[0].length ?? 0);
  return indents.length === 0 ? 0 : Math.min(...indents);
}

function rootText(node: Node): string {
  return node.tree.rootNode.text;
}

function literal(text: TemplateText, from: number, to: number): string {
  let raw = text.source.slice(from, to);
  if (text.indent > 0) {
    const atLineStart = from === text.from || text.source[from - 1] === '\n';
    raw = raw.split('\n').map((line, index) => (index > 0 || atLineStart ? line.replace(new RegExp(`^[ \\t]{0,${text.indent}}`), '') : line)).join('\n');
  }
  return text.unescape(raw);
}

function render(text: TemplateText, context: Context): string {
  let out = '';
  let position = text.from;
  let stripNext = false;
  const append = (piece: string): void => {
    out += stripNext ? piece.replace(/^\s+/, '') : piece;
    stripNext = false;
  };
  for (const item of text.items) {
    const open = item.children[0];
    const markers = item.type === 'template_interpolation' ? [open, item.children[item.children.length - 1]] : directiveMarkers(item);
    append(literal(text, position, item.startIndex));
    if (markers[0]?.text.endsWith('~')) out = out.replace(/\s+$/, '');
    if (item.type === 'template_interpolation') {
      const inner = named(item).find((child) => child.type === 'expression');
      if (inner) append(guarded(context, inner, () => toText(evaluate(inner, context), 'an interpolated value')));
    } else {
      append(directive(item, text, context));
    }
    stripNext = markers[1]?.text.startsWith('~') ?? false;
    position = item.endIndex;
    if (out.length > MAX_TEXT) fail(context, item, `a template makes more than ${MAX_TEXT} characters`);
  }
  append(literal(text, position, text.to));
  return out;
}

function directiveMarkers(item: Node): (Node | undefined)[] {
  const first = named(item)[0];
  const intro = first ? named(first)[0] : undefined;
  const last = first ? named(first)[named(first).length - 1] : undefined;
  const start = intro?.children[0];
  const end = last?.children[last.children.length - 1];
  return [start ?? undefined, end ?? undefined];
}

/** `%{ if c }...%{ else }...%{ endif }` and `%{ for x in xs }...%{ endfor }`. */
function directive(item: Node, text: TemplateText, context: Context): string {
  const inner = named(item)[0];
  if (!inner) return '';
  const parts = named(inner);
  const intro = parts[0];
  const end = parts[parts.length - 1];
  if (!intro || !end) return fail(context, item, 'incomplete template directive');
  const items = (from: number, to: number): Node[] => parts.filter((part) => STRUCTURAL.has(part.type) && part.startIndex >= from && part.endIndex <= to);
  const section = (from: number, to: number, symbols?: ReadonlyMap<string, Value>): string =>
    render({ ...text, from, to, items: items(from, to) }, symbols ? { ...context, symbols } : context);
  if (inner.type === 'template_if') {
    const condition = named(intro).find((child) => child.type === 'expression');
    const elseIntro = parts.find((part) => part.type === 'template_else_intro');
    const yes = condition ? guarded(context, condition, () => toBool(evaluate(condition, context), 'the condition')) : false;
    if (yes) return section(intro.endIndex, elseIntro?.startIndex ?? end.startIndex);
    return elseIntro ? section(elseIntro.endIndex, end.startIndex) : '';
  }
  if (inner.type === 'template_for') {
    const names = named(intro).filter((child) => child.type === 'identifier').map((child) => child.text);
    const collection = named(intro).find((child) => child.type === 'expression');
    if (!collection) return fail(context, intro, 'a for directive needs a collection');
    return iterate(evaluate(collection, context), names, collection, context)
      .map((symbols) => section(intro.endIndex, end.startIndex, symbols))
      .join('');
  }
  return fail(context, item, `${inner.type} is not supported`);
}

/** The symbol sets of a `for`: `for v in xs`, `for i, v in xs`, `for k, v in map`. */
function iterate(collection: Value, names: string[], node: Node, context: Context): Map<string, Value>[] {
  const entries: [Value, Value][] = Array.isArray(collection)
    ? collection.map((item, index) => [index, item])
    : isObject(collection)
      ? Object.keys(collection).sort().map((key) => [key, collection[key] ?? null])
      : fail(context, node, `a for expression needs a list or map, got ${typeName(collection)}`);
  return entries.map(([key, value]) => {
    const symbols = new Map(context.symbols ?? []);
    if (names.length === 2) symbols.set(names[0] as string, key);
    symbols.set(names[names.length - 1] as string, value);
    return symbols;
  });
}

function forExpression(node: Node, context: Context): Value {
  const parts = named(node);
  const intro = parts.find((part) => part.type === 'for_intro');
  if (!intro) return fail(context, node, 'incomplete for expression');
  const names = named(intro).filter((child) => child.type === 'identifier').map((child) => child.text);
  const collection = named(intro).find((child) => child.type === 'expression');
  if (!collection) return fail(context, intro, 'a for expression needs a collection');
  const condition = parts.find((part) => part.type === 'for_cond');
  const conditionExpression = condition ? named(condition)[0] : undefined;
  const bodies = parts.filter((part) => part.type === 'expression' && part !== collection);
  const grouping = parts.some((part) => part.type === 'ellipsis');
  const tuple: Value[] = [];
  const result: { [key: string]: Value } = {};
  for (const symbols of iterate(evaluate(collection, context), names, collection, context)) {
    const inner = { ...context, symbols };
    if (conditionExpression && !guarded(context, conditionExpression, () => toBool(evaluate(conditionExpression, inner), 'the for condition'))) continue;
    if (node.type === 'for_tuple_expr') {
      tuple.push(evaluate(bodies[0] as Node, inner));
      continue;
    }
    const [keyNode, valueNode] = bodies as [Node, Node];
    const key = guarded(context, keyNode, () => toText(evaluate(keyNode, inner), 'a for key'));
    const value = evaluate(valueNode, inner);
    if (grouping) result[key] = [...((result[key] as Value[] | undefined) ?? []), value];
    else if (key in result) return fail(context, keyNode, `duplicate key "${key}" in a for expression (add ... to group)`);
    else result[key] = value;
  }
  return node.type === 'for_tuple_expr' ? tuple : result;
}

function operator(node: Node): string {
  return node.children.find((child) => child !== null && !child.isNamed && child.type !== '(' && child.type !== ')')?.type ?? '';
}

function binary(node: Node, context: Context): Value {
  const [leftParts, rightParts] = operands(node) as [Node[], Node[]];
  const leftNode = leftParts[0] as Node;
  const rightNode = rightParts[0] as Node;
  const op = operator(node);
  const left = sequence(leftParts, node, context);
  if (op === '&&' || op === '||') {
    const leftBool = guarded(context, leftNode, () => toBool(left, `the left side of ${op}`));
    if (op === '&&' ? !leftBool : leftBool) return leftBool;
    return guarded(context, rightNode, () => toBool(sequence(rightParts, node, context), `the right side of ${op}`));
  }
  const right = sequence(rightParts, node, context);
  if (op === '==') return equal(left, right);
  if (op === '!=') return !equal(left, right);
  return guarded(context, node, () => {
    const a = toNumber(left, `the left side of ${op}`);
    const b = toNumber(right, `the right side of ${op}`);
    switch (op) {
      case '+': return a + b;
      case '-': return a - b;
      case '*': return a * b;
      case '/':
        if (b === 0) throw new Error('division by zero');
        return a / b;
      case '%':
        if (b === 0) throw new Error('division by zero');
        return a % b;
      case '<': return a < b;
      case '<=': return a <= b;
      case '>': return a > b;
      case '>=': return a >= b;
      default: throw new Error(`operator ${op} is not supported`);
    }
  });
}

function unary(node: Node, context: Context): Value {
  const value = sequence(operands(node)[0] ?? [], node, context);
  const op = operator(node);
  return guarded(context, node, () => (op === '!' ? !toBool(value, 'the operand of !') : -toNumber(value, 'the operand of -')));
}

function call(node: Node, context: Context): Value {
  const parts = named(node);
  const name = parts[0]?.text ?? '';
  const argsNode = parts.find((part) => part.type === 'function_arguments');
  const argNodes = argsNode ? named(argsNode).filter((child) => child.type === 'expression') : [];
  // can() and try() see errors instead of values, so their arguments wait.
  if (name === 'can' || name === 'try') {
    for (const argument of argNodes) {
      try {
        const value = evaluate(argument, context);
        if (name === 'can') return true;
        return value;
      } catch (error) {
        if (!(error instanceof HclError)) throw error;
        if (name === 'can') return false;
      }
    }
    return fail(context, node, name === 'can' ? 'can() takes one argument' : 'try(): no argument could be evaluated');
  }
  const fn = FUNCTIONS[name];
  if (!fn) return fail(context, parts[0] ?? node, `function "${name}" is not supported (see the README for the functions the factory knows)`);
  const args = argNodes.map((argument) => evaluate(argument, context));
  // `f(list...)`: the last argument's elements become arguments.
  if (argsNode && named(argsNode).some((child) => child.type === 'ellipsis')) {
    const last = args.pop() ?? null;
    args.push(...guarded(context, argNodes[argNodes.length - 1] as Node, () => toList(last, 'the expanded argument')));
  }
  const result = guarded(context, node, () => fn(args, context));
  if (typeof result === 'string' && result.length > MAX_TEXT) fail(context, node, `${name}() makes more than ${MAX_TEXT} characters`);
  return result;
}
