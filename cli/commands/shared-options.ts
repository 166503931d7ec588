/** Options and output that several commands share, so they read and print alike. */
import { InvalidArgumentError } from 'commander';
import { TemplateValidationError } from '../../model/index.ts';
import { formatFieldErrors } from '../../contract/field-errors.ts';
import { parseTargetLabel, type Target } from '../../contract/targets.ts';

/** `--var name=value`, repeatable; the value may itself contain "=". */
export function collectVar(input: string, previous: Record<string, string>): Record<string, string> {
  const equals = input.indexOf('=');
  if (equals <= 0) throw new InvalidArgumentError(`expected name=value, got "${input}"`);
  return { ...previous, [input.slice(0, equals)]: input.slice(equals + 1) };
}

/** `--only` / `--except NAME[,NAME]`, repeatable, as Packer's `-only=a,b`: build names or builder types. */
export function collectNames(input: string, previous: string[] = []): string[] {
  const names = input.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new InvalidArgumentError('expected a build name or builder type');
  return [...previous, ...names];
}

/** `--target [account/]region[:mode]`, repeatable (contract/targets.ts). */
export function collectTarget(input: string, previous: Target[] = []): Target[] {
  const target = parseTargetLabel(input);
  if (typeof target === 'string') throw new InvalidArgumentError(target);
  return [...previous, target];
}

/** Every error of a template, one `path: message` per line, on stderr. */
export function printValidationErrors(template: string, error: TemplateValidationError): void {
  const lines = formatFieldErrors(error.errors, { whole: '(template)', separator: '\n  ' });
  process.stderr.write(`${template}: ${error.errors.length} error(s)\n  ${lines}\n`);
}

/**
 * Runs a template load; a template with errors is reported (exit code 2) and gives
 * undefined, anything else propagates.
 */
export async function loadOrReport<T>(template: string, load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (error) {
    if (!(error instanceof TemplateValidationError)) throw error;
    printValidationErrors(template, error);
    process.exitCode = 2;
    return undefined;
  }
}
