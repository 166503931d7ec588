/**
 * A build is its execution: the execution name is the build id, and status, steps and
 * results are read from Step Functions, which keeps them for 90 days after the build ends.
 * No table of builds to keep in step.
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  type DescribeExecutionOutput,
  type ExecutionListItem,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { isAwsError } from './aws.ts';
import { isBuildId } from './build-id.ts';
import type { StateMachine } from './config.ts';
import type { BuildDetails, BuildSummary, TimelineEntry } from '../../contract/api.ts';
import { BuildOwnerSchema, ExecutionOutputSchema, type BuildOwner, type BuiltImage } from '../../contract/execution.ts';
import { ProblemError } from './http.ts';

export function executionArn(machine: StateMachine, buildId: string): string {
  return `${machine.arn.replace(':stateMachine:', ':execution:')}:${buildId}`;
}

export function buildNotFound(buildId: string): ProblemError {
  return new ProblemError(404, 'BuildNotFound', `no build ${buildId}`);
}

/** The build's execution; 404 for an id that is malformed or unknown. */
export async function describeBuild(sfn: SFNClient, machine: StateMachine, buildId: string): Promise<DescribeExecutionOutput> {
  if (!isBuildId(buildId)) throw buildNotFound(buildId);
  try {
    return await sfn.send(new DescribeExecutionCommand({ executionArn: executionArn(machine, buildId) }));
  } catch (error) {
    if (isAwsError(error, 'ExecutionDoesNotExist')) throw buildNotFound(buildId);
    throw error;
  }
}

/** `withData` adds the states' inputs and outputs: up to 256 KiB each, so only on request. */
export async function executionHistory(sfn: SFNClient, arn: string, withData = false): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 1000, nextToken, includeExecutionData: withData }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/**
 * The events after event `since`, oldest first, read newest first so that a follower pays for
 * what is new rather than for the whole history again: Step Functions numbers an execution's
 * events 1, 2, 3... in order, so the first page that reaches `since` is the last one needed.
 * (An emulator that ignores reverseOrder pages oldest first: then every page is read, and the
 * answer is the same.)
 */
export async function executionHistorySince(sfn: SFNClient, arn: string, since: number): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    // Small pages: a follower asking every few seconds usually has a handful of new events.
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn: arn, maxResults: 100, nextToken, reverseOrder: true, includeExecutionData: false }));
    const got = page.events ?? [];
    events.push(...got.filter((event) => (event.id ?? 0) > since));
    const newestFirst = got.length < 2 || (got[0]?.id ?? 0) > (got.at(-1)?.id ?? 0);
    if (newestFirst && got.some((event) => (event.id ?? 0) <= since)) break;
    nextToken = page.nextToken;
  } while (nextToken);
  return events.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

/** The id of the newest event read; `since` when none is newer. */
export const lastEventId = (events: readonly HistoryEvent[], since = 0): number => events.reduce((last, event) => Math.max(last, event.id ?? 0), since);

/** One entry per state entered, in order; a retried or looping state appears each time. */
export function timeline(events: readonly HistoryEvent[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  for (const event of events) {
    const at = event.timestamp?.toISOString() ?? '';
    if (event.stateEnteredEventDetails?.name !== undefined) {
      entries.push({ step: event.stateEnteredEventDetails.name, enteredAt: at, exitedAt: null });
    } else if (event.stateExitedEventDetails?.name !== undefined) {
      const name = event.stateExitedEventDetails.name;
      // The latest open entry of that state: states inside Map or Parallel overlap.
      const open = entries.findLast((entry) => entry.step === name && entry.exitedAt === null);
      if (open) open.exitedAt = at;
    }
  }
  return entries;
}

/** The images of a finished execution; none for one that failed or is still running. */
export function imagesOf(output: string | undefined): BuiltImage[] {
  if (output === undefined) return [];
  try {
    const parsed = ExecutionOutputSchema.safeParse(JSON.parse(output));
    return parsed.success ? parsed.data.amis : [];
  } catch {
    return [];
  }
}

/** The owner an execution's input records; null for a build from before owners. */
export function ownerOf(execution: DescribeExecutionOutput): BuildOwner | null {
  if (execution.input === undefined) return null;
  try {
    const parsed = BuildOwnerSchema.safeParse((JSON.parse(execution.input) as { owner?: unknown }).owner);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** A listed execution carries no input: its owner is known only from a DescribeExecution. */
export function buildSummary(execution: ExecutionListItem | DescribeExecutionOutput): BuildSummary {
  return {
    buildId: execution.name ?? '',
    status: execution.status ?? 'UNKNOWN',
    startedAt: execution.startDate?.toISOString() ?? null,
    stoppedAt: execution.stopDate?.toISOString() ?? null,
    owner: 'input' in execution ? ownerOf(execution) : null,
  };
}

/**
 * `since`: the events are only those after that event (GET /builds/{id}?since=), so the
 * timeline and the current step are only what those tell.
 */
export function buildDetails(execution: DescribeExecutionOutput, events: readonly HistoryEvent[], since = 0): BuildDetails {
  const steps = timeline(events);
  const running = execution.status === 'RUNNING';
  return {
    ...buildSummary(execution),
    currentStep: running ? (steps.findLast((entry) => entry.exitedAt === null)?.step ?? null) : null,
    timeline: steps,
    amis: imagesOf(execution.output),
    error: execution.error ?? null,
    cause: execution.cause ?? null,
    lastEventId: lastEventId(events, since),
  };
}
