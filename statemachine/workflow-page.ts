import { join } from 'node:path';

/** The page that shows the workflow as a diagram, rendered from the definition. */
export const WORKFLOW_PAGE_PATH = join(import.meta.dirname, '..', 'docs', 'workflow.md');
