/**
 * Go's time.Format for UTC instants: `{{isotime "2006-01-02"}}` layouts are written against
 * Go's reference time (Mon Jan 2 15:04:05 MST 2006), so Packer users' layouts must keep
 * meaning exactly what they mean in Packer. The chunk scanner follows Go's nextStdChunk.
 */

type Chunk =
  | 'LongMonth' | 'Month' | 'NumMonth' | 'ZeroMonth'
  | 'LongWeekDay' | 'WeekDay'
  | 'Day' | 'UnderDay' | 'ZeroDay' | 'UnderYearDay' | 'ZeroYearDay'
  | 'Hour' | 'Hour12' | 'ZeroHour12'
  | 'Minute' | 'ZeroMinute' | 'Second' | 'ZeroSecond'
  | 'LongYear' | 'Year' | 'PM' | 'pm' | 'TZ'
  | 'ISO8601TZ' | 'ISO8601SecondsTZ' | 'ISO8601ShortTZ' | 'ISO8601ColonTZ' | 'ISO8601ColonSecondsTZ'
  | 'NumTZ' | 'NumSecondsTz' | 'NumShortTZ' | 'NumColonTZ' | 'NumColonSecondsTZ';

type Std = Chunk | { frac: '0' | '9'; digits: number; separator: string };

const ZERO_X: Record<string, Chunk> = {
  '1': 'ZeroMonth', '2': 'ZeroDay', '3': 'ZeroHour12', '4': 'ZeroMinute', '5': 'ZeroSecond', '6': 'Year',
};

const ZONES: readonly [string, Chunk][] = [
  ['Z070000', 'ISO8601SecondsTZ'], ['Z07:00:00', 'ISO8601ColonSecondsTZ'], ['Z0700', 'ISO8601TZ'],
  ['Z07:00', 'ISO8601ColonTZ'], ['Z07', 'ISO8601ShortTZ'],
  ['-070000', 'NumSecondsTz'], ['-07:00:00', 'NumColonSecondsTZ'], ['-0700', 'NumTZ'],
  ['-07:00', 'NumColonTZ'], ['-07', 'NumShortTZ'],
];

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function startsWithLowerCase(s: string): boolean {
  const c = s[0];
  return c !== undefined && c >= 'a' && c <= 'z';
}

function isDigitAt(s: string, i: number): boolean {
  const c = s[i];
  return c !== undefined && c >= '0' && c <= '9';
}

interface Split {
  prefix: string;
  std?: Std;
  suffix: string;
}

function nextChunk(layout: string): Split {
  const found = (i: number, std: Std, length: number, prefixEnd = i): Split => ({
    prefix: layout.slice(0, prefixEnd), std, suffix: layout.slice(i + length),
  });
  for (let i = 0; i < layout.length; i++) {
    const rest = layout.slice(i);
    switch (layout[i]) {
      case 'J':
        if (rest.startsWith('January')) return found(i, 'LongMonth', 7);
        if (rest.startsWith('Jan') && !startsWithLowerCase(rest.slice(3))) return found(i, 'Month', 3);
        break;
      case 'M':
        if (rest.startsWith('Monday')) return found(i, 'LongWeekDay', 6);
        if (rest.startsWith('Mon') && !startsWithLowerCase(rest.slice(3))) return found(i, 'WeekDay', 3);
        if (rest.startsWith('MST')) return found(i, 'TZ', 3);
        break;
      case '0': {
        const next = layout[i + 1] ?? '';
        const zeroX = ZERO_X[next];
        if (zeroX) return found(i, zeroX, 2);
        if (rest.startsWith('002')) return found(i, 'ZeroYearDay', 3);
        break;
      }
      case '1':
        if (rest.startsWith('15')) return found(i, 'Hour', 2);
        return found(i, 'NumMonth', 1);
      case '2':
        if (rest.startsWith('2006')) return found(i, 'LongYear', 4);
        return found(i, 'Day', 1);
      case '_':
        if (rest.startsWith('_2')) {
          // "_2006" is a literal underscore followed by the year.
          if (rest.startsWith('_2006')) return found(i + 1, 'LongYear', 4, i + 1);
          return found(i, 'UnderDay', 2);
        }
        if (rest.startsWith('__2')) return found(i, 'UnderYearDay', 3);
        break;
      case '3':
        return found(i, 'Hour12', 1);
      case '4':
        return found(i, 'Minute', 1);
      case '5':
        return found(i, 'Second', 1);
      case 'P':
        if (rest.startsWith('PM')) return found(i, 'PM', 2);
        break;
      case 'p':
        if (rest.startsWith('pm')) return found(i, 'pm', 2);
        break;
      case '-':
      case 'Z':
        for (const [text, std] of ZONES) if (rest.startsWith(text)) return found(i, std, text.length);
        break;
      case '.':
      case ',': {
        const digit = layout[i + 1];
        if (digit === '0' || digit === '9') {
          let j = i + 1;
          while (layout[j] === digit) j++;
          // Only a run of digits that ends here is a fractional second.
          if (!isDigitAt(layout, j)) {
            return found(i, { frac: digit, digits: j - (i + 1), separator: layout[i] as string }, j - i);
          }
        }
        break;
      }
    }
  }
  return { prefix: layout, suffix: '' };
}

function pad(value: number, width: number, fill = '0'): string {
  return String(value).padStart(width, fill);
}

function dayOfYear(date: Date): number {
  const start = Date.UTC(date.getUTCFullYear(), 0, 1);
  return Math.floor((date.getTime() - start) / 86_400_000) + 1;
}

function formatStd(std: Std, date: Date): string {
  const hour = date.getUTCHours();
  if (typeof std === 'object') {
    const nanos = pad(date.getUTCMilliseconds() * 1_000_000, 9).slice(0, std.digits);
    if (std.frac === '0') return std.separator + nanos;
    const trimmed = nanos.replace(/0+$/, '');
    return trimmed === '' ? '' : std.separator + trimmed;
  }
  switch (std) {
    case 'LongMonth': return MONTHS[date.getUTCMonth()] as string;
    case 'Month': return (MONTHS[date.getUTCMonth()] as string).slice(0, 3);
    case 'NumMonth': return String(date.getUTCMonth() + 1);
    case 'ZeroMonth': return pad(date.getUTCMonth() + 1, 2);
    case 'LongWeekDay': return DAYS[date.getUTCDay()] as string;
    case 'WeekDay': return (DAYS[date.getUTCDay()] as string).slice(0, 3);
    case 'Day': return String(date.getUTCDate());
    case 'UnderDay': return pad(date.getUTCDate(), 2, ' ');
    case 'ZeroDay': return pad(date.getUTCDate(), 2);
    case 'UnderYearDay': return pad(dayOfYear(date), 3, ' ');
    case 'ZeroYearDay': return pad(dayOfYear(date), 3);
    case 'Hour': return pad(hour, 2);
    case 'Hour12': return String(hour % 12 === 0 ? 12 : hour % 12);
    case 'ZeroHour12': return pad(hour % 12 === 0 ? 12 : hour % 12, 2);
    case 'Minute': return String(date.getUTCMinutes());
    case 'ZeroMinute': return pad(date.getUTCMinutes(), 2);
    case 'Second': return String(date.getUTCSeconds());
    case 'ZeroSecond': return pad(date.getUTCSeconds(), 2);
    case 'LongYear': return pad(date.getUTCFullYear(), 4);
    case 'Year': return pad(date.getUTCFullYear() % 100, 2);
    case 'PM': return hour >= 12 ? 'PM' : 'AM';
    case 'pm': return hour >= 12 ? 'pm' : 'am';
    case 'TZ': return 'UTC';
    // The ISO 8601 forms write a zero offset as "Z".
    case 'ISO8601TZ': case 'ISO8601SecondsTZ': case 'ISO8601ShortTZ':
    case 'ISO8601ColonTZ': case 'ISO8601ColonSecondsTZ': return 'Z';
    case 'NumTZ': return '+0000';
    case 'NumSecondsTz': return '+000000';
    case 'NumShortTZ': return '+00';
    case 'NumColonTZ': return '+00:00';
    case 'NumColonSecondsTZ': return '+00:00:00';
  }
}

export const RFC3339_LAYOUT = '2006-01-02T15:04:05Z07:00';

/** Formats `date` in UTC with a Go reference-time layout. */
export function formatGoTime(date: Date, layout: string): string {
  let out = '';
  let rest = layout;
  while (rest !== '') {
    const { prefix, std, suffix } = nextChunk(rest);
    out += prefix;
    if (std === undefined) break;
    out += formatStd(std, date);
    rest = suffix;
  }
  return out;
}
