/** Helpers for the request model's tests: a valid base, and errors as plain data. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { parseTemplate, TemplateValidationError } from '../../model/index.ts';
import type { BuildRequest, FieldError, ParseOptions } from '../../model/index.ts';

export const NOW = new Date('2024-05-06T07:08:09.120Z');
export const NOW_SECONDS = '1714979289';

export const baseBuilder: Readonly<Record<string, unknown>> = {
  type: 'amazon-chroot',
  ami_name: 'base-{{timestamp}}',
  source_ami: 'ami-0123456789abcdef0',
};

const scratchDirs: string[] = [];

afterAll(() => {
  for (const dir of scratchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'model-test-'));
  scratchDirs.push(dir);
  return dir;
}

export function parse(json: unknown, options: Partial<ParseOptions> = {}): BuildRequest {
  return parseTemplate(json, { templateDir: options.templateDir ?? tmpdir(), now: NOW, ...options });
}

export function template(builder: Record<string, unknown>, rest: Record<string, unknown> = {}): Record<string, unknown> {
  return { builders: [{ ...baseBuilder, ...builder }], ...rest };
}

/** The errors `run` throws (it must throw a TemplateValidationError). */
export function errorsOf(run: () => unknown): FieldError[] {
  try {
    run();
  } catch (error) {
    if (error instanceof TemplateValidationError) return [...error.errors];
    throw error;
  }
  throw new Error('expected a TemplateValidationError, but the template was accepted');
}

export async function errorsOfAsync(run: () => Promise<unknown>): Promise<FieldError[]> {
  try {
    await run();
  } catch (error) {
    if (error instanceof TemplateValidationError) return [...error.errors];
    throw error;
  }
  throw new Error('expected a TemplateValidationError, but the template was accepted');
}

/** `expected` is [path, message substring] pairs: exactly these paths, each with its message. */
export function expectErrors(errors: readonly FieldError[], expected: readonly (readonly [string, string])[]): void {
  expect(errors.map((error) => error.path)).toEqual(expected.map(([path]) => path));
  expected.forEach(([, message], index) => {
    expect(errors[index]?.message).toContain(message);
  });
}
