/**
 * `templatefile(path, vars)`: the file's text is an HCL template (`${}` and `%{}`) that sees
 * only the variables it is given, as in Packer.
 */
import { evaluate } from './evaluate.ts';
import type { FunctionEnvironment } from './functions.ts';
import { HclError, named, parseLoaded } from './parser.ts';
import { toText, type Value } from './values.ts';

const MARKER = 'AMI_FACTORY_TEMPLATEFILE_END';

export function renderTemplateFile(environment: FunctionEnvironment) {
  return (text: string, name: string, variables: { [key: string]: Value }): Value => {
    if (text.includes(MARKER)) throw new Error(`templatefile(): ${name} contains ${MARKER}`);
    // A heredoc holds the text as it is; its content always ends with a newline.
    let rendered: Value;
    try {
      const root = parseLoaded(name, `value = <<${MARKER}\n${text}${text.endsWith('\n') ? '' : '\n'}${MARKER}\n`);
      const body = named(root).find((child) => child.type === 'body');
      const expression = body ? named(named(body)[0] ?? body)[1] : undefined;
      if (!expression) throw new Error(`templatefile(): ${name} is not a template`);
      rendered = evaluate(expression, { ...environment, file: name, symbols: new Map(Object.entries(variables)), reference: () => undefined });
    } catch (error) {
      // Positions in the file itself, not in the heredoc wrapped around it.
      if (!(error instanceof HclError)) throw error;
      throw new HclError(error.where.replace(/:(\d+):(\d+)$/, (_whole, line: string, column: string) => `:${Number(line) - 1}:${column}`), error.message);
    }
    const out = toText(rendered, 'templatefile()\'s result');
    return text.endsWith('\n') ? out : out.replace(/\n$/, '');
  };
}
