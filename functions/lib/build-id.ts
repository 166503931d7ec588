/**
 * Build ids are execution names too (Step Functions allows 80 characters), and S3 keys.
 *
 * - `b-` + 10 characters of milliseconds + 16 random ones (Crockford base32, lower case):
 *   ids sort by submission time, like ULIDs.
 * - With an Idempotency-Key: `b-i` + 25 characters of SHA-256(caller, key). "i" is not a
 *   Crockford digit, so these never collide with time-based ids; the same caller and key
 *   always give the same id, and Step Functions refuses a second execution with that name.
 */
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const BUILD_ID_PATTERN = /^b-[0-9a-z]{26}$/;

function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += ALPHABET.charAt((buffer >>> (bits - 5)) & 31);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  return out;
}

function timePart(milliseconds: number): string {
  let out = '';
  let rest = Math.floor(milliseconds);
  for (let index = 0; index < 10; index += 1) {
    out = ALPHABET.charAt(rest % 32) + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

export function newBuildId(now: number = Date.now(), random: Uint8Array = randomBytes(10)): string {
  return `b-${timePart(now)}${base32(random, 16)}`;
}

export function idempotentBuildId(key: string, caller: string): string {
  const digest = createHash('sha256').update(caller).update('\u0000').update(key).digest();
  return `b-i${base32(digest, 25)}`;
}

export function isBuildId(value: string): boolean {
  return BUILD_ID_PATTERN.test(value);
}

/** Printable ASCII, as the Idempotency-Key draft (RFC draft-ietf-httpapi-idempotency-key) expects. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
