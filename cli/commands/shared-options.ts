/** Options and output that several commands share, so they read and print alike. */
import { InvalidArgumentError } from 'commander';
import type { TemplateValidationError } from '../../model/index.ts';

/** `--var name=value`, repeatable; the value may itself contain "=". */
export function collectVar(input: string, previous: Record<string, string>): Record<string, string> {
  const equals = input.indexOf('=');
  if (equals <= 0) throw new InvalidArgumentError(`expected name=value, got "${input}"`);
  return { ...previous, [input.slice(0, equals)]: input.slice(equals + 1) };
}

/** Every error of a template, one `path: message` per line, on stderr. */
export function printValidationErrors(template: string, error: TemplateValidationError): void {
  const lines = error.errors.map((e) => `  ${e.path || '(template)'}: ${e.message}`);
  process.stderr.write(`${template}: ${error.errors.length} error(s)\n${lines.join('\n')}\n`);
}
