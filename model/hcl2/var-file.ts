/**
 * `*.pkrvars.hcl` var files: `name = value` lines whose values may be any HCL value but may
 * not refer to anything. Values become the string form that -var takes (strings as they
 * are, other values written as HCL), so they travel in a bundle like any variable.
 */
import { TemplateValidationError } from '../errors.ts';
import { evaluate } from './evaluate.ts';
import { at, HclError, parseHcl, readBody } from './parser.ts';
import { HclIssues } from './scope.ts';
import { asTemplateText } from './values.ts';

export async function parseHclVarFile(name: string, text: string, dir = '.'): Promise<Record<string, string>> {
  const issues = new HclIssues();
  let body;
  try {
    body = readBody((await parseHcl(name, text)).body);
  } catch (error) {
    if (!(error instanceof HclError)) throw error;
    throw new TemplateValidationError([{ path: error.where, message: error.message }]);
  }
  for (const block of body.blocks) issues.add(at(name, block.node), 'a var file holds only name = value lines');
  const values: Record<string, string> = {};
  for (const attribute of body.attributes) {
    const context = { file: name, templateDir: dir, now: new Date(), reference: () => undefined };
    const value = issues.catch(() => evaluate(attribute.expression, context), undefined);
    if (value !== undefined) values[attribute.name] = asTemplateText(value);
  }
  if (issues.errors.length > 0) throw new TemplateValidationError(issues.errors);
  return values;
}
