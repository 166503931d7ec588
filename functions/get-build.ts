/**
 * GET /builds/{id}: status, current step, timeline of steps, images, error and cause, and the
 * re-distributions of its image (POST /images/{imageId}/distributions). Only
 * for the caller's team (or an admin): another team's build is answered 404.
 */
import { callerOf } from './lib/access.ts';
import { sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { buildDetails, executionHistory } from './lib/builds.ts';
import { distributeStateMachineArn, stateMachine } from './lib/config.ts';
import { distributionsOf } from './lib/distributions.ts';
import { httpHandler, json, pathParameter } from './lib/http.ts';

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const buildId = pathParameter(event, 'id');
  const execution = await describeVisibleBuild(sfn(), machine, buildId, callerOf(event));
  const events = await executionHistory(sfn(), execution.executionArn ?? '');
  const details = buildDetails(execution, events);
  // A deployment always has the distribute-image workflow; a stand-in set-up may not.
  if (process.env.DISTRIBUTE_STATE_MACHINE_ARN === undefined) return json(200, details);
  return json(200, { ...details, distributions: await distributionsOf(sfn(), distributeStateMachineArn(), buildId) });
});
