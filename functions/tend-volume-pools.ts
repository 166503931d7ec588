/**
 * The volume pool tender (functions/lib/volume-pool-tender.ts): keeps each family's pool
 * (factory.yml `volume_pool`) at its size in each of its zones, replaces volumes of a source
 * snapshot the family has moved on from, and removes what no pool wants. Invoked on a schedule
 * (every few minutes: replacements, clean-up) and by the pools queue, to which a build that took
 * a pooled volume sends a word (a refill within seconds). Every invocation tends every pool: a
 * tending converges from whatever it finds, so a lost or repeated message changes nothing.
 */
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { PoolDrawnMessageSchema } from '../contract/volume-pool.ts';
import { requiredEnv } from './lib/config.ts';
import { loadFactoryConfig } from './lib/factory-config.ts';
import { logger } from './lib/log.ts';
import { fleetZonesFromEnvironment, tendVolumePools, type TendingReport } from './lib/volume-pool-tender.ts';

const isQueueEvent = (event: unknown): event is SQSEvent =>
  typeof event === 'object' && event !== null && Array.isArray((event as { Records?: unknown }).Records);

/**
 * A scheduled invocation returns what the tending did; a queue's batch is answered as a whole
 * (a tending that fails throws, and SQS hands the batch back later).
 */
export async function handler(event: unknown, context: Pick<Context, 'awsRequestId'>): Promise<TendingReport | SQSBatchResponse> {
  const log = logger.child({ requestId: context.awsRequestId });
  if (isQueueEvent(event)) {
    // What was drawn is for the log: the tending counts the pools itself.
    const drawn = event.Records.map((record) => {
      try {
        const parsed = PoolDrawnMessageSchema.safeParse(JSON.parse(record.body));
        return parsed.success ? `${parsed.data.poolKey}@${parsed.data.availabilityZone}` : 'unreadable';
      } catch {
        return 'unreadable';
      }
    });
    log.info({ drawn }, 'volumes taken from pools');
  }
  const report = await tendVolumePools({
    config: await loadFactoryConfig(),
    owner: requiredEnv('VOLUME_POOL_OWNER', 'the name this factory\'s pool volumes carry (its stack prefix)'),
    fleetZones: fleetZonesFromEnvironment,
    log,
  });
  return isQueueEvent(event) ? { batchItemFailures: [] } : report;
}
