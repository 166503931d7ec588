/**
 * The API's response shapes are defined once, in contract/api.ts; the OpenAPI document
 * describes them to HTTP clients. These tests hold the two together: the same properties,
 * the same required ones, and the same nullable ones, for every response schema and for the
 * request bodies (contract/bundle.ts, contract/lifecycle.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OPENAPI_SCHEMAS } from '../../contract/api.ts';
import { BuildBundleSchema, SubmitBodySchema } from '../../contract/bundle.ts';
import { LifecycleRequestSchema } from '../../contract/lifecycle.ts';

interface OpenApiSchema {
  type?: string;
  required?: string[];
  properties?: Record<string, OpenApiSchema & { $ref?: string }>;
  nullable?: boolean;
  allOf?: OpenApiSchema[];
  $ref?: string;
}

const document = parse(await readFile(join(import.meta.dirname, '../../functions/openapi.yaml'), 'utf8')) as {
  components: { schemas: Record<string, OpenApiSchema> };
};

/** An OpenAPI object schema with `allOf` and `$ref`s folded into one list of properties. */
function flatten(schema: OpenApiSchema): { properties: Record<string, OpenApiSchema>; required: string[] } {
  if (schema.$ref !== undefined) return flatten(document.components.schemas[schema.$ref.split('/').pop() ?? ''] ?? {});
  const parts = [schema, ...(schema.allOf ?? []).map(flatten)];
  return {
    properties: Object.assign({}, ...parts.map((part) => part.properties ?? {})) as Record<string, OpenApiSchema>,
    required: parts.flatMap((part) => part.required ?? []).sort(),
  };
}

function shapeOfOpenApi(name: string): { properties: string[]; required: string[]; nullable: string[] } {
  const { properties, required } = flatten(document.components.schemas[name] ?? {});
  return {
    properties: Object.keys(properties).sort(),
    required,
    nullable: Object.entries(properties).filter(([, property]) => property.nullable === true).map(([key]) => key).sort(),
  };
}

function shapeOfContract(schema: z.ZodObject<Record<string, z.ZodType>>): { properties: string[]; required: string[]; nullable: string[] } {
  const entries = Object.entries(schema.shape);
  return {
    properties: entries.map(([key]) => key).sort(),
    required: entries.filter(([, field]) => !field.safeParse(undefined).success).map(([key]) => key).sort(),
    nullable: entries.filter(([, field]) => field.safeParse(null).success).map(([key]) => key).sort(),
  };
}

describe('the API contract and the OpenAPI document', () => {
  const schemas = { ...OPENAPI_SCHEMAS, SubmitRequest: SubmitBodySchema, BuildBundle: BuildBundleSchema, LifecycleRequest: LifecycleRequestSchema };
  it.each(Object.entries(schemas))('%s has the same properties in both', (name, schema) => {
    expect(document.components.schemas[name], `functions/openapi.yaml has no schema ${name}`).toBeDefined();
    expect(shapeOfContract(schema)).toEqual(shapeOfOpenApi(name));
  });
});
