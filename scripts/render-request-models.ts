/** Writes API Gateway's request models from the OpenAPI document (scripts/request-models.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderRequestModels, REQUEST_MODELS_DIR } from './request-models.ts';

for (const [file, text] of Object.entries(renderRequestModels())) {
  writeFileSync(join(REQUEST_MODELS_DIR, file), text);
  console.log(`rendered functions/request-models/${file}`);
}
