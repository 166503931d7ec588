/**
 * POST /families/{family}/runs: run a factory family now, on the scheduler's own path
 * (lib/family-run.ts), and answer with its decision: 202 `started` (Location: the build),
 * 200 `up to date` or `failed`. The family's team and the admins may; for anyone else the
 * family does not exist (404, as for an unknown one), as another team's build does not.
 */
import { callerOf } from './lib/access.ts';
import { familyNotFound, familyOrNotFound, loadFactoryConfig } from './lib/factory-config.ts';
import { runFamily } from './lib/family-run.ts';
import { httpHandler, json, pathParameter } from './lib/http.ts';

export const handler = httpHandler(async (event, log) => {
  const caller = callerOf(event);
  const name = pathParameter(event, 'family');
  const family = familyOrNotFound(await loadFactoryConfig(), name);
  if (!caller.admin && caller.team !== family.team) throw familyNotFound(name);
  const decision = await runFamily({ family: name, trigger: 'run-now', principal: caller.principal, log });
  if (decision.decision === 'started' && decision.buildId !== null) return json(202, decision, { location: `/builds/${decision.buildId}` });
  return json(200, decision);
});
