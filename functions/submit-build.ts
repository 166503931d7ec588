/**
 * POST /builds: who asks (the caller's team owns the build, functions/lib/access.ts), what the
 * configuration grants it, and the body; the rest is lib/start-build.ts, which a factory
 * family's run shares. Answers 202 with a new build; 200 with the build an Idempotency-Key
 * retry replays (Idempotent-Replayed) or the build whose bake key the request has (`reused`).
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { BuildGrants } from '../contract/bundle.ts';
import { callerOf, mayRunHostCommands, ownerFor, refuseForeignTargets } from './lib/access.ts';
import { maxBodyBytes, stateMachine } from './lib/config.ts';
import { bodyBytes, header, httpHandler, json } from './lib/http.ts';
import { startBuild, type StartedBuild } from './lib/start-build.ts';
import { parseSubmitBody } from './lib/submit-request.ts';

function answer({ how, accepted }: StartedBuild): APIGatewayProxyResult {
  return json(how === 'new' ? 202 : 200, accepted, {
    location: accepted.links.self,
    ...(how === 'replayed' ? { 'idempotent-replayed': 'true' } : {}),
  });
}

export const handler = httpHandler(async (event, log) => {
  const caller = callerOf(event);
  const owner = ownerFor(caller);
  const request = parseSubmitBody(bodyBytes(event), maxBodyBytes());
  refuseForeignTargets(owner.team, request.targets, stateMachine().accountId);
  const grants: BuildGrants = { hostCommands: mayRunHostCommands(caller) };
  const idempotencyKey = header(event, 'Idempotency-Key');
  return answer(await startBuild({ request, owner, grants, ...(idempotencyKey === undefined ? {} : { idempotencyKey }), log }));
});
