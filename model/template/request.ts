/**
 * Load-time rendering of one string of a request, with the rules of where things may appear.
 */
import { KEEP, renderTemplate, TemplateError } from './engine.ts';
import { HOST_FUNCTIONS, loadFunctions } from './functions.ts';
import { isBuildDataField, misplacedFieldMessage } from './host-fields.ts';
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
  /** A variable's value; undefined for a variable the template does not declare. */
  user: (name: string) => string | undefined;
  /** The requester's directories for `pwd` and `template_dir` (only where allowEnv). */
  directories?: { pwd?: string; template_dir?: string };
  /** The builder's name, for `build_name`. */
  buildName?: string;
  /** Where warnings go; set per rendered string so each warning has its field path. */
  warn?: (message: string) => void;
}

export interface Placement {
  /** Dot fields kept for the build host in this option. */
  hostFields: readonly HostField[];
  /** Packer renders `{{env}}` only in `variables` values; so do we. */
  inVariables: boolean;
  /**
   * Build data (`{{ .SourceAMI }}`, `{{ .BuildRegion }}`, ...) is kept for the submit, which
   * renders it once the source image is known (Packer's BuildInfoTemplate options).
   */
  buildData?: boolean;
}

export const PLAIN: Placement = { hostFields: [], inVariables: false };

const HOST_FUNCTION_NAMES: ReadonlySet<string> = new Set(HOST_FUNCTIONS.keys());

export function renderRequestTemplate(source: string, placement: Placement, context: RequestTemplateContext): string {
  // Most strings hold no action: skip the parser for them.
  if (!source.includes('{{')) return source;
  const warn = context.warn ?? ((): void => undefined);
  const requesterOnly = (what: string): void => {
    if (!placement.inVariables) {
      throw new TemplateError(
        `${what} can only be used in "variables" values: it reads the requesting machine, whose value ` +
          'travels as the variable\'s (declare a variable and use {{user `name`}} here)',
      );
    }
    if (!context.allowEnv) throw new TemplateError(`${what} is rendered only on the requesting machine (ami-factory CLI)`);
  };
  const functions = loadFunctions({
    now: context.now,
    buildName: context.buildName ?? 'amazon-chroot',
    warn,
    user: (name) => {
      const value = context.user(name);
      if (value !== undefined) return value;
      // Packer: "" outside `variables`, where templates (Spinnaker's Rosco) rely on it.
      warn(`user variable "${name}" is not declared in "variables": it renders as "" (as in Packer)`);
      return '';
    },
    directory: (which) => {
      requesterOnly(which);
      const value = context.directories?.[which];
      if (value === undefined) throw new TemplateError(`${which} is not available here`);
      return value;
    },
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
    escapeOutput: placement.hostFields.length > 0 ? true : placement.buildData === true ? 'if-kept' : false,
    field: (name) => {
      if ((placement.hostFields as readonly string[]).includes(name)) return KEEP;
      if (placement.buildData === true && isBuildDataField(name)) return KEEP;
      throw new TemplateError(misplacedFieldMessage(name, placement.hostFields));
    },
  });
}
