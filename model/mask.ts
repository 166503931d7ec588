/** Secrets out of anything the factory prints or logs, written as Packer writes them. */

export const SENSITIVE_PLACEHOLDER = '<sensitive>';

export function maskSensitive(text: string, sensitiveValues: readonly string[]): string {
  // Longest first, so a secret that contains another is masked whole.
  const secrets = [...new Set(sensitiveValues)].filter((value) => value !== '').sort((a, b) => b.length - a.length);
  let masked = text;
  for (const secret of secrets) masked = masked.replaceAll(secret, SENSITIVE_PLACEHOLDER);
  return masked;
}

/** `value` with every string (and object key) masked; for printing structured data. */
export function maskSensitiveDeep<T>(value: T, sensitiveValues: readonly string[]): T {
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') return maskSensitive(node, sensitiveValues);
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node === 'object' && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [maskSensitive(key, sensitiveValues), walk(item)]));
    }
    return node;
  };
  return walk(value) as T;
}
