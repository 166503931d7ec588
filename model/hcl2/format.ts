/**
 * `format()` and `formatlist()`: Go's fmt verbs as HCL documents them: %v %s %q %d %f %e
 * %g %x %X %o %b %t %%, with flags, width, precision and explicit `%[n]` indexes.
 */
import { toNumber, toText, type Value } from './values.ts';

function verb(kind: string, value: Value, precision: number | undefined, plus: boolean): string {
  const signed = (text: string, number: number): string => (plus && number >= 0 ? `+${text}` : text);
  switch (kind) {
    case 'v':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    case 's':
      return precision === undefined ? toText(value, 'a %s argument') : Array.from(toText(value, 'a %s argument')).slice(0, precision).join('');
    case 'q':
      return JSON.stringify(toText(value, 'a %q argument'));
    case 't':
      if (typeof value !== 'boolean') throw new Error('%t needs a bool');
      return String(value);
    case 'd': {
      const number = toNumber(value, 'a %d argument');
      if (!Number.isInteger(number)) throw new Error(`%d needs a whole number, got ${number}`);
      return signed(String(number), number);
    }
    case 'f': case 'F': {
      const number = toNumber(value, 'a %f argument');
      return signed(number.toFixed(precision ?? 6), number);
    }
    case 'e': case 'E': {
      const number = toNumber(value, 'a %e argument');
      const text = number.toExponential(precision ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
      return signed(kind === 'E' ? text.toUpperCase() : text, number);
    }
    case 'g': {
      const number = toNumber(value, 'a %g argument');
      return signed(precision === undefined ? String(number) : String(Number(number.toPrecision(precision))), number);
    }
    case 'x': case 'X': {
      const text = typeof value === 'string' ? Buffer.from(value).toString('hex') : Math.trunc(toNumber(value, 'a %x argument')).toString(16);
      return kind === 'X' ? text.toUpperCase() : text;
    }
    case 'o': return Math.trunc(toNumber(value, 'a %o argument')).toString(8);
    case 'b': return Math.trunc(toNumber(value, 'a %b argument')).toString(2);
    default: throw new Error(`format verb %${kind} is not supported`);
  }
}

export function goFormat(format: string, args: readonly Value[]): string {
  let next = 0;
  return format.replace(/%([-+ 0#]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d+))?([a-zA-Z%])/g, (_match, flags: string, index?: string, width?: string, precision?: string, kind?: string) => {
    if (kind === '%') return '%';
    if (index !== undefined) next = Number(index) - 1;
    if (next >= args.length) throw new Error(`format: too few arguments for the verbs (${args.length} given)`);
    const value = args[next++] ?? null;
    const text = verb(kind as string, value, precision === undefined ? undefined : Number(precision), flags.includes('+'));
    const size = width === undefined ? 0 : Number(width);
    if (size > 1000 || Number(precision ?? 0) > 100) throw new Error('format: a width above 1000 or a precision above 100');
    if (flags.includes('-')) return text.padEnd(size);
    return flags.includes('0') && kind !== 's' && kind !== 'q' ? text.replace(/^([+-]?)/, (sign) => sign).padStart(size, '0') : text.padStart(size);
  });
}
