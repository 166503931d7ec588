/**
 * The request bodies API Gateway validates before a handler runs, taken from the OpenAPI
 * document (functions/openapi.yaml) so the two cannot drift: each model is the document's
 * schema with its `$ref`s inlined, as JSON Schema draft 4 (what API Gateway models are).
 * `npm run render:request-models` writes them; serverless.yml reads the files, and a test
 * fails when one is stale.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export const REQUEST_MODELS_DIR = join(import.meta.dirname, '..', 'functions', 'request-models');

/** Model file name -> the OpenAPI schema it is made from. */
export const REQUEST_MODELS: Readonly<Record<string, string>> = { 'submit-request.json': 'SubmitRequest', 'lifecycle-request.json': 'LifecycleRequest', 'distribution-request.json': 'DistributionRequest' };

type Schema = Record<string, unknown>;

/** OpenAPI 3.0 keywords that JSON Schema draft 4 does not have. */
const OPENAPI_ONLY = new Set(['example', 'nullable', 'readOnly', 'writeOnly', 'discriminator', 'xml', 'externalDocs', 'deprecated']);

function inline(value: unknown, schemas: Record<string, Schema>, seen: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => inline(item, schemas, seen));
  if (value === null || typeof value !== 'object') return value;
  const object = value as Schema;
  const ref = object.$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    if (seen.includes(name)) throw new Error(`schema ${name} refers to itself: API Gateway models cannot`);
    const target = schemas[name];
    if (target === undefined) throw new Error(`no schema ${name} in the OpenAPI document`);
    return inline(target, schemas, [...seen, name]);
  }
  return Object.fromEntries(
    Object.entries(object)
      .filter(([key]) => !OPENAPI_ONLY.has(key))
      .map(([key, item]) => [key, inline(item, schemas, seen)]),
  );
}

export function requestModel(openApiText: string, schemaName: string): Schema {
  const document = parse(openApiText) as { components: { schemas: Record<string, Schema> } };
  const schema = document.components.schemas[schemaName];
  if (schema === undefined) throw new Error(`no schema ${schemaName} in the OpenAPI document`);
  return { $schema: 'http://json-schema.org/draft-04/schema#', title: schemaName, ...(inline(schema, document.components.schemas, [schemaName]) as Schema) };
}

export function renderRequestModels(): Record<string, string> {
  const openApi = readFileSync(join(import.meta.dirname, '..', 'functions', 'openapi.yaml'), 'utf8');
  return Object.fromEntries(Object.entries(REQUEST_MODELS).map(([file, name]) => [file, `${JSON.stringify(requestModel(openApi, name), null, 2)}\n`]));
}
