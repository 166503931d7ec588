/**
 * Packer's `{{strftime "%Y-%m-%d"}}`: C-style conversions of the build's instant (UTC), the
 * set Packer's strftime library knows. An unknown conversion stays in the output as written,
 * as there; unlike there, text between conversions is never read as a Go layout.
 */
import { formatGoTime } from './go-time-layout.ts';

/** Each conversion as the Go layout that prints it. */
const CONVERSIONS: Readonly<Record<string, string>> = {
  B: 'January', b: 'Jan', m: '01', A: 'Monday', a: 'Mon', d: '02', H: '15', I: '03',
  M: '04', S: '05', Y: '2006', y: '06', p: 'PM', Z: 'MST', z: '-0700',
};

export function strftime(format: string, now: Date): string {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i] as string;
    const next = format[i + 1];
    if (c !== '%' || next === undefined) {
      out += c;
      continue;
    }
    i++;
    const layout = CONVERSIONS[next];
    if (layout !== undefined) out += formatGoTime(now, layout);
    else if (next === '%') out += '%';
    else out += `%${next}`;
  }
  return out;
}
