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

/** Collects errors while validation carries on past them, and warnings (Packer's leniencies). */
export class Issues {
  readonly errors: FieldError[] = [];
  readonly warnings: FieldError[] = [];

  add(path: string, message: string): void {
    this.errors.push({ path, message });
  }

  /** A template Packer accepts but the requester should hear about; never fails a build. */
  warn(path: string, message: string): void {
    if (!this.warnings.some((warning) => warning.path === path && warning.message === message)) {
      this.warnings.push({ path, message });
    }
  }

  get count(): number {
    return this.errors.length;
  }

  throwIfAny(): void {
    if (this.errors.length > 0) throw new TemplateValidationError(this.errors);
  }
}
