/**
 * The definition is valid Amazon States Language once its placeholders are filled, and keeps
 * the properties the rest of the factory relies on (every failure fails the execution with its
 * own error and leaves the undoing to the clean-up function, every poll is bounded, every path
 * reads the same on every engine).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { BUILD_IMAGE_DEFINITION_PATH, loadBuildImageDefinition, placeholdersOf } from '../../statemachine/definition.ts';

/** asl-validator is CommonJS without type declarations: this is the part of it the tests use. */
type AslValidator = (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

const CLAIMS_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-claims';
const REGIONAL_CALLS_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-regional-calls';
const RESOURCE_WAITS_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-resource-waits';
const VOLUME_POOLS_QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/ami-factory-volume-pools';

interface State {
  Type: string;
  Resource?: string;
  Next?: string;
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Choices?: { Next: string }[];
  Default?: string;
  [field: string]: unknown;
}

/** Where a state can go next: Next, Default, each Choice's and each Catch's. */
function targets(state: State): string[] {
  return [state.Next, state.Default, ...(state.Choices ?? []).map((choice) => choice.Next), ...(state.Catch ?? []).map((catcher) => catcher.Next)].filter(
    (name): name is string => name !== undefined,
  );
}

/** The states reachable from Build failed?: what every failure runs. */
function failureStates(all: Record<string, State>): Set<string> {
  const found = new Set<string>();
  const queue = ['Build failed?'];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (found.has(name) || all[name] === undefined) continue;
    found.add(name);
    queue.push(...targets(all[name]));
  }
  return found;
}

/** The pool's states whose failure sends the build on without the pool, and where. */
const POOL_MISSES: Record<string, string> = {
  'Look for a pooled volume': 'Which volume?',
  'Attach the pooled volume': 'Look again for a pooled volume',
  'Look again for a pooled volume': 'Which volume?',
  'Attach another pooled volume': 'Which volume?',
  'Ask for a refill': 'Provision on the host',
};

function states(): Record<string, State> {
  return (JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL, RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL })) as { States: Record<string, State> }).States;
}

describe('build-image definition', () => {
  it('is valid Amazon States Language after substitution', () => {
    const definition: unknown = JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL, RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL }));
    const { isValid, errorsText } = aslValidator(definition);
    expect(errorsText('\n')).toBe('');
    expect(isValid).toBe(true);
  });

  it('takes the claims queue URL, the event bus and the regional-calls queue URL as its placeholders, in DefinitionSubstitutions syntax', () => {
    expect(placeholdersOf(readFileSync(BUILD_IMAGE_DEFINITION_PATH, 'utf8'))).toEqual(['ClaimsQueueUrl', 'EventBusName', 'VolumePoolsQueueUrl', 'ResourceWaitsQueueUrl', 'RegionalCallsQueueUrl']);
    const claim = states()['Claim a host'];
    expect(claim?.Parameters).toMatchObject({ QueueUrl: CLAIMS_QUEUE_URL });
  });

  it('publishes its events on the named bus, the default one when none is named', () => {
    const busesOf = (definition: string): unknown[] =>
      Object.values((JSON.parse(definition) as { States: Record<string, State> }).States)
        .filter((state) => state.Resource === 'arn:aws:states:::events:putEvents')
        .map((state) => (state.Parameters as { Entries: { EventBusName: unknown; Source: unknown }[] }).Entries.map((entry) => [entry.EventBusName, entry.Source]));
    // Build Started, Build Distributed, Build Succeeded.
    expect(busesOf(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL, RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL, EventBusName: 'factory-events' }))).toEqual(
      Array.from({ length: 3 }, () => [['factory-events', 'ami-factory']]),
    );
    expect(busesOf(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL, RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL }))).toEqual(
      Array.from({ length: 3 }, () => [['default', 'ami-factory']]),
    );
  });

  it('retries an announcement with backoff and goes on without it: an event never fails a build', () => {
    const all = states();
    for (const [name, next] of [
      ['Announce the start', 'Hand the secret to the host?'],
      ['Announce the success', 'Build succeeded'],
    ] as const) {
      const state = all[name];
      expect(state?.Retry, name).toEqual([{ ErrorEquals: ['States.ALL'], IntervalSeconds: 1, MaxAttempts: 4, BackoffRate: 2, JitterStrategy: 'FULL' }]);
      expect(state?.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.unpublishedEvent', Next: next }]);
      expect(state?.Next, name).toBe(next);
    }
  });

  it('refuses to leave a placeholder unfilled', () => {
    expect(() => loadBuildImageDefinition({} as { ClaimsQueueUrl: string; RegionalCallsQueueUrl: string; ResourceWaitsQueueUrl: string; VolumePoolsQueueUrl: string })).toThrow(/ClaimsQueueUrl/);
  });

  it('writes values as JSON string content', () => {
    const definition = loadBuildImageDefinition({ ClaimsQueueUrl: 'https://example.com/"quoted"\\', RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL });
    const claim = (JSON.parse(definition) as { States: Record<string, State> }).States['Claim a host'];
    expect(claim?.Parameters).toMatchObject({ QueueUrl: 'https://example.com/"quoted"\\' });
  });

  it('sends every Task and Map failure, and every failure the workflow detects, to the failure states, which undo nothing', () => {
    const all = states();
    const failure = failureStates(all);
    expect([...failure].sort()).toEqual(['Build failed', 'Build failed?', 'Give the error a cause', 'Rename the Step Functions error', 'Step Functions error?']);
    for (const name of failure) expect(all[name]?.Type, `${name} calls nothing: the clean-up function undoes`).not.toBe('Task');
    for (const [name, state] of Object.entries(all)) {
      // Announcements go on whatever happens (the next test): an event never fails a build.
      // skip_save_build_region's removal of the build region's image comes once every copy is
      // available: failing the build then would have clean-up remove the good copies too, so
      // the image is kept and reported instead.
      if (name === 'Deregister the build region image' || name === 'Delete the build region snapshot') {
        expect(state.Catch?.[0]?.Next, name).not.toBe('Build failed?');
        continue;
      }
      // A pool miss is no failure (the next test): the build creates its own volume. A refused
      // snapshot waits for the account's room first (the resource-waits function decides).
      if (POOL_MISSES[name] !== undefined) continue;
      if (name === 'Create snapshot') {
        expect(state.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.snapshotRefusal', Next: 'Wait for snapshot capacity' }]);
        continue;
      }
      if ((state.Type === 'Task' && state.Resource !== 'arn:aws:states:::events:putEvents') || state.Type === 'Map') {
        expect(state.Catch, `${name} catches everything into Build failed?`).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Build failed?' }]);
      }
      const raised = (state.Parameters as { Error?: string } | undefined)?.Error;
      if (state.Type === 'Pass' && raised !== undefined) expect(state.Next, `${name} fails the build`).toBe('Build failed?');
    }
  });

  it('takes a pooled volume only by one attach, never retried, and goes on without the pool on any miss', () => {
    const all = states();
    for (const [name, next] of Object.entries(POOL_MISSES)) {
      expect(all[name]?.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: next === 'Provision on the host' ? null : '$.poolMiss', Next: next }]);
    }
    // A late retry could attach the volume after its build detached it again.
    for (const attach of ['Attach the pooled volume', 'Attach another pooled volume']) {
      expect(all[attach]?.Retry, attach).toBeUndefined();
      expect(all[attach]?.Next, attach).toBe('Take the pooled volume');
    }
    expect(all['Take the pooled volume']?.Catch?.[0]?.Next).toBe('Build failed?');
    expect((all['Ask for a refill']?.Parameters as { QueueUrl?: string }).QueueUrl).toBe(VOLUME_POOLS_QUEUE_URL);
  });

  it('raises the workflow\'s own errors by their documented names', () => {
    const raised = Object.values(states())
      .map((state) => (state.Parameters as { Error?: unknown } | undefined)?.Error)
      .filter((error) => typeof error === 'string');
    // A wait's errors (VolumeNotAvailable, SnapshotNotCompleted...) are the resource-waits function's to raise: contract/resource-wait.ts.
    expect(raised.sort()).toEqual(
      ['NothingToShare', 'UnsupportedImageOptions'].map((name) => `AmiFactory.${name}`),
    );
  });

  it('waits for its volumes, snapshot and image through the resource-waits queue, each wait bounded by polling.maxAttempts and paced by its polling interval', () => {
    const all = states();
    const waits = Object.entries(all).filter(([, state]) => (state.Parameters as { QueueUrl?: string } | undefined)?.QueueUrl === RESOURCE_WAITS_QUEUE_URL);
    expect(waits.map(([name]) => name)).toEqual(['Wait for the new volume', 'Wait for snapshot capacity', 'Wait for the volume to detach', 'Wait for the snapshot', 'Wait for the image']);
    for (const [name, wait] of waits) {
      expect(wait.Resource, name).toBe('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
      const body = (wait.Parameters as { MessageBody: Record<string, unknown> }).MessageBody;
      expect(body['intervalSeconds.$'], `${name} is paced by the input`).toMatch(/^\$\.polling\.(volume|attachment|snapshot|image)$/);
      expect(body['maxAttempts.$'], `${name} is bounded`).toBe('$.polling.maxAttempts');
      expect(body['taskToken.$']).toBe('$$.Task.Token');
      expect(wait.TimeoutSeconds, `${name} ends even if nothing answers`).toBeGreaterThan(0);
    }
    // The attachment is the worker's to wait for; the workflow has no poll loop of its own left.
    expect(Object.values(all).filter((state) => state.Type === 'Wait')).toEqual([]);
  });

  it('reads no path whose meaning differs between engines: no field after an index, no wildcard', () => {
    const paths = JSON.stringify(states()).match(/\$\.[A-Za-z0-9_.[\]*]+/g) ?? [];
    expect(paths.length).toBeGreaterThan(50);
    expect(paths.filter((path) => /\[\*\]|\[\d+\]\./.test(path))).toEqual([]);
  });

  it('reaches every state from the start, and names only states that exist', () => {
    const all = states();
    const seen = new Set<string>();
    const queue = ['Claim a host'];
    while (queue.length > 0) {
      const name = queue.shift() as string;
      if (seen.has(name)) continue;
      seen.add(name);
      const state = all[name];
      expect(state, `${name} exists`).toBeDefined();
      queue.push(...targets(state as State));
    }
    expect([...seen].sort()).toEqual(Object.keys(all).sort());
  });

  it('calls EC2 and Secrets Manager only through aws-sdk integrations, the worker only through SQS, EventBridge only through its optimized integration', () => {
    const resources = new Set(
      JSON.stringify(JSON.parse(loadBuildImageDefinition({ ClaimsQueueUrl: CLAIMS_QUEUE_URL, RegionalCallsQueueUrl: REGIONAL_CALLS_QUEUE_URL, ResourceWaitsQueueUrl: RESOURCE_WAITS_QUEUE_URL, VolumePoolsQueueUrl: VOLUME_POOLS_QUEUE_URL })))
        .match(/"Resource":"[^"]+"/g)
        ?.map((field) => field.slice('"Resource":"'.length, -1)),
    );
    for (const resource of resources) {
      expect(resource).toMatch(/^arn:aws:states:::(aws-sdk:ec2:[a-zA-Z]+|aws-sdk:secretsmanager:(tagResource|deleteSecret)|sqs:sendMessage(\.waitForTaskToken)?|events:putEvents)$/);
    }
  });
});
