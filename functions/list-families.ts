/**
 * GET /families: the factory configuration's families (factory.yml) a caller may run: its
 * team's, or every one for an admin. Each with its schedule, when that fires next, and its
 * latest run's decision.
 */
import type { FamilyList, FamilySummary } from '../contract/api.ts';
import type { Family } from '../contract/factory-config.ts';
import { callerOf } from './lib/access.ts';
import { s3 } from './lib/aws.ts';
import { artifactsBucket } from './lib/config.ts';
import { loadFactoryConfig } from './lib/factory-config.ts';
import { httpHandler, json } from './lib/http.ts';
import { nextRun } from './lib/schedule-cron.ts';
import { latestDecision } from './lib/schedule-decisions.ts';

async function summaryOf(bucket: string, name: string, family: Family, now: Date): Promise<FamilySummary> {
  const { schedule } = family;
  const next = schedule?.enabled === true ? nextRun(schedule.cron, schedule.timezone, now) : null;
  return {
    name,
    team: family.team,
    template: family.template,
    schedule: schedule === undefined ? null : { cron: schedule.cron, timezone: schedule.timezone, enabled: schedule.enabled },
    nextRunAt: next === null ? null : next.toISOString(),
    latestDecision: await latestDecision(s3(), bucket, name),
  };
}

export const handler = httpHandler(async (event) => {
  const caller = callerOf(event);
  const config = await loadFactoryConfig();
  const bucket = artifactsBucket();
  const now = new Date();
  const visible = Object.entries(config.families)
    .filter(([, family]) => caller.admin || family.team === caller.team)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const families = await Promise.all(visible.map(([name, family]) => summaryOf(bucket, name, family, now)));
  return json(200, { families } satisfies FamilyList);
});
