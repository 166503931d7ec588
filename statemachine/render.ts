/**
 * Renders the build-image workflow from its description (build-image.ts) into
 * build-image.asl.json (and the distribute-image workflow into distribute-image.asl.json), the file the deployment and the local factory load, and
 * its diagram into docs/workflow.md. test/statemachine/rendering.test.ts fails when either
 * is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { buildImageDefinition, renderBuildImageDefinition } from './build-image.ts';
import { BUILD_IMAGE_DEFINITION_PATH, DISTRIBUTE_IMAGE_DEFINITION_PATH } from './definition.ts';
import { renderDistributeImageDefinition } from './distribute-image.ts';
import { withDiagram } from './diagram.ts';
import { WORKFLOW_PAGE_PATH } from './workflow-page.ts';

writeFileSync(BUILD_IMAGE_DEFINITION_PATH, renderBuildImageDefinition());
writeFileSync(DISTRIBUTE_IMAGE_DEFINITION_PATH, renderDistributeImageDefinition());
writeFileSync(WORKFLOW_PAGE_PATH, withDiagram(readFileSync(WORKFLOW_PAGE_PATH, 'utf8'), buildImageDefinition));
console.log(`rendered ${relative(process.cwd(), BUILD_IMAGE_DEFINITION_PATH)}, ${relative(process.cwd(), DISTRIBUTE_IMAGE_DEFINITION_PATH)} and the diagram in ${relative(process.cwd(), WORKFLOW_PAGE_PATH)}`);
