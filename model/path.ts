/**
 * Field paths as users read them: `builders[0].chroot_mounts[2]`, `tags["aws:x"]`.
 * One spelling everywhere so errors from zod, rules and the template engine sort together.
 */

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!PLAIN_KEY.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

export function joinPaths(base: string, keys: readonly (string | number)[]): string {
  return keys.reduce<string>((path, key) => joinPath(path, key), base);
}

type Segment = string | number;

const SEGMENT = /\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.[\]]+)/g;

function segments(path: string): Segment[] {
  const out: Segment[] = [];
  for (const match of path.matchAll(SEGMENT)) {
    if (match[1] !== undefined) out.push(Number(match[1]));
    else if (match[2] !== undefined) out.push(JSON.parse(match[2]) as string);
    else if (match[3] !== undefined) out.push(match[3]);
  }
  return out;
}

/** Orders `x[2]` before `x[10]`, and a parent before its children. */
export function comparePaths(a: string, b: string): number {
  const left = segments(a);
  const right = segments(b);
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const l = left[i] as Segment;
    const r = right[i] as Segment;
    if (l === r) continue;
    if (typeof l === 'number' && typeof r === 'number') return l - r;
    // Indices before names keeps array entries next to each other.
    if (typeof l === 'number') return -1;
    if (typeof r === 'number') return 1;
    return l < r ? -1 : 1;
  }
  return left.length - right.length;
}
