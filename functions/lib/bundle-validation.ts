/**
 * A build bundle checked by the model, as every start checks it (start-build.ts) and as the
 * volume pool tender plans a family's next volume (volume-pool-tender.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildBundle } from '../../contract/bundle.ts';
import { loadBundle } from '../../model/bundle.ts';
import { TemplateValidationError, type BuildRequest } from '../../model/index.ts';
import { ProblemError } from './http.ts';

/** The model's own validation, run on the bundle's files in a fresh directory. */
export async function validateBundle(bundle: BuildBundle): Promise<BuildRequest> {
  const workDir = await mkdtemp(join(tmpdir(), 'bundle-'));
  try {
    return await loadBundle(bundle, workDir);
  } catch (error) {
    if (error instanceof TemplateValidationError) {
      throw new ProblemError(400, 'InvalidTemplate', `the template has ${error.errors.length} error(s)`, error.errors);
    }
    throw error;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

