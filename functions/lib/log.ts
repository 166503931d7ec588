/**
 * Structured logs: one JSON line per event, which CloudWatch Logs Insights can query by
 * field. Each invocation logs through a child that carries its request id.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export const logger: Logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { fn: process.env.AWS_LAMBDA_FUNCTION_NAME },
  // Lambda adds its own timestamp to each line; ISO time keeps local runs readable too.
  timestamp: pino.stdTimeFunctions.isoTime,
});
