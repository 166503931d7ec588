/**
 * EventBridge Scheduler's cron, read on this side of AWS: checked field by field as
 * EventBridge checks it (so a mistake in factory.yml fails the package, not the deploy),
 * translated into croner's pattern for the local clock and for the next run the API shows.
 *
 * EventBridge's six fields are `minutes hours day-of-month month day-of-week year`:
 *
 * | field        | values              | wildcards        |
 * |--------------|---------------------|------------------|
 * | minutes      | 0-59                | , - * /          |
 * | hours        | 0-23                | , - * /          |
 * | day-of-month | 1-31                | , - * ? / L W    |
 * | month        | 1-12 or JAN-DEC     | , - * /          |
 * | day-of-week  | 1-7 or SUN-SAT      | , - * ? L #      |
 * | year         | 1970-2199           | , - * /          |
 *
 * One of day-of-month and day-of-week must be `?` and the other not. Croner reads the same
 * pattern with a seconds field in front, Quartz's weekday numbers (1 = SUN) and AND between
 * the two day fields; two readings differ and are translated: `?` (croner's `?` means "the
 * value now", EventBridge's "no value": `*` here, which AND makes neutral), and a lone `L`
 * in day-of-week (EventBridge's "last day of the week", Saturday).
 */
import { Cron, type CronOptions } from 'croner';

export class CronError extends Error {
  override name = 'CronError';
}

interface Field {
  name: string;
  min: number;
  max: number;
  /** Names standing for 1, 2, ... (months) or for 1, 2, ... (weekdays, SUN = 1). */
  names?: readonly string[];
  steps: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly Field[] = [
  { name: 'minutes', min: 0, max: 59, steps: true },
  { name: 'hours', min: 0, max: 23, steps: true },
  { name: 'day-of-month', min: 1, max: 31, steps: true },
  { name: 'month', min: 1, max: 12, names: MONTHS, steps: true },
  { name: 'day-of-week', min: 1, max: 7, names: WEEKDAYS, steps: false },
  { name: 'year', min: 1970, max: 2199, steps: true },
];

const EXAMPLE = '0 3 * * ? * (03:00 every day)';

/** How croner must read a translated pattern to mean what EventBridge means. */
export const CRONER_OPTIONS = {
  mode: '7-part',
  alternativeWeekdays: true,
  domAndDow: true,
  // EventBridge allows a step from a value (`0/15`), which croner calls sloppy.
  sloppyRanges: true,
} as const satisfies CronOptions;

/** A value of the field: digits or (upper-cased) one of its names; undefined when neither. */
function valueOf(field: Field, text: string): number | undefined {
  if (/^\d{1,4}$/.test(text)) return Number(text);
  const index = field.names?.indexOf(text) ?? -1;
  return index < 0 ? undefined : index + 1;
}

/** Why one comma-separated item of a field is not EventBridge's, or undefined when it is. */
function itemProblem(field: Field, item: string): string | undefined {
  const inRange = (text: string): string | undefined => {
    const value = valueOf(field, text);
    if (value === undefined) return `"${text}" is not a value of ${field.name} (${field.min}-${field.max}${field.names ? ` or ${field.names[0] ?? ''}-${field.names.at(-1) ?? ''}` : ''})`;
    if (value < field.min || value > field.max) return `${text} is outside ${field.min}-${field.max}`;
    return undefined;
  };
  if (field.name === 'day-of-month' && (item === 'L' || item === 'LW')) return undefined;
  if (field.name === 'day-of-month' && item.endsWith('W')) return inRange(item.slice(0, -1));
  if (field.name === 'day-of-week') {
    if (item === 'L') return undefined;
    const nth = /^([^#]+)#(.+)$/.exec(item);
    if (nth) return inRange(nth[1] ?? '') ?? (/^[1-5]$/.test(nth[2] ?? '') ? undefined : `"#${nth[2] ?? ''}" must be #1 to #5 (the nth such weekday of the month)`);
    if (item.endsWith('L')) return inRange(item.slice(0, -1));
  }
  const stepped = /^([^/]+)\/(.*)$/.exec(item);
  if (stepped) {
    if (!field.steps) return `"/" is not allowed in ${field.name}`;
    if (!/^\d+$/.test(stepped[2] ?? '') || Number(stepped[2]) < 1) return `"/${stepped[2] ?? ''}" must be a step of 1 or more`;
  }
  const base = stepped ? (stepped[1] ?? '') : item;
  if (base === '*') return undefined;
  const range = /^([^-]+)-([^-]+)$/.exec(base);
  if (range) return inRange(range[1] ?? '') ?? inRange(range[2] ?? '');
  return inRange(base);
}

/**
 * The six fields of an EventBridge cron (`cron(...)` around them is allowed), checked;
 * a CronError names the field and what is wrong with it.
 */
export function eventBridgeCronFields(expression: string): string[] {
  const inner = /^cron\((.*)\)$/s.exec(expression.trim())?.[1] ?? expression;
  const fields = inner.trim().toUpperCase().split(/\s+/);
  if (fields.length !== FIELDS.length) {
    throw new CronError(`"${expression}" has ${fields.length} field(s); EventBridge's cron has six, minutes hours day-of-month month day-of-week year, such as ${EXAMPLE}`);
  }
  const problems: string[] = [];
  FIELDS.forEach((field, index) => {
    const text = fields[index] ?? '';
    if (text === '?') {
      if (field.name !== 'day-of-month' && field.name !== 'day-of-week') problems.push(`${field.name}: "?" is allowed only in day-of-month and day-of-week`);
      return;
    }
    for (const item of text.split(',')) {
      const problem = itemProblem(field, item);
      if (problem !== undefined) problems.push(`${field.name}: ${problem}`);
    }
  });
  const [dayOfMonth, dayOfWeek] = [fields[2], fields[4]];
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    problems.push('day-of-month and day-of-week: exactly one of them must be "?" (EventBridge takes one of the two, such as "* ?" for every day of the month or "? MON-FRI" for weekdays)');
  }
  if (problems.length > 0) throw new CronError(`"${expression}": ${problems.join('; ')}`);
  return fields;
}

/** CloudFormation's ScheduleExpression: `cron(<the six fields>)`. */
export function scheduleExpression(expression: string): string {
  return `cron(${eventBridgeCronFields(expression).join(' ')})`;
}

/** The croner pattern (seconds first, seven fields) that fires when EventBridge would. */
export function cronerPattern(expression: string): string {
  const fields = eventBridgeCronFields(expression).map((field) => (field === '?' ? '*' : field));
  // A lone L in day-of-week is its last day, Saturday; croner takes L only after a weekday.
  fields[4] = (fields[4] ?? '').split(',').map((item) => (item === 'L' ? 'SAT' : item)).join(',');
  return ['0', ...fields].join(' ');
}

/**
 * A croner job (paused without a function: nothing is scheduled) for the expression in
 * the time zone; throws a CronError for a bad expression or time zone.
 */
export function cronerJob(expression: string, timezone: string, options: CronOptions = {}, run?: () => void | Promise<void>): Cron {
  const pattern = cronerPattern(expression);
  checkTimeZone(timezone);
  try {
    const settings: CronOptions = { ...CRONER_OPTIONS, ...options, timezone };
    return run === undefined ? new Cron(pattern, settings) : new Cron(pattern, settings, run);
  } catch (error) {
    throw new CronError(`"${expression}" cannot be read: ${(error as Error).message}`);
  }
}

/** An IANA time zone name (Europe/Berlin, UTC), as EventBridge takes it. */
export function checkTimeZone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new CronError(`"${timezone}" is not an IANA time zone, such as UTC or Europe/Berlin`);
  }
}

/** When the schedule fires next after `after`, or null when it never fires again (a past year). */
export function nextRun(expression: string, timezone: string, after: Date = new Date()): Date | null {
  return cronerJob(expression, timezone).nextRun(after);
}
