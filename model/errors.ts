import type { FieldError } from './types.ts';
import { comparePaths } from './path.ts';

export type { FieldError };

export function formatFieldError(error: FieldError): string {
  return error.path === '' ? error.message : `${error.path}: ${error.message}`;
}

/** Sorted by path, then message, without duplicates: stable output for people and tests. */
export function sortFieldErrors(errors: readonly FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors
    .filter((error) => {
      const key = `${error.path}\u0000${error.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => comparePaths(a.path, b.path) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}

/** Every problem of one template, so a requester fixes them in one round. */
export class TemplateValidationError extends Error {
  readonly errors: readonly FieldError[];

  constructor(errors: readonly FieldError[]) {
    const sorted = sortFieldErrors(errors);
    super(sorted.map(formatFieldError).join('\n'));
    this.name = 'TemplateValidationError';
    this.errors = sorted;
  }
}

/** Collects errors while validation carries on past them. */
export class Issues {
  readonly errors: FieldError[] = [];

  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  get count(): number {
    return this.errors.length;
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new TemplateValidationError(this.errors);
  }
}
