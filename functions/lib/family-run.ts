/**
 * One run of a factory family (factory.yml), on its schedule (run-schedule.ts) or on demand
 * (`POST /families/{family}/runs`): bundle the family's template as `ami-factory build`
 * would, and start it through the same path as `POST /builds` (start-build.ts), which bakes
 * only when the bake key is new: a newer source image behind the filter, a changed script or
 * variable. An image or a running build of the team with the key means the family is up to
 * date. Each decision is kept (schedule-decisions.ts) and logged.
 *
 * The build belongs to the family's team, and gets the host-command grant of that team alone:
 * whoever triggers a run, it builds what the schedule would.
 */
import type { ScheduleDecision } from '../../contract/api.ts';
import { accessConfig, teamMayRunHostCommands } from './access.ts';
import { s3 } from './aws.ts';
import { artifactsBucket } from './config.ts';
import { familyBundle, familyOrNotFound, loadFactoryConfig } from './factory-config.ts';
import { ProblemError } from './http.ts';
import type { Logger } from './log.ts';
import { recordDecision } from './schedule-decisions.ts';
import { startBuild, type StartedBuild } from './start-build.ts';
import { submitRequestOf } from './submit-request.ts';

export interface FamilyRun {
  family: string;
  trigger: ScheduleDecision['trigger'];
  /** Who triggered it: a caller's IAM principal, or the scheduler function's ARN. */
  principal: string;
  log: Logger;
  now?: Date;
}

type Outcome = Pick<ScheduleDecision, 'decision' | 'bakeKey' | 'sourceImageId' | 'buildId' | 'imageId' | 'reason' | 'error' | 'errors'>;

function outcomeOf(team: string, { how, accepted, bakeKey, sourceImageId }: StartedBuild): Outcome {
  const known = { bakeKey, sourceImageId, error: null };
  if (how !== 'reused') {
    return { ...known, decision: 'started', buildId: accepted.buildId, imageId: null, reason: `no image or running build of team ${team} has this bake key: build ${accepted.buildId} started` };
  }
  const { buildId, imageId } = accepted;
  return {
    ...known,
    decision: 'up to date',
    buildId,
    imageId: imageId ?? null,
    reason: imageId === undefined ? `build ${buildId}, still running, has this bake key` : `image ${imageId} (build ${buildId}) has this bake key: nothing changed since`,
  };
}

function failure(error: unknown): Outcome {
  const failed = { decision: 'failed', bakeKey: null, sourceImageId: null, buildId: null, imageId: null } as const;
  if (error instanceof ProblemError) return { ...failed, error: error.code, reason: error.message, ...(error.errors ? { errors: [...error.errors] } : {}) };
  // Details of an unexpected failure are for the operators' log, not for the decision's readers.
  return { ...failed, error: 'InternalError', reason: "the run failed unexpectedly; the factory's operators find why in the function's log" };
}

/**
 * Runs the family and returns its decision, recorded. An unknown family is a 404 (nothing to
 * record it under); a refusal (a problem) is a `failed` decision; an unexpected failure is
 * recorded as `failed` and thrown, so the invocation fails and may be retried.
 */
export async function runFamily({ family: name, trigger, principal, log, now = new Date() }: FamilyRun): Promise<ScheduleDecision> {
  const config = await loadFactoryConfig();
  const family = familyOrNotFound(config, name);
  const runLog = log.child({ family: name, trigger });
  let outcome: Outcome;
  let unexpected: Error | undefined;
  try {
    if (accessConfig().teams[family.team] === undefined) {
      throw new ProblemError(409, 'UnknownTeam', `family "${name}" builds for the team "${family.team}", which the factory's access configuration (ACCESS) does not have`);
    }
    const bundle = await familyBundle(config, name, now);
    const started = await startBuild({
      request: submitRequestOf({ bundle, targets: family.targets }),
      owner: { team: family.team, principal },
      grants: { hostCommands: teamMayRunHostCommands(family.team) },
      family: name,
      log: runLog,
    });
    outcome = outcomeOf(family.team, started);
  } catch (error) {
    outcome = failure(error);
    if (!(error instanceof ProblemError)) unexpected = error instanceof Error ? error : new Error(String(error));
  }
  const decision: ScheduleDecision = { family: name, trigger, principal, decidedAt: now.toISOString(), ...outcome };
  try {
    await recordDecision(s3(), artifactsBucket(), decision);
  } catch (error) {
    // The decision stands (a started build runs): only its record is missing, which a retry
    // would not bring back; the next run records its own.
    runLog.error({ err: error }, 'could not record the decision');
  }
  const fields = { decision: decision.decision, buildId: decision.buildId, imageId: decision.imageId, bakeKey: decision.bakeKey, error: decision.error };
  if (unexpected !== undefined) {
    runLog.error({ ...fields, err: unexpected }, `family ${name}: ${decision.decision}`);
    throw unexpected;
  }
  runLog.info(fields, `family ${name}: ${decision.decision}: ${decision.reason}`);
  return decision;
}
