/**
 * Which of a template's builders this request builds, as Packer's `-only` / `-except`
 * choose them: by build name (the builder's `name`, else its type) or by type. The factory
 * builds one amazon-chroot image per request, so other builder types are ignored unless
 * chosen (then refused), and several chroot builders need a choice.
 */
import type { Issues } from './errors.ts';
import { joinPath } from '../contract/field-errors.ts';
import { BUILDER_TYPE } from './builder.ts';
import { isPlainObject } from './schema/fields.ts';

/** What the requester chose (`--only`, `--except`); each a list of names or types. */
export interface BuildSelection {
  only?: readonly string[];
  except?: readonly string[];
}

/** One entry of `builders`, named as Packer names its build. */
export interface TemplateBuild {
  index: number;
  path: string;
  name: string;
  /** Undefined when the entry has no string type. */
  type: string | undefined;
  raw: unknown;
}

export function templateBuilds(builders: readonly unknown[]): TemplateBuild[] {
  return builders.map((raw, index) => {
    const type = isPlainObject(raw) && typeof raw.type === 'string' && raw.type !== '' ? raw.type : undefined;
    const name = isPlainObject(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name : type ?? '';
    return { index, path: joinPath('builders', index), name, type, raw };
  });
}

/** A build's name wins over a type of the same spelling, so a name always picks exactly one build. */
const matches = (build: TemplateBuild, patterns: readonly string[], builds: readonly TemplateBuild[]): boolean =>
  patterns.some((pattern) => (builds.some((any) => any.name === pattern) ? build.name === pattern : build.type === pattern));

const describe = (builds: readonly TemplateBuild[]): string =>
  builds.length === 0 ? 'none' : builds.map((build) => (build.type === undefined || build.name === build.type ? `"${build.name}"` : `"${build.name}" (${build.type})`)).join(', ');

/**
 * The one amazon-chroot build chosen, or undefined with every problem in `issues`:
 * duplicate names, selection names no builder has, a chosen builder of another type, none
 * or several chroot builders left.
 */
export function chooseBuild(builds: readonly TemplateBuild[], selection: BuildSelection, issues: Issues): TemplateBuild | undefined {
  const before = issues.count;
  const seen = new Map<string, TemplateBuild>();
  for (const build of builds) {
    if (build.type === undefined) {
      issues.add(joinPath(build.path, 'type'), `type is required ("${BUILDER_TYPE}")`);
      continue;
    }
    const other = seen.get(build.name);
    if (other) issues.add(build.path, `build name "${build.name}" is also ${other.path}'s: give each builder a unique "name"`);
    seen.set(build.name, build);
  }
  const { only = [], except = [] } = selection;
  for (const [flag, patterns] of [['--only', only], ['--except', except]] as const) {
    for (const pattern of patterns) {
      if (!builds.some((build) => matches(build, [pattern], builds))) {
        issues.add(flag, `no builder is named or of type "${pattern}"; this template's builds: ${describe(builds)}`);
      }
    }
  }
  const chosen = builds.filter((build) => build.type !== undefined && (only.length === 0 || matches(build, only, builds)) && !matches(build, except, builds));
  if (only.length > 0) {
    for (const build of chosen) {
      if (build.type !== BUILDER_TYPE) {
        issues.add(
          joinPath(build.path, 'type'),
          `builder type "${build.type ?? ''}" is not supported (chosen by --only "${build.name}"): the factory runs only "${BUILDER_TYPE}" builders`,
        );
      }
    }
  }
  const chroot = chosen.filter((build) => build.type === BUILDER_TYPE);
  const by = only.length > 0 || except.length > 0 ? ' left by --only/--except' : '';
  if (chroot.length === 0 && issues.count === before) {
    issues.add('builders', `no "${BUILDER_TYPE}" builder${by}: the factory runs only "${BUILDER_TYPE}" builders (builds: ${describe(builds)})`);
  } else if (chroot.length > 1) {
    issues.add(
      'builders',
      `${chroot.length} "${BUILDER_TYPE}" builders${by} (${describe(chroot)}): the factory builds one image per request; choose one with --only NAME`,
    );
  }
  return chroot.length === 1 ? chroot[0] : undefined;
}
