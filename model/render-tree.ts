/**
 * Renders every string of one option's JSON value (and, for tag maps, the keys too, as
 * Packer renders tag keys) before the option is validated: rules such as the AMI name's
 * character set apply to what EC2 will see, not to the template text.
 */
import type { Issues } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { TemplateError } from './template/engine.ts';
import { renderRequestTemplate } from './template/request.ts';
import type { Placement, RequestTemplateContext } from './template/request.ts';

export interface RenderedOption {
  value: unknown;
  /** False when some string failed to render; the option is then not validated further. */
  ok: boolean;
}

export function renderOption(
  value: unknown,
  path: string,
  placement: Placement,
  context: RequestTemplateContext,
  issues: Issues,
  options: { renderKeys?: boolean } = {},
): RenderedOption {
  const before = issues.count;
  const walk = (node: unknown, at: string): unknown => {
    if (typeof node === 'string') {
      try {
        return renderRequestTemplate(node, placement, { ...context, warn: (message) => { issues.warn(at, message); } });
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        issues.add(at, error.message);
        return node;
      }
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, joinPath(at, index)));
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(node)) {
        const renderedKey = options.renderKeys ? (walk(key, joinPath(at, key)) as string) : key;
        out[renderedKey] = walk(item, joinPath(at, key));
      }
      return out;
    }
    return node;
  };
  const rendered = walk(value, path);
  return { value: rendered, ok: issues.count === before };
}
