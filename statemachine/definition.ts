/**
 * The build-image workflow's definition (build-image.asl.json, rendered from build-image.ts
 * and committed, so the deployment reads the same file) with its deployment values filled in. Placeholders use CloudFormation's DefinitionSubstitutions syntax, `${Name}`, so
 * a deployment can hand the same file to CloudFormation; the local factory and the tests fill
 * them here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUILD_IMAGE_DEFINITION_PATH = join(import.meta.dirname, 'build-image.asl.json');
export const DISTRIBUTE_IMAGE_DEFINITION_PATH = join(import.meta.dirname, 'distribute-image.asl.json');

/** Values that differ per deployment. The host queues come from each claim's answer. */
export interface BuildImageSubstitutions {
  /** The shared queue that hosts with a free slot pull claim tasks from. */
  ClaimsQueueUrl: string;
  /** The queue the regional-call function reads: EC2 calls in other regions and accounts. */
  RegionalCallsQueueUrl: string;
  /** The queue the resource-waits function reads: the workflow's waits for volumes, snapshots and images. */
  ResourceWaitsQueueUrl: string;
  /** The queue the volume pool tender reads: a build that took a pooled volume asks for a refill. */
  VolumePoolsQueueUrl: string;
  /**
   * The bus the workflow publishes Build Started and Build Succeeded on (a name or an ARN);
   * the account's `default` bus unless the deployment names another.
   */
  EventBusName?: string;
}

export const DEFAULT_EVENT_BUS_NAME = 'default';

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/**
 * Returns the definition as a string, ready for CreateStateMachine. Fails on a placeholder
 * without a value, so a definition that names a new one cannot reach a deployment half filled.
 */
export function loadBuildImageDefinition(substitutions: BuildImageSubstitutions): string {
  return substitute(readFileSync(BUILD_IMAGE_DEFINITION_PATH, 'utf8'), { ...substitutions, EventBusName: substitutions.EventBusName ?? DEFAULT_EVENT_BUS_NAME });
}

/** The distribute-image workflow's definition, filled in as the build-image one. */
export function loadDistributeImageDefinition(substitutions: Omit<BuildImageSubstitutions, 'ClaimsQueueUrl' | 'ResourceWaitsQueueUrl' | 'VolumePoolsQueueUrl'>): string {
  return substitute(readFileSync(DISTRIBUTE_IMAGE_DEFINITION_PATH, 'utf8'), { ...substitutions, EventBusName: substitutions.EventBusName ?? DEFAULT_EVENT_BUS_NAME });
}

/** The placeholders a definition uses, in order of first use. */
export function placeholdersOf(definition: string): string[] {
  return [...new Set(Array.from(definition.matchAll(PLACEHOLDER), (match) => match[1] ?? ''))];
}

function substitute(definition: string, values: Record<string, string>): string {
  const missing = placeholdersOf(definition).filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    throw new Error(`no value for the definition's placeholders: ${missing.join(', ')}`);
  }
  // Placeholders sit inside JSON strings: a value is written as JSON string content.
  return definition.replace(PLACEHOLDER, (_match, name: string) => JSON.stringify(values[name] ?? '').slice(1, -1));
}
