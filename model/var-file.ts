/** Packer's `-var-file`: a JSON object of variable names to string values, or a `.pkrvars.hcl`. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { TemplateValidationError } from './errors.ts';
import type { FieldError } from './types.ts';
import { joinPath } from '../contract/field-errors.ts';
import { isPlainObject } from './schema/fields.ts';

/** Throws TemplateValidationError with paths such as `vars.json.region`. */
export function parseVarFile(json: unknown, label: string): Record<string, string> {
  if (!isPlainObject(json)) {
    throw new TemplateValidationError([{ path: label, message: 'a var file must be a JSON object of variable names to string values' }]);
  }
  const errors: FieldError[] = [];
  const values: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (typeof value === 'string') values[name] = value;
    else errors.push({ path: joinPath(label, name), message: 'must be a string' });
  }
  if (errors.length > 0) throw new TemplateValidationError(errors);
  return values;
}

export async function loadVarFile(path: string): Promise<Record<string, string>> {
  const absolute = resolve(path);
  // `*.pkrvars.hcl`: HCL2's var files, `name = value` lines.
  if (path.endsWith('.hcl')) {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      throw new TemplateValidationError([{ path: absolute, message: `cannot read var file: ${(error as Error).message}` }]);
    }
    // The HCL2 parser is loaded only for an HCL var file: JSON ones do not pay for its WASM.
    const { parseHclVarFile } = await import('./hcl2/var-file.ts');
    return parseHclVarFile(path, text, dirname(absolute));
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(absolute, 'utf8'));
  } catch (error) {
    throw new TemplateValidationError([{ path: absolute, message: `cannot read var file: ${(error as Error).message}` }]);
  }
  return parseVarFile(json, absolute);
}
