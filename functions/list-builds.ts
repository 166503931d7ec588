/** GET /builds: the most recent builds first, a page at a time (`limit`, `nextToken`). */
import { ListExecutionsCommand, type ExecutionStatus } from '@aws-sdk/client-sfn';
import type { BuildList } from '../contract/api.ts';
import { isAwsError, sfn } from './lib/aws.ts';
import { buildSummary } from './lib/builds.ts';
import { stateMachine } from './lib/config.ts';
import { httpHandler, json, ProblemError, queryParameter } from './lib/http.ts';

const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 100;
const STATUSES: readonly ExecutionStatus[] = ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'];

function invalid(path: string, message: string): ProblemError {
  return new ProblemError(400, 'InvalidRequest', `${path}: ${message}`, [{ path, message }]);
}

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const rawLimit = queryParameter(event, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw invalid('limit', `must be a whole number from 1 to ${MAX_LIMIT}`);
  const status = queryParameter(event, 'status');
  if (status !== undefined && !STATUSES.includes(status as ExecutionStatus)) throw invalid('status', `must be one of ${STATUSES.join(', ')}`);
  const nextToken = queryParameter(event, 'nextToken');
  try {
    // Step Functions lists executions newest first.
    const page = await sfn().send(
      new ListExecutionsCommand({ stateMachineArn: machine.arn, maxResults: limit, nextToken, statusFilter: status as ExecutionStatus | undefined }),
    );
    const answer: BuildList = { builds: (page.executions ?? []).map(buildSummary), nextToken: page.nextToken ?? null };
    return json(200, answer);
  } catch (error) {
    if (isAwsError(error, 'InvalidToken')) throw invalid('nextToken', 'is not a token from an earlier page of this listing, or it expired');
    throw error;
  }
});
