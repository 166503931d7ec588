/**
 * JSON as a person would lay it out: a value that fits on one line stays on one line, so a
 * Retry or a Choice rule reads at a glance and the rendered definition diffs by state.
 */
const LINE_WIDTH = 120;

export function renderJson(value: unknown, indent = ''): string {
  const flat = JSON.stringify(value);
  if (flat.length + indent.length <= LINE_WIDTH || value === null || typeof value !== 'object') return spaced(flat, value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return `[\n${value.map((item) => `${inner}${renderJson(item, inner)}`).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, field]) => field !== undefined);
  return `{\n${entries.map(([key, field]) => `${inner}${JSON.stringify(key)}: ${renderJson(field, inner)}`).join(',\n')}\n${indent}}`;
}

/** One-line objects and arrays with a space after each separator, as in hand-written JSON. */
function spaced(flat: string, value: unknown): string {
  if (value === null || typeof value !== 'object') return flat;
  return JSON.stringify(value, null, 1).replace(/\n\s*/g, ' ').replace(/\[ /g, '[').replace(/ \]/g, ']').replace(/\{ /g, '{ ').replace(/ \}/g, ' }');
}
