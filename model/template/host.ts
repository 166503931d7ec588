/**
 * The build host's half of rendering: fills the dot fields a loaded request kept
 * (`{{.Device}}`, `{{.MountPath}}`, `{{.Command}}`, `{{.Vars}}`, `{{.Path}}`).
 */
import { renderTemplate, TemplateError } from './engine.ts';
import { HOST_FUNCTIONS } from './functions.ts';

/** Throws TemplateError for a field not in `fields` or a function the host does not have. */
export function renderHostTemplate(template: string, fields: Record<string, string>): string {
  return renderTemplate(template, {
    functions: HOST_FUNCTIONS,
    keptFunctions: new Set(),
    escapeOutput: false,
    field: (name) => {
      const value = fields[name];
      if (value === undefined || !Object.hasOwn(fields, name)) {
        const known = Object.keys(fields).map((field) => `{{.${field}}}`).join(', ');
        throw new TemplateError(`{{.${name}}} has no value here${known ? ` (given: ${known})` : ''}`);
      }
      return value;
    },
  });
}

/**
 * The submit's half for build data (`{{ .SourceAMI }}`, `{{ .SourceAMITags.Name }}`, ...):
 * a tag the source image lacks renders "" (Packer prints "<no value>"). Throws TemplateError.
 */
export function renderBuildData(template: string, fields: Readonly<Record<string, string>>): string {
  // Most strings hold no action: skip the parser for them.
  if (!template.includes('{{')) return template;
  return renderTemplate(template, {
    functions: HOST_FUNCTIONS,
    keptFunctions: new Set(),
    escapeOutput: false,
    field: (name) => {
      if (Object.hasOwn(fields, name)) return fields[name] as string;
      if (name.startsWith('SourceAMITags.')) return '';
      throw new TemplateError(`{{.${name}}} has no value at submit`);
    },
  });
}
