/**
 * HCL2 source to a concrete syntax tree, with HashiCorp's grammar for tree-sitter: unlike a
 * JSON conversion it keeps blocks in file order (Packer runs provisioners in that order) and
 * the line and column of every node, which every later error names.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Language, Parser, type Node } from 'web-tree-sitter';

export type { Node } from 'web-tree-sitter';

/** One HCL2 file: its name (relative to the template's folder), text and tree. */
export interface HclFile {
  name: string;
  text: string;
  body: Node;
}

/** An HCL2 problem at a place in a file; collected and thrown together by the loader. */
export class HclError extends Error {
  readonly where: string;

  constructor(where: string, message: string) {
    super(message);
    this.name = 'HclError';
    this.where = where;
  }
}

/**
 * A value that depends on one whose error is already reported: carried up silently, so one
 * mistake is one error rather than one per use.
 */
export class DependentError extends HclError {}

/** `file:line:column`, 1-based, as compilers and editors print them. */
export function at(file: string, node: Node): string {
  return `${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
}

/**
 * The parser's WASM files, as package paths: a deployment that bundles the JavaScript ships
 * these beside it (serverless.yml `package.patterns` of every function that loads templates).
 */
export const PARSER_WASM_FILES = ['node_modules/web-tree-sitter/tree-sitter.wasm', 'node_modules/@tree-sitter-grammars/tree-sitter-hcl/tree-sitter-hcl.wasm'] as const;

let parser: Promise<Parser> | undefined;
/** The parser once loaded: expressions given on the command line parse synchronously. */
let loaded: Parser | undefined;

/**
 * A WASM file of a package: resolved through the packages where they are installed, else
 * beside this module, where a bundler that inlines the JavaScript must copy it.
 */
function wasm(specifier: string): string {
  try {
    return createRequire(import.meta.url).resolve(specifier);
  } catch {
    return fileURLToPath(new URL(specifier.slice(specifier.lastIndexOf('/') + 1), import.meta.url));
  }
}

async function makeParser(): Promise<Parser> {
  const runtime = wasm('web-tree-sitter/tree-sitter.wasm');
  await Parser.init({ locateFile: () => runtime });
  const language = await Language.load(wasm('@tree-sitter-grammars/tree-sitter-hcl/tree-sitter-hcl.wasm'));
  const made = new Parser();
  made.setLanguage(language);
  loaded = made;
  return made;
}

/** The first node tree-sitter could not fit into the grammar, for an exact position. */
function firstError(node: Node): Node | undefined {
  if (node.isError || node.isMissing) return node;
  for (const child of node.children) {
    if (child === null) continue;
    if (child.hasError || child.isError || child.isMissing) return firstError(child) ?? child;
  }
  return undefined;
}

/** Parses one file; a syntax error is an HclError at the first place the grammar failed. */
export async function parseHcl(name: string, text: string): Promise<HclFile> {
  parser ??= makeParser();
  const tree = (await parser).parse(text);
  if (tree === null) throw new HclError(name, 'cannot be parsed as HCL');
  const root = tree.rootNode;
  if (root.hasError) {
    const bad = firstError(root) ?? root;
    const what = bad.isMissing ? `missing ${JSON.stringify(bad.type)}` : `unexpected ${JSON.stringify(bad.text.slice(0, 20))}`;
    throw new HclError(at(name, bad), `HCL syntax error: ${what}`);
  }
  const body = root.namedChildren.find((child) => child?.type === 'body');
  // An empty file has no body node: an empty body it is.
  return { name, text, body: body ?? root };
}

/** Loads the grammar; parseExpression() and parseLoaded() need it loaded. */
export async function loadParser(): Promise<void> {
  parser ??= makeParser();
  await parser;
}

/** A file's text parsed with the loaded grammar (templatefile(), -var values). */
export function parseLoaded(name: string, text: string): Node {
  if (!loaded) throw new Error('the HCL parser is not loaded');
  const tree = loaded.parse(text);
  if (tree === null || tree.rootNode.hasError) {
    const bad = tree ? (firstError(tree.rootNode) ?? tree.rootNode) : undefined;
    throw new HclError(bad ? at(name, bad) : name, 'HCL syntax error');
  }
  return tree.rootNode;
}

/** One expression's text (a -var value such as `["a", "b"]`) as its node. */
export function parseExpression(name: string, text: string): Node {
  const root = parseLoaded(name, `value = ${text}\n`);
  const body = named(root).find((child) => child.type === 'body');
  const attribute = body ? named(body)[0] : undefined;
  const expression = attribute?.type === 'attribute' ? named(attribute)[1] : undefined;
  if (!expression || (body && named(body).length !== 1)) throw new HclError(name, `${JSON.stringify(text)} is not one HCL expression`);
  return expression;
}

/** The named children of a node, without tree-sitter's nulls. */
export function named(node: Node): Node[] {
  return node.namedChildren.filter((child): child is Node => child !== null);
}

/** A block's type, its labels (quoted or bare) and its body's attributes and blocks. */
export interface Block {
  node: Node;
  type: string;
  labels: string[];
  attributes: Attribute[];
  blocks: Block[];
}

export interface Attribute {
  node: Node;
  name: string;
  expression: Node;
}

function labelText(node: Node): string {
  if (node.type === 'identifier') return node.text;
  const literal = named(node).find((child) => child.type === 'template_literal');
  return literal?.text ?? '';
}

export function readBody(body: Node): { attributes: Attribute[]; blocks: Block[] } {
  const attributes: Attribute[] = [];
  const blocks: Block[] = [];
  for (const child of named(body)) {
    if (child.type === 'attribute') {
      const [name, expression] = named(child);
      if (name && expression) attributes.push({ node: child, name: name.text, expression });
    } else if (child.type === 'block') {
      const parts = named(child);
      const inner = parts.find((part) => part.type === 'body');
      const labels = parts.slice(1).filter((part) => part.type === 'string_lit' || part.type === 'identifier').map(labelText);
      const read = inner ? readBody(inner) : { attributes: [], blocks: [] };
      blocks.push({ node: child, type: parts[0]?.text ?? '', labels, ...read });
    }
  }
  return { attributes, blocks };
}
