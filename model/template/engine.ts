/**
 * Renders parsed templates. The same evaluator serves both stages of a build: loading the
 * request (functions evaluated, host dot fields kept for later) and the chroot host (dot
 * fields filled in). Keeping an action means re-emitting it, so the host re-parses it.
 */
import { parseTemplateText, TemplateError } from './parse.ts';
import type { Operand, Pipeline } from './parse.ts';

export { TemplateError };

export interface TemplateFunction {
  minArgs: number;
  maxArgs: number;
  call: (args: string[]) => string;
}

/** Marks a dot field that stays in the output for a later render. */
export const KEEP = Symbol('keep');

export interface TemplateScope {
  functions: ReadonlyMap<string, TemplateFunction>;
  /** The field's value, KEEP, or a thrown TemplateError saying why it is not allowed here. */
  field: (name: string) => string | typeof KEEP;
  /** Functions that may share an action with a kept field: the later render has them too. */
  keptFunctions: ReadonlySet<string>;
  /**
   * Set when the output is itself a template for a later render: produced text must not be
   * read as an action then, so `{{` in it is written as an action printing "{{".
   * 'if-kept' escapes only when an action was kept: a string without build data is final.
   */
  escapeOutput: boolean | 'if-kept';
}

function escapeBraces(text: string): string {
  return text.replaceAll('{{', '{{"{{"}}');
}

function functionsOf(pipeline: Pipeline, into: Set<string>): Set<string> {
  for (const command of pipeline.commands) {
    for (const operand of command.operands) {
      if (operand.kind === 'function') into.add(operand.name);
      if (operand.kind === 'pipeline') functionsOf(operand.pipeline, into);
    }
  }
  return into;
}

function fieldsOf(pipeline: Pipeline, into: Set<string>): Set<string> {
  for (const command of pipeline.commands) {
    for (const operand of command.operands) {
      if (operand.kind === 'field') into.add(operand.name);
      if (operand.kind === 'pipeline') fieldsOf(operand.pipeline, into);
    }
  }
  return into;
}

class Evaluator {
  private readonly scope: TemplateScope;

  constructor(scope: TemplateScope) {
    this.scope = scope;
  }

  call(name: string, args: string[]): string {
    const fn = this.scope.functions.get(name);
    if (!fn) {
      const known = [...this.scope.functions.keys()].sort().join(', ');
      throw new TemplateError(`function "${name}" is not defined${known ? ` (available here: ${known})` : ''}`);
    }
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      const want = fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : `${fn.minArgs} to ${fn.maxArgs}`;
      throw new TemplateError(`wrong number of arguments for ${name}: want ${want}, got ${args.length}`);
    }
    return fn.call(args);
  }

  operand(operand: Operand): string {
    switch (operand.kind) {
      case 'string':
      case 'number':
        return operand.value;
      case 'function':
        // As in Go, a function named as an argument is called without arguments.
        return this.call(operand.name, []);
      case 'pipeline':
        return this.pipeline(operand.pipeline);
      case 'field': {
        const value = this.scope.field(operand.name);
        if (value === KEEP) throw new TemplateError(`.${operand.name} cannot be evaluated here`);
        return value;
      }
    }
  }

  pipeline(pipeline: Pipeline): string {
    let piped: string | undefined;
    for (const { operands } of pipeline.commands) {
      const [first, ...rest] = operands;
      if (first === undefined) throw new TemplateError('missing value in action');
      if (first.kind === 'function') {
        const args = rest.map((operand) => this.operand(operand));
        if (piped !== undefined) args.push(piped);
        piped = this.call(first.name, args);
      } else {
        if (rest.length > 0 || piped !== undefined) {
          throw new TemplateError('only a function can take arguments or a piped value');
        }
        piped = this.operand(first);
      }
    }
    return piped ?? '';
  }
}

/** Renders `source`; throws TemplateError with a message naming the offending action. */
export function renderTemplate(source: string, scope: TemplateScope): string {
  const nodes = parseTemplateText(source);
  const evaluator = new Evaluator(scope);
  let kept = false;
  // Text and kept actions as strings; produced values as [escaped, plain], chosen at the end
  // because 'if-kept' only knows whether to escape once every action is seen.
  const parts: (string | [escaped: string, plain: string])[] = [];
  for (const node of nodes) {
    if (node.kind === 'text') {
      parts.push(node.text);
      continue;
    }
    try {
      let keep = false;
      for (const name of fieldsOf(node.pipeline, new Set())) {
        if (scope.field(name) === KEEP) keep = true;
      }
      if (keep) {
        for (const name of functionsOf(node.pipeline, new Set())) {
          if (!scope.keptFunctions.has(name)) {
            throw new TemplateError(`${name} cannot share an action with a field that is filled in on the build host`);
          }
        }
        parts.push(`{{${node.source}}}`);
        kept = true;
        continue;
      }
      const value = evaluator.pipeline(node.pipeline);
      parts.push([escapeBraces(value), value]);
    } catch (error) {
      if (error instanceof TemplateError) throw new TemplateError(`in {{${node.source.trim()}}}: ${error.message}`);
      throw error;
    }
  }
  const escape = scope.escapeOutput === true || (scope.escapeOutput === 'if-kept' && kept);
  return parts.map((part) => (typeof part === 'string' ? part : escape ? part[0] : part[1])).join('');
}
