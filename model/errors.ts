import { formatFieldErrors, sortFieldErrors, type FieldError } from '../contract/field-errors.ts';

/** Every problem of one template, so a requester fixes them in one round. */
export class TemplateValidationError extends Error {
  readonly errors: readonly FieldError[];

  constructor(errors: readonly FieldError[]) {
    const sorted = sortFieldErrors(errors);
    super(formatFieldErrors(sorted));
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
