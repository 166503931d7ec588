/**
 * API Gateway's request models come from the OpenAPI document: the committed files are what
 * `npm run render:request-models` makes from it now, and the deployment validates the bodies
 * with them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderRequestModels, REQUEST_MODELS_DIR, requestModel } from '../../scripts/request-models.ts';

const repo = join(import.meta.dirname, '..', '..');

describe('request models', () => {
  it.each(Object.entries(renderRequestModels()))('functions/request-models/%s is rendered from the current OpenAPI document', async (file, rendered) => {
    expect(await readFile(join(REQUEST_MODELS_DIR, file), 'utf8'), 'stale: run npm run render:request-models').toBe(rendered);
  });

  it('inlines the references and drops what draft 4 does not know', () => {
    const openApi = `
components:
  schemas:
    Body:
      type: object
      required: [inner]
      properties:
        inner: { $ref: '#/components/schemas/Inner' }
    Inner:
      type: string
      nullable: true
      example: x
`;
    expect(requestModel(openApi, 'Body')).toEqual({
      $schema: 'http://json-schema.org/draft-04/schema#',
      title: 'Body',
      type: 'object',
      required: ['inner'],
      properties: { inner: { type: 'string' } },
    });
  });

  it('is what serverless.yml gives the submit route', async () => {
    const serverless = await readFile(join(repo, 'serverless.yml'), 'utf8');
    expect(serverless).toContain('schema: ${file(./functions/request-models/submit-request.json)}');
  });
});
