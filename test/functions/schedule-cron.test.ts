/**
 * EventBridge Scheduler's cron, read here as EventBridge reads it: translated for croner (the
 * local clock, the API's next run) with the same meaning, and refused, field by field, where
 * EventBridge would refuse it.
 */
import { describe, expect, it } from 'vitest';
import { cronerJob, cronerPattern, nextRun, scheduleExpression } from '../../functions/lib/schedule-cron.ts';

const FROM = new Date('2025-01-01T00:00:00Z');

/** The next runs after FROM, in UTC. */
const runs = (expression: string, timezone = 'UTC', count = 3): string[] =>
  cronerJob(expression, timezone).nextRuns(count, FROM).map((date) => date.toISOString());

describe('an EventBridge cron', () => {
  it('becomes croner\'s seven fields: seconds first, "?" as "*"', () => {
    expect(cronerPattern('0 3 * * ? *')).toBe('0 0 3 * * * *');
    expect(cronerPattern('cron(15 10 ? * MON-FRI 2025-2030)')).toBe('0 15 10 * * MON-FRI 2025-2030');
    expect(scheduleExpression(' 0  3 * * ?  * ')).toBe('cron(0 3 * * ? *)');
    expect(scheduleExpression('cron(0 3 * * ? *)')).toBe('cron(0 3 * * ? *)');
  });

  it('fires at the hour of its time zone, across a change of summer time', () => {
    expect(runs('0 3 * * ? *', 'Europe/Berlin')).toEqual(['2025-01-01T02:00:00.000Z', '2025-01-02T02:00:00.000Z', '2025-01-03T02:00:00.000Z']);
    expect(nextRun('0 3 * * ? *', 'Europe/Berlin', new Date('2025-07-01T00:00:00Z'))?.toISOString()).toBe('2025-07-01T01:00:00.000Z');
  });

  it('numbers weekdays 1-7 from Sunday, and takes their names', () => {
    // 2025-01-05 is a Sunday.
    expect(runs('0 12 ? * 1 *', 'UTC', 1)).toEqual(['2025-01-05T12:00:00.000Z']);
    expect(runs('0 12 ? * SUN *', 'UTC', 1)).toEqual(['2025-01-05T12:00:00.000Z']);
    expect(runs('0 12 ? * 7 *', 'UTC', 1)).toEqual(['2025-01-04T12:00:00.000Z']);
    expect(runs('0 12 ? * MON-FRI *', 'UTC', 4)).toEqual(['2025-01-01T12:00:00.000Z', '2025-01-02T12:00:00.000Z', '2025-01-03T12:00:00.000Z', '2025-01-06T12:00:00.000Z']);
  });

  it('reads "?" in either day field as no restriction, so the other decides alone', () => {
    expect(runs('0 12 15 * ? *', 'UTC', 2)).toEqual(['2025-01-15T12:00:00.000Z', '2025-02-15T12:00:00.000Z']);
    expect(runs('0 12 ? * 2 *', 'UTC', 2)).toEqual(['2025-01-06T12:00:00.000Z', '2025-01-13T12:00:00.000Z']);
  });

  it('takes L, W and #: the last day, the nearest weekday, the nth weekday', () => {
    expect(runs('0 12 L * ? *', 'UTC', 2)).toEqual(['2025-01-31T12:00:00.000Z', '2025-02-28T12:00:00.000Z']);
    expect(runs('0 12 LW * ? *', 'UTC', 1)).toEqual(['2025-01-31T12:00:00.000Z']);
    // 2025-02-15 is a Saturday: its nearest weekday is Friday the 14th.
    expect(runs('0 12 15W * ? *', 'UTC', 2)).toEqual(['2025-01-15T12:00:00.000Z', '2025-02-14T12:00:00.000Z']);
    // The last Friday, the first Monday, and a lone L: the week's last day, Saturday.
    expect(runs('0 12 ? * 6L *', 'UTC', 2)).toEqual(['2025-01-31T12:00:00.000Z', '2025-02-28T12:00:00.000Z']);
    expect(runs('0 12 ? * MON#1 *', 'UTC', 2)).toEqual(['2025-01-06T12:00:00.000Z', '2025-02-03T12:00:00.000Z']);
    expect(runs('0 12 ? * L *', 'UTC', 1)).toEqual(['2025-01-04T12:00:00.000Z']);
  });

  it('takes steps, from a value or from "*"', () => {
    expect(runs('0/20 * * * ? *', 'UTC', 4)).toEqual(['2025-01-01T00:20:00.000Z', '2025-01-01T00:40:00.000Z', '2025-01-01T01:00:00.000Z', '2025-01-01T01:20:00.000Z']);
    expect(runs('0 */12 * * ? *', 'UTC', 2)).toEqual(['2025-01-01T12:00:00.000Z', '2025-01-02T00:00:00.000Z']);
  });

  it('never fires again after its last year', () => {
    expect(nextRun('0 0 1 1 ? 2020', 'UTC', FROM)).toBeNull();
  });
});

describe('an EventBridge cron is refused, naming the field, when', () => {
  it.each([
    ['it has five fields', '0 3 * * ?', /has 5 field\(s\); EventBridge's cron has six/],
    ['both day fields are set', '0 3 * * * *', /exactly one of them must be "\?"/],
    ['neither day field is set', '0 3 ? * ? *', /exactly one of them must be "\?"/],
    ['a minute is out of range', '60 3 * * ? *', /minutes: 60 is outside 0-59/],
    ['an hour is out of range', '0 24 * * ? *', /hours: 24 is outside 0-23/],
    ['a weekday is 0 (EventBridge counts from 1, Sunday)', '0 3 ? * 0 *', /day-of-week: 0 is outside 1-7/],
    ['a weekday is 8', '0 3 ? * 8 *', /day-of-week: 8 is outside 1-7/],
    ['a weekday has a step', '0 3 ? * 1/2 *', /"\/" is not allowed in day-of-week/],
    ['a nth weekday is past the fifth', '0 3 ? * MON#6 *', /"#6" must be #1 to #5/],
    ['a month name is unknown', '0 3 * JANUARY ? *', /month: "JANUARY" is not a value of month/],
    ['the year is before 1970', '0 3 * * ? 1969', /year: 1969 is outside 1970-2199/],
    ['"?" is in another field', '? 3 * * ? *', /minutes: "\?" is allowed only in day-of-month and day-of-week/],
    ['W follows a weekday', '0 3 ? * MONW *', /day-of-week: "MONW" is not a value/],
    ['a step is zero', '*/0 3 * * ? *', /"\/0" must be a step of 1 or more/],
  ])('%s', (_what, expression, message) => {
    expect(() => cronerPattern(expression)).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(() => cronerPattern('60 24 * * * *')).toThrow(/minutes: 60 is outside 0-59; hours: 24 is outside 0-23; day-of-month and day-of-week/);
  });

  it('the time zone is not an IANA one', () => {
    expect(() => cronerJob('0 3 * * ? *', 'Mars/Olympus')).toThrow('"Mars/Olympus" is not an IANA time zone, such as UTC or Europe/Berlin');
  });
});
