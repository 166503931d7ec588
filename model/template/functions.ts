/**
 * The template functions a request may use, evaluated once when the request is loaded:
 * `timestamp`, `isotime`, `uuid`, `clean_resource_name`, `user` and (in `variables` only)
 * `env`.
 */
import { randomUUID } from 'node:crypto';
import type { TemplateFunction } from './engine.ts';
import { cleanResourceName } from './clean-resource-name.ts';
import { formatGoTime, RFC3339_LAYOUT } from './go-time-layout.ts';

export { cleanResourceName };

/** Functions a build host can still evaluate: pure, same answer on every machine. */
export const HOST_FUNCTIONS: ReadonlyMap<string, TemplateFunction> = new Map([
  ['clean_resource_name', { minArgs: 1, maxArgs: 1, call: ([value]) => cleanResourceName(value ?? '') }],
]);

export interface LoadFunctionContext {
  /** The build's one instant: every `timestamp` and `isotime` of a request agrees. */
  now: Date;
  /** Value of a user variable, or a thrown TemplateError. */
  user: (name: string) => string;
  /** Value of an environment variable, or a thrown TemplateError where env is not allowed. */
  env: (name: string) => string;
}

export function loadFunctions(context: LoadFunctionContext): ReadonlyMap<string, TemplateFunction> {
  const functions = new Map<string, TemplateFunction>(HOST_FUNCTIONS);
  functions.set('timestamp', {
    minArgs: 0,
    maxArgs: 0,
    call: () => String(Math.floor(context.now.getTime() / 1000)),
  });
  functions.set('isotime', {
    minArgs: 0,
    maxArgs: 1,
    call: ([layout]) => formatGoTime(context.now, layout ?? RFC3339_LAYOUT),
  });
  functions.set('uuid', { minArgs: 0, maxArgs: 0, call: () => randomUUID() });
  functions.set('user', {
    minArgs: 1,
    maxArgs: 1,
    call: ([name]) => context.user(name ?? ''),
  });
  functions.set('env', {
    minArgs: 1,
    maxArgs: 1,
    call: ([name]) => context.env(name ?? ''),
  });
  return functions;
}
