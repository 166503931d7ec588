/**
 * DELETE /builds/{id}: stop the build's execution. Answers 202: clean-up follows
 * asynchronously, as for any stopped execution, because a stopped execution runs no Catch:
 * the "Step Functions Execution Status Change" event (ABORTED) triggers clean-up-build,
 * which detaches and deletes what the build made and tells its host to release the device.
 * (The local factory calls clean-up-build itself: moto has no EventBridge.)
 * Only the build's team (or an admin) may cancel it: another team's build is answered 404.
 */
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { BuildCancelled } from '../contract/api.ts';
import { callerOf } from './lib/access.ts';
import { sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { describeBuild } from './lib/builds.ts';
import { stateMachine } from './lib/config.ts';
import { httpHandler, json, pathParameter, ProblemError } from './lib/http.ts';

function alreadyFinished(buildId: string, status: string | undefined): ProblemError {
  return new ProblemError(409, 'BuildFinished', `build ${buildId} already finished (${status ?? 'unknown status'}): nothing to cancel`);
}

export const handler = httpHandler(async (event, log) => {
  const machine = stateMachine();
  const buildId = pathParameter(event, 'id');
  const caller = callerOf(event);
  const execution = await describeVisibleBuild(sfn(), machine, buildId, caller);
  if (execution.status !== 'RUNNING') throw alreadyFinished(buildId, execution.status);
  await sfn().send(
    new StopExecutionCommand({
      executionArn: execution.executionArn,
      error: 'Cancelled',
      cause: `cancelled through the API by ${caller.principal}`,
    }),
  );
  // The build may have finished between the two calls; then it was not cancelled. Still
  // RUNNING means the stop has not taken effect yet (it is asynchronous): that is accepted.
  const after = await describeBuild(sfn(), machine, buildId);
  if (after.status !== 'ABORTED' && after.status !== 'RUNNING') throw alreadyFinished(buildId, after.status);
  log.info({ buildId, principal: caller.principal }, 'build cancelled');
  const status = after.status === 'RUNNING' ? 'ABORTING' : 'ABORTED';
  const answer: BuildCancelled = { buildId, status, message: 'cancelled; the build\'s resources are cleaned up shortly' };
  return json(202, answer);
});
