/**
 * The definition is valid Amazon States Language once its placeholders are filled, and keeps
 * the properties the rest of the factory relies on (every failure after the claim cleans up,
 * every poll is bounded).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { BUILD_IMAGE_DEFINITION_PATH, loadBuildImageDefinition, placeholdersOf } from '../../statemachine/definition.ts';

/** asl-validator is CommonJS without type declarations: this is the part of it the tests use. */
type AslValidator = (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const CLAIMS_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-claims';

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Choices?: { Next: string }[];
  Default?: string;
  [field: string]: unknown;
}

function states(): Record<string, State> {
  return (JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL })) as { States: Record<string, State> }).States;
}

describe('build-image definition', () => {
  it('is valid Amazon States Language after substitution', () => {
    const definition: unknown = JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL }));
    const { isValid, errorsText } = aslValidator(definition);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('takes the claims queue URL as its only placeholder, in DefinitionSubstitutions syntax', () => {
    expect(placeholdersOf(readFileSync(BUILD_IMAGE_DEFINITION_PATH, 'utf8'))).toEqual(['ClaimsQueueUrl']);
    const claim = states()['Claim a host'];
    expect(claim?.Parameters).toMatchObject({ QueueUrl: CLAIMS_QUEUE_URL });
  });

  it('refuses to leave a placeholder unfilled', () => {
    expect(() => loadBuildImageDefinition({} as { ClaimsQueueUrl: string })).toThrow(/ClaimsQueueUrl/);
  });

  it('writes values as JSON string content', () => {
    const definition = loadBuildImageDefinition({ ClaimsQueueUrl: 'https://example.com/"quoted"\\' });
    const claim = (JSON.parse(definition) as { States: Record<string, State> }).States['Claim a host'];
    expect(claim?.Parameters).toMatchObject({ QueueUrl: 'https://example.com/"quoted"\\' });
  });

  it('sends every task failure after the claim to the clean-up chain, and clean-up goes on past its own', () => {
    const all = states();
    const cleanUp = new Set(['Clean up', 'Build failed?']);
    for (const [name, state] of Object.entries(all)) {
      if (state.Type !== 'Task' && state.Type !== 'Map') continue;
      const catchAll = state.Catch?.find((catcher) => catcher.ErrorEquals.includes('States.ALL'));
      expect(catchAll, `${name} catches States.ALL`).toBeDefined();
      if (name === 'Claim a host') {
        expect(catchAll?.Next, 'a failed claim has nothing to clean').toBe('Build failed?');
      } else if (name.endsWith('(clean-up)')) {
        expect(catchAll?.ResultPath, `${name} keeps the original error`).not.toBe('$.error');
      } else {
        expect(cleanUp.has(catchAll?.Next ?? ''), `${name} fails into clean-up`).toBe(true);
        expect(catchAll?.ResultPath).toBe('$.error');
      }
    }
  });

  it('bounds every poll loop by polling.maxAttempts', () => {
    const all = states();
    const waits = Object.entries(all).filter(([, state]) => state.Type === 'Wait');
    expect(waits.length).toBeGreaterThanOrEqual(6);
    for (const [name, wait] of waits) {
      expect(wait.SecondsPath, `${name} waits as long as the input says`).toMatch(/^\$\.polling\.(volume|attachment|snapshot|image)$/);
      // Wait -> count -> describe -> decide: the decision must compare the count with maxAttempts.
      const describe = all[all[wait.Next ?? '']?.Next ?? ''];
      const decision = all[describe?.Next ?? ''];
      expect(JSON.stringify(decision?.Choices), `${name} loop is bounded`).toContain('"NumericGreaterThanEqualsPath":"$.polling.maxAttempts"');
    }
  });

  it('calls EC2 only through aws-sdk integrations and the worker only through SQS', () => {
    const resources = new Set(
      JSON.stringify(JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL })))
        .match(/"Resource":"[^"]+"/g)
        ?.map((field) => field.slice('"Resource":"'.length, -1)),
    );
    for (const resource of resources) {
      expect(resource).toMatch(/^arn:aws:states:::(aws-sdk:ec2:[a-zA-Z]+|sqs:sendMessage(\.waitForTaskToken)?)$/);
    }
  });
});
