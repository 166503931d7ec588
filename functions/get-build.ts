/** GET /builds/{id}: status, current step, timeline of steps, images, error and cause. */
import { sfn } from './lib/aws.ts';
import { buildDetails, describeBuild, executionHistory } from './lib/builds.ts';
import { stateMachine } from './lib/config.ts';
import { httpHandler, json, pathParameter } from './lib/http.ts';

export const handler = httpHandler(async (event) => {
  const machine = stateMachine();
  const buildId = pathParameter(event, 'id');
  const execution = await describeBuild(sfn(), machine, buildId);
  const events = await executionHistory(sfn(), execution.executionArn ?? '');
  return json(200, buildDetails(execution, events));
});
