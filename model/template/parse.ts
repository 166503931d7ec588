/**
 * Parser for the subset of Go's text/template that Packer templates use: text, `{{ }}`
 * actions holding pipelines of function calls, `.Field` and `.Map.Key` references, string
 * and number literals and parentheses, trim markers (`{{-`, `-}}`) and comments. Control
 * structures and variables are refused with a message instead of being half supported.
 */

export type Operand =
  | { kind: 'function'; name: string }
  | { kind: 'field'; name: string }
  | { kind: 'string'; value: string }
  /** Kept as written: functions taking a number (split's index) parse it themselves. */
  | { kind: 'number'; value: string }
  | { kind: 'pipeline'; pipeline: Pipeline };

export interface Command {
  operands: Operand[];
}

export interface Pipeline {
  commands: Command[];
}

export type TemplateNode =
  | { kind: 'text'; text: string }
  /** `source` is the action's text between the delimiters, spacing kept, trim markers dropped. */
  | { kind: 'action'; pipeline: Pipeline; source: string };

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Token =
  | { kind: 'ident'; name: string }
  | { kind: 'field'; name: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: string }
  | { kind: 'pipe' }
  | { kind: 'open' }
  | { kind: 'close' };

const UNSUPPORTED_KEYWORDS = new Set([
  'if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue',
  'nil', 'true', 'false',
]);

const SPACE = /[ \t\r\n]/;
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

function isSpace(c: string | undefined): boolean {
  return c !== undefined && SPACE.test(c);
}

function trimEnd(text: string): string {
  return text.replace(/[ \t\r\n]+$/, '');
}

function trimStart(text: string): string {
  return text.replace(/^[ \t\r\n]+/, '');
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'",
};

/** Go's interpreted string literal escapes. */
function unquote(body: string, at: number): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = body[i + 1];
    const simple = e === undefined ? undefined : SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      i += 1;
      continue;
    }
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = body.slice(i + 2, i + 2 + hexLength);
      if (!new RegExp(`^[0-9A-Fa-f]{${hexLength}}$`).test(hex)) {
        throw new TemplateError(`invalid escape \\${e}${hex} in string at character ${at + 1}`);
      }
      out += String.fromCodePoint(parseInt(hex, 16));
      i += 1 + hexLength;
      continue;
    }
    const octal = body.slice(i + 1, i + 4);
    if (/^[0-7]{3}$/.test(octal)) {
      out += String.fromCharCode(parseInt(octal, 8));
      i += 3;
      continue;
    }
    throw new TemplateError(`invalid escape \\${e ?? ''} in string at character ${at + 1}`);
  }
  return out;
}

interface ActionScan {
  tokens: Token[];
  /** Index just after the closing `}}`. */
  end: number;
  /** Index where the action's content ends (before ` -}}` or `}}`). */
  contentEnd: number;
  trimRight: boolean;
  comment: boolean;
}

/** Lexes one action starting right after `{{` (and its trim marker, if any). */
function scanAction(src: string, start: number, openedAt: number): ActionScan {
  const unterminated = (): TemplateError =>
    new TemplateError(`unterminated "{{" opened at character ${openedAt + 1}`);
  let i = start;
  while (isSpace(src[i])) i++;
  if (src.startsWith('/*', i)) {
    const close = src.indexOf('*/', i + 2);
    if (close < 0) throw new TemplateError(`unterminated comment opened at character ${i + 1}`);
    let j = close + 2;
    const trimRight = src.startsWith(' -}}', j) || src.startsWith('\t-}}', j);
    if (trimRight) j += 1;
    if (src.startsWith('-}}', j)) j += 3;
    else if (src.startsWith('}}', j)) j += 2;
    else throw new TemplateError(`comment must end right before "}}" (character ${j + 1})`);
    return { tokens: [], end: j, contentEnd: close + 2, trimRight, comment: true };
  }
  const tokens: Token[] = [];
  for (;;) {
    while (isSpace(src[i])) i++;
    if (i >= src.length) throw unterminated();
    if (src.startsWith('}}', i)) return { tokens, end: i + 2, contentEnd: i, trimRight: false, comment: false };
    if (src.startsWith('-}}', i) && isSpace(src[i - 1])) {
      return { tokens, end: i + 3, contentEnd: i, trimRight: true, comment: false };
    }
    const c = src[i] as string;
    if (c === '|') {
      tokens.push({ kind: 'pipe' });
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'open' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'close' });
      i++;
    } else if (c === '`') {
      const close = src.indexOf('`', i + 1);
      if (close < 0) throw new TemplateError(`unterminated raw string at character ${i + 1}`);
      tokens.push({ kind: 'string', value: src.slice(i + 1, close) });
      i = close + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"' && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      if (src[j] !== '"') throw new TemplateError(`unterminated string at character ${i + 1}`);
      tokens.push({ kind: 'string', value: unquote(src.slice(i + 1, j), i) });
      i = j + 1;
    } else if (c === '.') {
      let j = i + 1;
      if (!IDENT_START.test(src[j] ?? '')) {
        throw new TemplateError(`"." on its own is not supported (character ${i + 1}); use a field such as .Device`);
      }
      while (IDENT_PART.test(src[j] ?? '')) j++;
      // `.SourceAMITags.Name`: a map's key, kept as one dotted name.
      while (src[j] === '.' && IDENT_START.test(src[j + 1] ?? '')) {
        j++;
        while (IDENT_PART.test(src[j] ?? '')) j++;
      }
      tokens.push({ kind: 'field', name: src.slice(i + 1, j) });
      i = j;
    } else if (IDENT_START.test(c)) {
      let j = i;
      while (IDENT_PART.test(src[j] ?? '')) j++;
      const name = src.slice(i, j);
      if (UNSUPPORTED_KEYWORDS.has(name)) {
        throw new TemplateError(`"${name}" is not supported in templates (character ${i + 1})`);
      }
      tokens.push({ kind: 'ident', name });
      i = j;
    } else if (/[0-9]/.test(c) || ((c === '-' || c === '+') && /[0-9]/.test(src[i + 1] ?? ''))) {
      const number = /^[+-]?\d+(\.\d+)?/.exec(src.slice(i)) as RegExpExecArray;
      if (IDENT_PART.test(src[i + number[0].length] ?? '')) {
        throw new TemplateError(`malformed number at character ${i + 1}`);
      }
      tokens.push({ kind: 'number', value: number[0] });
      i += number[0].length;
    } else if (c === '$') {
      throw new TemplateError(`template variables ($...) are not supported (character ${i + 1})`);
    } else {
      throw new TemplateError(`unexpected "${c}" at character ${i + 1}`);
    }
  }
}

class TokenReader {
  private position = 0;
  private readonly tokens: Token[];

  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  peek(): Token | undefined {
    return this.tokens[this.position];
  }

  next(): Token | undefined {
    const token = this.tokens[this.position];
    this.position++;
    return token;
  }
}

function parsePipeline(reader: TokenReader, nested: boolean): Pipeline {
  const commands: Command[] = [];
  for (;;) {
    const operands: Operand[] = [];
    for (let token = reader.peek(); token && token.kind !== 'pipe' && token.kind !== 'close'; token = reader.peek()) {
      reader.next();
      if (token.kind === 'ident') operands.push({ kind: 'function', name: token.name });
      else if (token.kind === 'field') operands.push({ kind: 'field', name: token.name });
      else if (token.kind === 'string') operands.push({ kind: 'string', value: token.value });
      else if (token.kind === 'number') operands.push({ kind: 'number', value: token.value });
      else {
        const pipeline = parsePipeline(reader, true);
        if (reader.next()?.kind !== 'close') throw new TemplateError('unclosed "("');
        operands.push({ kind: 'pipeline', pipeline });
      }
    }
    if (operands.length === 0) throw new TemplateError('missing value in action');
    commands.push({ operands });
    const token = reader.peek();
    if (token?.kind === 'pipe') {
      reader.next();
      continue;
    }
    if (token?.kind === 'close' && !nested) throw new TemplateError('unexpected ")"');
    return { commands };
  }
}

export function parseTemplateText(src: string): TemplateNode[] {
  const nodes: TemplateNode[] = [];
  let text = '';
  let i = 0;
  let trimNextText = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    const chunk = open < 0 ? src.slice(i) : src.slice(i, open);
    text += trimNextText ? trimStart(chunk) : chunk;
    if (open < 0) break;
    let start = open + 2;
    if (src.startsWith('-', start) && isSpace(src[start + 1])) {
      text = trimEnd(text);
      start += 1;
    }
    const scan = scanAction(src, start, open);
    if (!scan.comment) {
      if (text !== '') nodes.push({ kind: 'text', text });
      text = '';
      const reader = new TokenReader(scan.tokens);
      const pipeline = parsePipeline(reader, false);
      nodes.push({ kind: 'action', pipeline, source: src.slice(start, scan.contentEnd) });
    }
    trimNextText = scan.trimRight;
    i = scan.end;
  }
  if (text !== '') nodes.push({ kind: 'text', text });
  return nodes;
}
