/**
 * GET /builds/{id}: status, current step, timeline of steps, images, error and cause, and the
 * re-distributions of its image (POST /images/{imageId}/distributions). Only
 * for the caller's team (or an admin): another team's build is answered 404. With
 * `?since=<lastEventId of an earlier answer>` the timeline holds only the steps entered since,
 * read from the newest history events back: a follower's every look costs the factory what
 * changed, not the whole history again.
 */
import { callerOf } from './lib/access.ts';
import { sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { buildDetails, executionHistory, executionHistorySince } from './lib/builds.ts';
import { distributeStateMachineArn, stateMachine } from './lib/config.ts';
import { distributionsOf } from './lib/distributions.ts';
import { httpHandler, json, pathParameter, ProblemError, queryParameter } from './lib/http.ts';

/** `since`: absent for the whole history, else an event id (a whole number, 0 or more). */
function sinceOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const since = /^\d{1,15}$/.test(raw) ? Number(raw) : Number.NaN;
  if (Number.isNaN(since)) {
    const message = 'must be a whole number: the lastEventId of an earlier answer';
    throw new ProblemError(400, 'InvalidRequest', `since: ${message}`, [{ path: 'since', message }]);
  }
  return since;
}

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const buildId = pathParameter(event, 'id');
  const since = sinceOf(queryParameter(event, 'since'));
  const execution = await describeVisibleBuild(sfn(), machine, buildId, callerOf(event));
  // After DescribeExecution: a status that says the build ended comes with all its events.
  const arn = execution.executionArn ?? '';
  const events = since === undefined ? await executionHistory(sfn(), arn) : await executionHistorySince(sfn(), arn, since);
  const details = buildDetails(execution, events, since);
  // A deployment always has the distribute-image workflow; a stand-in set-up may not.
  if (process.env.DISTRIBUTE_STATE_MACHINE_ARN === undefined) return json(200, details);
  return json(200, { ...details, distributions: await distributionsOf(sfn(), distributeStateMachineArn(), buildId) });
});
