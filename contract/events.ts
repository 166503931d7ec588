/**
 * The events the factory consumes: Step Functions' own status changes of build-image
 * executions, which EventBridge routes to the clean-up function (the local factory's watcher
 * hands it the same shape).
 */
import type { EventBridgeEvent } from 'aws-lambda';

/** An execution's status change, as Step Functions publishes it. */
export interface ExecutionStatusChange {
  executionArn: string;
  stateMachineArn: string;
  /** The execution name, which is the build id. */
  name: string;
  status: string;
}

export const EXECUTION_STATUS_CHANGE = 'Step Functions Execution Status Change';

export type ExecutionStatusChangeEvent = EventBridgeEvent<typeof EXECUTION_STATUS_CHANGE, ExecutionStatusChange>;
