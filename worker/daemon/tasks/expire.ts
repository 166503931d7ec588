/**
 * Giving up claims that nothing follows any more. The workflow releases a build on every
 * path it controls, but an execution that is stopped (cancelled, or timed out as a whole)
 * runs no Catch and sends no release; and a claim answered twice (a duplicate delivered to
 * two hosts) is only refused by Step Functions on AWS, not by every emulator. A build idle
 * past the claim TTL, with no provision running, is released here as the release task
 * would: marked in the ledger first, so a task arriving later never runs it.
 */
import type { WorkerContext } from '../context.ts';

export async function expireIdleClaims(context: WorkerContext, now = Date.now()): Promise<string[]> {
  const ttlMs = context.config.claimTtlSeconds * 1000;
  const expired: string[] = [];
  for (const buildId of context.slots.buildIds()) {
    if (context.builds.has(buildId)) continue;
    const expire = await context.ledger.update(buildId, (current) => {
      const provision = current?.provision;
      if (current === undefined || current.releasedAt !== undefined || provision?.state === 'running') return { result: false };
      const lastActivity = provision === undefined ? current.claim?.claimedAt : provision.finishedAt;
      if (lastActivity === undefined || now - Date.parse(lastActivity) < ttlMs) return { result: false };
      return { next: { ...current, releasedAt: new Date(now).toISOString() }, result: true };
    });
    if (!expire) continue;
    const deviceName = context.slots.lease(buildId)?.deviceName;
    await context.slots.free(buildId);
    context.log.warn({ buildId, deviceName }, `no task for this build in ${context.config.claimTtlSeconds} s: released it`);
    context.events.emit('released', { buildId, deviceName });
    expired.push(buildId);
  }
  return expired;
}
