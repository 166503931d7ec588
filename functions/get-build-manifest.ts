/**
 * GET /builds/{id}/manifest: Packer's manifest post-processor's file for a succeeded build
 * (lib/manifest.ts), computed from the execution on each read. Only for the caller's team
 * (or an admin): another team's build is answered 404.
 */
import { callerOf } from './lib/access.ts';
import { sfn } from './lib/aws.ts';
import { describeVisibleBuild } from './lib/build-owners.ts';
import { stateMachine } from './lib/config.ts';
import { httpHandler, json, pathParameter, ProblemError } from './lib/http.ts';
import { buildManifest } from './lib/manifest.ts';

export const handler = httpHandler(async (event) => {
  const buildId = pathParameter(event, 'id');
  const execution = await describeVisibleBuild(sfn(), stateMachine(), buildId, callerOf(event));
  if (execution.status !== 'SUCCEEDED') {
    const status = execution.status ?? 'UNKNOWN';
    const why = status === 'RUNNING' ? 'it is written when the build succeeds' : 'only a succeeded build has one';
    throw new ProblemError(404, 'ManifestNotAvailable', `build ${buildId} is ${status}, so it has no manifest: ${why}`);
  }
  return json(200, buildManifest(buildId, execution));
});
