/**
 * HCL's date and time functions: RFC 3339 timestamps (kept in their own offset, as Go's
 * time.Time is), `formatdate`'s spec language and Go's durations for `timeadd`.
 */
export interface Timestamp {
  /** The instant. */
  date: Date;
  /** Minutes east of UTC in which the timestamp was written. */
  offset: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string): Timestamp {
  const match = RFC3339.exec(text);
  const date = match ? new Date(text) : undefined;
  if (!match || !date || Number.isNaN(date.getTime())) throw new Error(`${JSON.stringify(text)} is not an RFC 3339 timestamp (such as 2024-05-06T07:08:09Z)`);
  const zone = match[8] as string;
  const offset = zone.toUpperCase() === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  return { date, offset };
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

function zone(offset: number, colon: boolean): string {
  const sign = offset < 0 ? '-' : '+';
  const minutes = Math.abs(offset);
  return `${sign}${pad(Math.floor(minutes / 60))}${colon ? ':' : ''}${pad(minutes % 60)}`;
}

/** What `timestamp()` returns: seconds precision, UTC, `Z`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** `formatdate("YYYY-MM-DD hh:mm", ts)`: letters are directives, 'quoted' text is literal. */
export function formatDate(spec: string, timestamp: Timestamp): string {
  const local = new Date(timestamp.date.getTime() + timestamp.offset * 60_000);
  const hour = local.getUTCHours();
  const hour12 = hour % 12 === 0 ? 12 : hour % 12;
  const directives: Record<string, () => string> = {
    YYYY: () => pad(local.getUTCFullYear(), 4), YY: () => pad(local.getUTCFullYear() % 100),
    MMMM: () => MONTHS[local.getUTCMonth()] as string, MMM: () => (MONTHS[local.getUTCMonth()] as string).slice(0, 3),
    MM: () => pad(local.getUTCMonth() + 1), M: () => String(local.getUTCMonth() + 1),
    DD: () => pad(local.getUTCDate()), D: () => String(local.getUTCDate()),
    EEEE: () => DAYS[local.getUTCDay()] as string, EEE: () => (DAYS[local.getUTCDay()] as string).slice(0, 3),
    hh: () => pad(hour), h: () => String(hour), HH: () => pad(hour12), H: () => String(hour12),
    AA: () => (hour < 12 ? 'AM' : 'PM'), aa: () => (hour < 12 ? 'am' : 'pm'),
    mm: () => pad(local.getUTCMinutes()), m: () => String(local.getUTCMinutes()),
    ss: () => pad(local.getUTCSeconds()), s: () => String(local.getUTCSeconds()),
    ZZZZZ: () => zone(timestamp.offset, true), ZZZZ: () => zone(timestamp.offset, false),
    ZZZ: () => (timestamp.offset === 0 ? 'UTC' : zone(timestamp.offset, false)),
    Z: () => (timestamp.offset === 0 ? 'Z' : zone(timestamp.offset, true)),
  };
  let out = '';
  for (const [token] of spec.matchAll(/'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+|'/g)) {
    if (token.startsWith("'")) {
      if (token.length < 2 || !token.endsWith("'")) throw new Error('formatdate(): unterminated quoted literal');
      out += token === "''" ? "'" : token.slice(1, -1).replace(/''/g, "'");
    } else if (/^[A-Za-z]/.test(token)) {
      const directive = directives[token];
      if (!directive) throw new Error(`formatdate(): invalid directive ${JSON.stringify(token)}`);
      out += directive();
    } else out += token;
  }
  return out;
}

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration ("1h30m", "-10s") added to a timestamp. */
export function addDuration(timestamp: Timestamp, duration: string): Date {
  const match = /^([-+]?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+|0)$/.exec(duration);
  if (!match) throw new Error(`${JSON.stringify(duration)} is not a duration (such as "1h30m" or "-10s")`);
  let total = 0;
  for (const [, amount, unit] of (match[2] as string).matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(amount) * (UNITS[unit as string] as number);
  }
  return new Date(timestamp.date.getTime() + (match[1] === '-' ? -total : total));
}
