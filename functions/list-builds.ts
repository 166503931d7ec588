/**
 * GET /builds: the most recent builds first, a page at a time (`limit`, `nextToken`). A
 * caller sees its own team's builds, listed from the team's owner markers; an admin sees
 * every build, listed from Step Functions. Either way each build is described once more,
 * for its owner and current status.
 */
import { ListExecutionsCommand, type ExecutionStatus } from '@aws-sdk/client-sfn';
import type { BuildList, BuildSummary } from '../contract/api.ts';
import { callerOf } from './lib/access.ts';
import { isAwsError, s3, sfn } from './lib/aws.ts';
import { buildIdOfMarker, listOwnerMarkers, ownerMarkerPrefix } from './lib/build-owners.ts';
import { buildSummary, describeBuild } from './lib/builds.ts';
import { artifactsBucket, stateMachine, type StateMachine } from './lib/config.ts';
import { httpHandler, json, ProblemError, queryParameter } from './lib/http.ts';

const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 100;
/** How many of a team's markers one request reads at most while a status filter skips builds. */
const MAX_SCANNED = 500;
const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];

function invalid(path: string, message: string): ProblemError {
  return new ProblemError(400, 'InvalidRequest', `${path}: ${message}`, [{ path, message }]);
}

const badToken = (): ProblemError => invalid('nextToken', 'is not a token from an earlier page of this listing, or it expired');

/** The build's summary, or null once Step Functions forgot it (90 days after it ended). */
async function summaryOf(machine: StateMachine, buildId: string): Promise<BuildSummary | null> {
  try {
    return buildSummary(await describeBuild(sfn(), machine, buildId));
  } catch (error) {
    if (error instanceof ProblemError && error.status === 404) return null;
    throw error;
  }
}

/** A team's page token is the last marker key it returned, so the next page starts after it. */
const encodeToken = (key: string): string => Buffer.from(key, 'utf8').toString('base64url');

function decodeToken(token: string, team: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!key.startsWith(ownerMarkerPrefix(team))) throw badToken();
  return key;
}

async function teamPage(machine: StateMachine, team: string, limit: number, status: string | undefined, token: string | undefined): Promise<BuildList> {
  const bucket = artifactsBucket();
  let after = token === undefined ? undefined : decodeToken(token, team);
  const builds: BuildSummary[] = [];
  // A racing Idempotency-Key retry may leave a second marker of one build.
  const seen = new Set<string>();
  let scanned = 0;
  for (;;) {
    const page = await listOwnerMarkers(s3(), bucket, team, after, limit - builds.length);
    const summaries = await Promise.all(page.keys.map((key) => summaryOf(machine, buildIdOfMarker(key))));
    summaries.forEach((summary) => {
      if (summary === null || seen.has(summary.buildId)) return;
      seen.add(summary.buildId);
      if (status === undefined || summary.status === status) builds.push(summary);
    });
    after = page.keys.at(-1) ?? after;
    scanned += page.keys.length;
    if (page.after === undefined) return { builds, nextToken: null };
    if (builds.length >= limit || scanned >= MAX_SCANNED) return { builds, nextToken: after === undefined ? null : encodeToken(after) };
  }
}

async function everyonesPage(machine: StateMachine, limit: number, status: string | undefined, nextToken: string | undefined): Promise<BuildList> {
  try {
    // Step Functions lists executions newest first.
    const page = await sfn().send(
      new ListExecutionsCommand({ stateMachineArn: machine.arn, maxResults: limit, nextToken, statusFilter: status as ExecutionStatus | undefined }),
    );
    const summaries = await Promise.all((page.executions ?? []).map(async (execution) => (await summaryOf(machine, execution.name ?? '')) ?? buildSummary(execution)));
    return { builds: summaries, nextToken: page.nextToken ?? null };
  } catch (error) {
    if (isAwsError(error, 'InvalidToken')) throw badToken();
    throw error;
  }
}

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const caller = callerOf(event);
  const rawLimit = queryParameter(event, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalid('limit', `must be a whole number from 1 to ${MAX_LIMIT}`);
  const status = queryParameter(event, 'status');
  if (status !== undefined && !STATUSES.includes(status as ExecutionStatus)) throw invalid('status', `must be one of ${STATUSES.join(', ')}`);
  const nextToken = queryParameter(event, 'nextToken');
  if (caller.admin) return json(200, await everyonesPage(machine, limit, status, nextToken));
  // A caller in no team has no builds to see.
  if (caller.team === null) return json(200, { builds: [], nextToken: null } satisfies BuildList);
  return json(200, await teamPage(machine, caller.team, limit, status, nextToken));
});
