/**
 * `ami-factory validate TEMPLATE`: check a template on the requester's machine the way the
 * factory will, and show what it would build. Exit 0 when valid, 2 with every error.
 */
import type { Command } from 'commander';
import {
  loadTemplateFile, loadVarFile, maskSensitive, maskSensitiveDeep, TemplateValidationError,
} from '../../model/index.ts';
import type { BuildRequest } from '../../model/index.ts';
import { collectNames, collectVar } from './shared-options.ts';
import { formatFieldErrors } from '../../contract/field-errors.ts';
import { COMMANDS } from '../command-catalog.ts';

interface ValidateOptions {
  var?: Record<string, string>;
  varFile?: string[];
  json?: boolean;
  only?: string[];
  except?: string[];
}

function describeSource(request: BuildRequest): string {
  const { builder } = request;
  if (builder.from_scratch) return 'from scratch';
  if (builder.source_ami !== undefined) return builder.source_ami;
  const filter = builder.source_ami_filter;
  if (filter === undefined) return '(none)';
  const filters = Object.entries(filter.filters).map(([name, value]) => `${name}=${value}`).join(', ');
  return `source_ami_filter (owners ${filter.owners.join(', ')}${filters ? `; ${filters}` : ''}${filter.most_recent ? '; most recent' : ''})`;
}

function summary(template: string, request: BuildRequest): string {
  const types = request.provisioners.map((provisioner) => provisioner.type);
  const lines = [
    `${template} is valid`,
    `  ami_name:       ${request.builder.ami_name}`,
    `  source:         ${describeSource(request)}`,
    `  provisioners:   ${types.length}${types.length > 0 ? ` (${types.join(', ')})` : ''}`,
    `  chroot_mounts:  ${request.builder.chroot_mounts.length}`,
  ];
  return maskSensitive(`${lines.join('\n')}\n`, request.sensitive_values);
}

async function load(template: string, options: ValidateOptions): Promise<BuildRequest> {
  let fileVars: Record<string, string> = {};
  for (const file of options.varFile ?? []) fileVars = { ...fileVars, ...(await loadVarFile(file)) };
  // The requester's own machine: the one place where {{env}} may read the environment.
  return loadTemplateFile(template, {
    vars: { ...fileVars, ...options.var }, allowEnv: true, env: process.env, cwd: process.cwd(), only: options.only, except: options.except,
  });
}

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .description(COMMANDS.validate.description)
    .argument('<template>', 'Packer JSON template with an amazon-chroot builder (or the builder object alone), or an HCL2 template (.pkr.hcl file or folder)')
    .option('--var <name=value>', 'set a template variable (repeatable; overrides --var-file)', collectVar)
    .option('--var-file <file>', 'JSON or .pkrvars.hcl file of variable values (repeatable)', (file: string, previous?: string[]) => [
      ...(previous ?? []),
      file,
    ])
    .option('--json', 'print the normalised build request as JSON (sensitive values masked)')
    .option('--only <names>', 'validate only the builder of this name or type (comma-separated, repeatable)', collectNames)
    .option('--except <names>', 'leave out the builders of these names or types (comma-separated, repeatable)', collectNames)
    .action(async (template: string, options: ValidateOptions, command: Command) => {
      const output = command.configureOutput();
      const write = (text: string): void => {
        if (output.writeOut) output.writeOut(text);
        else process.stdout.write(text);
      };
      let request: BuildRequest;
      try {
        request = await load(template, options);
      } catch (error) {
        if (!(error instanceof TemplateValidationError)) throw error;
        const count = error.errors.length;
        const lines = formatFieldErrors(error.errors);
        // Usage help after a list of template errors would bury them.
        command.showHelpAfterError(false);
        command.error(`${template}: ${count} error${count === 1 ? '' : 's'}\n${lines}`, {
          exitCode: 2,
          code: 'ami-factory.invalidTemplate',
        });
      }
      const warnings = request.warnings ?? [];
      if (warnings.length > 0) {
        // Packer's way: warnings on stderr, the template still valid (exit 0).
        const count = `${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
        const text = maskSensitive(`${template}: ${count}\n${formatFieldErrors(warnings)}\n`, request.sensitive_values);
        if (output.writeErr) output.writeErr(text);
        else process.stderr.write(text);
      }
      if (options.json) {
        write(`${JSON.stringify(maskSensitiveDeep(request, request.sensitive_values), null, 2)}\n`);
      } else {
        write(summary(template, request));
      }
    });
}
