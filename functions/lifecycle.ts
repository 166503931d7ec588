/**
 * The lifecycle of a template family's images (docs/lifecycle.md), two ways:
 *
 * - `POST /families/{family}/lifecycle` with `{"dryRun": true|false}`: on demand, by the family's
 *   team or an admin (anyone else is answered 404, as for an unknown family), answering 200 with
 *   the report (what was, or would be, done to each image).
 * - `scheduledHandler`: an EventBridge Scheduler target with the input `{"family": "NAME"}`,
 *   on the family's lifecycle schedule; a real run, whose report goes to the log.
 *
 * A failed action is reported on its image and does not fail the run: running again redoes
 * what is still to do (a deprecation again, the remaining deregistrations), so only a run that
 * could not happen at all throws.
 */
import type { Context } from 'aws-lambda';
import type { Family } from '../contract/factory-config.ts';
import { fieldErrorsOf, formatFieldErrors } from '../contract/field-errors.ts';
import { LifecycleRequestSchema, ScheduledLifecycleSchema, type LifecycleReport, type LifecycleRequest } from '../contract/lifecycle.ts';
import { callerOf } from './lib/access.ts';
import { ConfigError, stateMachine } from './lib/config.ts';
import { familyNotFound, familyOrNotFound, loadFactoryConfig } from './lib/factory-config.ts';
import { bodyBytes, httpHandler, json, pathParameter, ProblemError } from './lib/http.ts';
import { parseJsonBody } from './lib/json-body.ts';
import { runLifecycle } from './lib/lifecycle-run.ts';
import { logger, type Logger } from './lib/log.ts';

const BODY_EXAMPLE = '{"dryRun": true}';

function parseRequest(body: Buffer): LifecycleRequest {
  return parseJsonBody(body, LifecycleRequestSchema, `${BODY_EXAMPLE} (or false to apply)`);
}

/** Runs the family's lifecycle, where the build workflow builds (its account, region and partition). */
async function run(name: string, family: Family, dryRun: boolean, log: Logger): Promise<LifecycleReport> {
  const { lifecycle } = family;
  if (lifecycle === undefined) {
    throw new ProblemError(409, 'NoLifecycle', `family "${name}" has no lifecycle in the factory configuration: its images are kept forever`);
  }
  const { accountId, region, partition } = stateMachine();
  const report = await runLifecycle({ family: name, config: { targets: family.targets, lifecycle }, dryRun, factory: { accountId, region, partition } });
  const count = (test: (entry: LifecycleReport['images'][number]) => boolean): number => report.images.filter(test).length;
  const summary = {
    family: name,
    dryRun,
    images: report.images.length,
    deprecate: count((entry) => entry.action === 'deprecate'),
    deregister: count((entry) => entry.action === 'deregister'),
    skip: count((entry) => entry.action === 'skip'),
    failed: count((entry) => entry.outcome === 'failed'),
    unlisted: report.locations.filter((location) => location.error !== null).map((location) => `${location.accountId}/${location.region}: ${location.error ?? ''}`),
  };
  if (summary.failed > 0 || summary.unlisted.length > 0) log.warn({ ...summary, report }, 'lifecycle ran, with failures');
  else log.info(summary, dryRun ? 'lifecycle dry run' : 'lifecycle ran');
  return report;
}

export const handler = httpHandler(async (event, log) => {
  const name = pathParameter(event, 'family');
  const { dryRun } = parseRequest(bodyBytes(event));
  const caller = callerOf(event);
  const family = familyOrNotFound(await loadFactoryConfig(), name);
  // Another team's family does not exist for the caller, as another team's build does not.
  if (!caller.admin && caller.team !== family.team) throw familyNotFound(name);
  const report = await run(name, family, dryRun, log.child({ family: name, principal: caller.principal }));
  return json(200, report);
});

/** EventBridge Scheduler's target: `{"family": "NAME"}`, a real run. */
export async function scheduledHandler(input: unknown, context: Context): Promise<LifecycleReport> {
  const parsed = ScheduledLifecycleSchema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(`the schedule's input is invalid (${formatFieldErrors(fieldErrorsOf(parsed.error), { whole: '(input)', separator: '; ' })}): expected {"family": "NAME"}`);
  }
  const name = parsed.data.family;
  const log = logger.child({ requestId: context.awsRequestId, family: name, trigger: 'schedule' });
  try {
    return await run(name, familyOrNotFound(await loadFactoryConfig(), name), false, log);
  } catch (error) {
    // A schedule naming a family (or lifecycle) factory.yml no longer has is the deployment's mistake.
    if (error instanceof ProblemError) throw new ConfigError(`scheduled lifecycle of "${name}": ${error.message}`);
    throw error;
  }
}
