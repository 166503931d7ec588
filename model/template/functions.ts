/**
 * The template functions a request may use, evaluated once when the request is loaded:
 * Packer's (packer-plugin-sdk template/interpolate) with the same arguments and results.
 * What the factory does differently, on purpose: `env`, `pwd` and `template_dir` read the
 * requester's machine, so only `variables` values may use them (their values travel as the
 * variables'); secret stores (`vault`, `consul_key`, `aws_secretsmanager`) are refused.
 */
import { randomUUID } from 'node:crypto';
import type { TemplateFunction } from './engine.ts';
import { TemplateError } from './parse.ts';
import { cleanResourceName } from './clean-resource-name.ts';
import { formatGoTime, RFC3339_LAYOUT } from './go-time-layout.ts';
import { strftime } from './strftime.ts';

export { cleanResourceName };

/** The Packer release whose template semantics the factory follows: `{{packer_version}}`. */
export const PACKER_VERSION = '1.11.2';

/** Go's strconv.Atoi, for the functions that take an int (text/template converts numbers). */
function integerArgument(name: string, value: string): number {
  if (!/^[+-]?\d+$/.test(value)) throw new TemplateError(`${name} needs a whole number here, got "${value}"`);
  return Number(value);
}

/** Go's strings.Replace: at most `count` replacements, all of them when count < 0. */
function replaceCount(source: string, old: string, replacement: string, count: number): string {
  if (count < 0) return source.replaceAll(old, replacement);
  let out = source;
  let from = 0;
  for (let done = 0; done < count; done++) {
    const at = out.indexOf(old, from);
    if (at < 0) break;
    out = out.slice(0, at) + replacement + out.slice(at + old.length);
    from = at + replacement.length + (old === '' ? 1 : 0);
  }
  return out;
}

/** Go's strings.Split, whose empty separator splits into UTF-8 sequences (characters here). */
function goSplit(source: string, separator: string): string[] {
  return separator === '' ? Array.from(source) : source.split(separator);
}

/**
 * The one form of old Packer's `sed` templates used: `s/REGEX/REPLACEMENT/` with an optional
 * `g`, any delimiter. Anything else is refused rather than guessed.
 */
function sed(expression: string, input: string): string {
  const delimiter = expression[1];
  const parts = delimiter === undefined ? [] : expression.slice(2).split(delimiter);
  if (expression[0] !== 's' || parts.length !== 3 || !/^g?$/.test(parts[2] as string)) {
    throw new TemplateError(`sed supports only "s/REGEX/REPLACEMENT/" (with an optional g), got "${expression}"`);
  }
  let pattern: RegExp;
  try {
    pattern = new RegExp(parts[0] as string, parts[2] as string);
  } catch (error) {
    throw new TemplateError(`sed: ${(error as Error).message}`);
  }
  // sed's \1 back-references are JavaScript's $1.
  return input.replace(pattern, (parts[1] as string).replace(/\\(\d)/g, '$$$1'));
}

/**
 * Functions a build host (and the submit, for build data) can still evaluate: pure, same
 * answer on every machine.
 */
export const HOST_FUNCTIONS: ReadonlyMap<string, TemplateFunction> = new Map<string, TemplateFunction>([
  ['clean_resource_name', { minArgs: 1, maxArgs: 1, call: ([value]) => cleanResourceName(value ?? '') }],
  ['upper', { minArgs: 1, maxArgs: 1, call: ([value]) => (value ?? '').toUpperCase() }],
  ['lower', { minArgs: 1, maxArgs: 1, call: ([value]) => (value ?? '').toLowerCase() }],
  // {{replace_all OLD NEW SOURCE}}, usually piped: {{.SourceAMIName | replace_all "." "-"}}.
  ['replace_all', { minArgs: 3, maxArgs: 3, call: ([old, replacement, source]) => (source ?? '').replaceAll(old ?? '', replacement ?? '') }],
  [
    'replace',
    {
      minArgs: 4,
      maxArgs: 4,
      call: ([old, replacement, count, source]) => replaceCount(source ?? '', old ?? '', replacement ?? '', integerArgument('replace', count ?? '')),
    },
  ],
  [
    'split',
    {
      minArgs: 3,
      maxArgs: 3,
      call: ([source, separator, index]) => {
        const parts = goSplit(source ?? '', separator ?? '');
        const i = integerArgument('split', index ?? '');
        const part = parts[i];
        if (i < 0 || part === undefined) {
          throw new TemplateError(`the substring ${i} was unavailable using the separator value, ${separator ?? ''}, only ${parts.length} values were found`);
        }
        return part;
      },
    },
  ],
]);

/** Packer's secret-store functions: the factory keeps secrets its own way. */
const SECRET_STORE_FUNCTIONS = ['vault', 'consul_key', 'aws_secretsmanager', 'aws_secretsmanager_raw'];

function secretStoreRefusal(name: string): TemplateError {
  return new TemplateError(
    `${name} is not supported: the factory never reads a secret store on a template's behalf. Declare the ` +
      'value as a variable, list it in "sensitive-variables" and pass it with --var: the factory keeps ' +
      'sensitive variables per build in AWS Secrets Manager and masks them in every log (README, "Teams and access")',
  );
}

export interface LoadFunctionContext {
  /** The build's one instant: every `timestamp`, `isotime` and `strftime` of a request agrees. */
  now: Date;
  /** Value of a user variable, or a thrown TemplateError. */
  user: (name: string) => string;
  /** Value of an environment variable, or a thrown TemplateError where env is not allowed. */
  env: (name: string) => string;
  /** `pwd` and `template_dir`: the requester's directories, or a thrown TemplateError. */
  directory: (which: 'pwd' | 'template_dir') => string;
  /** The builder's name and type, for `build_name` and `build_type`. */
  buildName: string;
  /** Records a warning (a deprecated function) at the string being rendered. */
  warn: (message: string) => void;
}

export function loadFunctions(context: LoadFunctionContext): ReadonlyMap<string, TemplateFunction> {
  const functions = new Map<string, TemplateFunction>(HOST_FUNCTIONS);
  const constant = (value: () => string): TemplateFunction => ({ minArgs: 0, maxArgs: 0, call: () => value() });
  functions.set('timestamp', constant(() => String(Math.floor(context.now.getTime() / 1000))));
  functions.set('isotime', {
    minArgs: 0,
    maxArgs: 1,
    call: ([layout]) => formatGoTime(context.now, layout ?? RFC3339_LAYOUT),
  });
  functions.set('strftime', { minArgs: 1, maxArgs: 1, call: ([format]) => strftime(format ?? '', context.now) });
  functions.set('uuid', constant(() => randomUUID()));
  functions.set('build_name', constant(() => context.buildName));
  functions.set('build_type', constant(() => 'amazon-chroot'));
  functions.set('packer_version', constant(() => PACKER_VERSION));
  functions.set('pwd', constant(() => context.directory('pwd')));
  functions.set('template_dir', constant(() => context.directory('template_dir')));
  functions.set('user', { minArgs: 1, maxArgs: 1, call: ([name]) => context.user(name ?? '') });
  functions.set('env', { minArgs: 1, maxArgs: 1, call: ([name]) => context.env(name ?? '') });
  functions.set('clean_ami_name', {
    minArgs: 1,
    maxArgs: 1,
    call: ([value]) => {
      context.warn('clean_ami_name is deprecated (as in Packer): use clean_resource_name, which it now is');
      return cleanResourceName(value ?? '');
    },
  });
  functions.set('sed', {
    minArgs: 2,
    maxArgs: 2,
    call: ([expression, input]) => {
      context.warn('sed is deprecated (Packer now refuses it): use replace or replace_all');
      return sed(expression ?? '', input ?? '');
    },
  });
  functions.set('build', {
    minArgs: 1,
    maxArgs: 1,
    call: () => {
      throw new TemplateError(
        'build (a build\'s generated data) is not supported: ami_description and the tag options take ' +
          '{{ .SourceAMI }}, {{ .SourceAMIName }}, {{ .BuildRegion }} and the like instead',
      );
    },
  });
  for (const name of SECRET_STORE_FUNCTIONS) {
    functions.set(name, { minArgs: 0, maxArgs: 2, call: () => { throw secretStoreRefusal(name); } });
  }
  return functions;
}
