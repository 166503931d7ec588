/**
 * build-image.asl.json and the diagram in docs/workflow.md are rendered from the workflow's
 * description (statemachine/build-image.ts): both must match it, or a deployment would run
 * something other than what the description and the docs say.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildImageDefinition, renderBuildImageDefinition } from '../../statemachine/build-image.ts';
import { BUILD_IMAGE_DEFINITION_PATH, DISTRIBUTE_IMAGE_DEFINITION_PATH } from '../../statemachine/definition.ts';
import { renderDistributeImageDefinition } from '../../statemachine/distribute-image.ts';
import { DIAGRAM_END, DIAGRAM_START, mermaidOf, withDiagram } from '../../statemachine/diagram.ts';
import { WORKFLOW_PAGE_PATH } from '../../statemachine/workflow-page.ts';

const STALE = 'stale: run npm run render:workflow';

describe('the rendered workflow', () => {
  it('build-image.asl.json is the rendering of build-image.ts', () => {
    expect(readFileSync(BUILD_IMAGE_DEFINITION_PATH, 'utf8'), STALE).toBe(renderBuildImageDefinition());
  });

  it('distribute-image.asl.json is the rendering of distribute-image.ts', () => {
    expect(readFileSync(DISTRIBUTE_IMAGE_DEFINITION_PATH, 'utf8'), STALE).toBe(renderDistributeImageDefinition());
  });

  it('docs/workflow.md shows the diagram of build-image.ts', () => {
    const page = readFileSync(WORKFLOW_PAGE_PATH, 'utf8');
    expect(page, STALE).toBe(withDiagram(page, buildImageDefinition));
  });

  it('draws every state once and every transition but the catches', () => {
    const chart = mermaidOf(buildImageDefinition);
    const names = Object.keys(buildImageDefinition.States);
    for (const [index, name] of names.entries()) expect(chart, name).toContain(`  s${index}`);
    expect(chart).toContain('s0["Claim a host"]');
    expect(chart).toMatch(/\{"Anything to set in the build region\?"\}/);
    expect(chart).toMatch(/\["Wait for the snapshot"\]/);
    expect(chart).toMatch(/-->\|"otherwise"\|/);
    expect(chart).toMatch(/\(\["Build failed"\]\)/);
  });

  it('refuses a page without the diagram\'s markers', () => {
    expect(() => withDiagram('# no markers here\n', buildImageDefinition)).toThrow(DIAGRAM_START);
    expect(DIAGRAM_END).toMatch(/^<!--.*-->$/);
  });
});
