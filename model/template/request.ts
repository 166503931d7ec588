/**
 * Load-time rendering of one string of a request, with the rules of where things may appear.
 */
import { KEEP, renderTemplate, TemplateError } from './engine.ts';
import { HOST_FUNCTIONS, loadFunctions } from './functions.ts';
import { misplacedFieldMessage } from './host-fields.ts';
import type { HostField } from './host-fields.ts';

export interface RequestTemplateContext {
  now: Date;
  /**
   * `{{env}}` reads the environment of whoever renders the template. Only the requester's
   * machine (the ami-factory CLI) may do that; the factory's API loads requests with
   * allowEnv false so a request can never read, and so leak, the factory's own environment.
   */
  allowEnv: boolean;
  /** Passed in explicitly: the model never reads process.env itself. */
  env: Readonly<Record<string, string | undefined>>;
  user: (name: string) => string;
}

export interface Placement {
  /** Dot fields kept for the build host in this option. */
  hostFields: readonly HostField[];
  /** Packer renders `{{env}}` only in `variables` values; so do we. */
  inVariables: boolean;
}

export const PLAIN: Placement = { hostFields: [], inVariables: false };

const HOST_FUNCTION_NAMES: ReadonlySet<string> = new Set(HOST_FUNCTIONS.keys());

export function renderRequestTemplate(source: string, placement: Placement, context: RequestTemplateContext): string {
  // Most strings hold no action: skip the parser for them.
  if (!source.includes('{{')) return source;
  const functions = loadFunctions({
    now: context.now,
    user: (name) => context.user(name),
    env: (name) => {
      if (!placement.inVariables) {
        throw new TemplateError(
          'env can only be used in "variables" values (as in Packer): declare a variable such as ' +
            '"home": "{{env `HOME`}}" and use {{user `home`}} here',
        );
      }
      if (!context.allowEnv) {
        throw new TemplateError(
          'env is rendered only on the requesting machine (ami-factory CLI); the factory does not ' +
            'expose its own environment to requests: render the template with the CLI, or pass the ' +
            'value as a variable',
        );
      }
      return context.env[name] ?? '';
    },
  });
  return renderTemplate(source, {
    functions,
    keptFunctions: HOST_FUNCTION_NAMES,
    escapeOutput: placement.hostFields.length > 0,
    field: (name) => {
      if ((placement.hostFields as readonly string[]).includes(name)) return KEEP;
      throw new TemplateError(misplacedFieldMessage(name, placement.hostFields));
    },
  });
}
