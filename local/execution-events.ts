/**
 * EventBridge, as far as the factory needs it locally: the local AWS has no event bus, so
 * executions of the factory's state machine are watched and, when one ends ABORTED,
 * TIMED_OUT or FAILED, the clean-up function receives the same "Step Functions Execution
 * Status Change" event the deployed rule would deliver.
 */
import { ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { EXECUTION_STATUS_CHANGE, type ExecutionStatusChange, type ExecutionStatusChangeEvent } from '../contract/events.ts';

const CLEAN_UP_STATUSES = ['ABORTED', 'TIMED_OUT', 'FAILED'] as const;

export interface ExecutionEvents {
  /** Delivers what has happened so far, then stops watching. */
  stop(): Promise<void>;
}

/** The event EventBridge delivers for an execution's status change, as the deployed rule passes it on. */
export function statusChangeEvent(detail: ExecutionStatusChange): ExecutionStatusChangeEvent {
  // The execution ARN names the region and account: arn:aws:states:REGION:ACCOUNT:execution:...
  const [, , , region = 'us-east-1', account = '123456789012'] = detail.executionArn.split(':');
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': EXECUTION_STATUS_CHANGE,
    source: 'aws.states',
    account,
    time: new Date().toISOString(),
    region,
    resources: [detail.executionArn],
    detail,
  };
}

export function watchExecutions(sfn: SFNClient, stateMachineArn: string, onError: (error: unknown) => void, intervalMs = 1_000): ExecutionEvents {
  const delivered = new Set<string>();
  const deliver = async (): Promise<void> => {
    // Imported when first needed, as Lambda would: its settings come from the environment
    // the local factory sets up first.
    const { handler: cleanUpBuild } = await import('../functions/clean-up-build.ts');
    for (const statusFilter of CLEAN_UP_STATUSES) {
      const { executions = [] } = await sfn.send(new ListExecutionsCommand({ stateMachineArn, statusFilter, maxResults: 100 }));
      for (const execution of executions) {
        const arn = execution.executionArn ?? '';
        if (delivered.has(arn)) continue;
        delivered.add(arn);
        const event = statusChangeEvent({ executionArn: arn, stateMachineArn, name: execution.name ?? '', status: statusFilter });
        await cleanUpBuild(event, { awsRequestId: crypto.randomUUID() } as Context);
      }
    }
  };
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(deliver).catch(onError);
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await deliver().catch(onError);
    },
  };
}
