/**
 * Packer amazon's `clean_resource_name`: every byte that EC2 does not allow in an AMI name
 * becomes "-". It works on UTF-8 bytes, as Packer's does, so "é" turns into "--" there and
 * here alike and the same template gives the same name.
 */

const ALLOWED_PUNCTUATION = new Set(Array.from("()[] ./-'@_", (c) => c.charCodeAt(0)));

function isAllowedByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    ALLOWED_PUNCTUATION.has(byte)
  );
}

export function cleanResourceName(value: string): string {
  const bytes = new TextEncoder().encode(value);
  return Array.from(bytes, (byte) => (isAllowedByte(byte) ? String.fromCharCode(byte) : '-')).join('');
}
