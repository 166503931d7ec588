/**
 * GET /builds/{id}: status, current step, timeline of steps, images, error and cause. Only
 * for the caller's team (or an admin): another team's build is answered 404.
 */
import { callerOf } from './lib/access.ts';
import { sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { buildDetails, executionHistory } from './lib/builds.ts';
import { stateMachine } from './lib/config.ts';
import { httpHandler, json, pathParameter } from './lib/http.ts';

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const buildId = pathParameter(event, 'id');
  const execution = await describeVisibleBuild(sfn(), machine, buildId, callerOf(event));
  const events = await executionHistory(sfn(), execution.executionArn ?? '');
  return json(200, buildDetails(execution, events));
});
