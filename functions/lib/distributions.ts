/**
 * Re-distributions of a build's image: executions of the distribute-image workflow named
 * `<buildId>.d-<time>`, so a build's distributions are found by name, with no record kept
 * besides the executions themselves.
 */
import { DescribeExecutionCommand, ListExecutionsCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { DistributionSummary } from '../../contract/api.ts';
import { DistributionOutputSchema } from '../../contract/execution.ts';

/** A new distribution id of the build; base-36 milliseconds sort as they were started. */
export function newDistributionId(buildId: string, now = Date.now()): string {
  return `${buildId}.d-${now.toString(36)}`;
}

/** How many of the workflow's most recent executions are searched for a build's distributions. */
const SEARCHED = 2000;

/** The build's distributions, newest first: status, and each image once the execution ended. */
export async function distributionsOf(sfn: SFNClient, stateMachineArn: string, buildId: string): Promise<DistributionSummary[]> {
  const prefix = `${buildId}.d-`;
  const found: DistributionSummary[] = [];
  let nextToken: string | undefined;
  let searched = 0;
  do {
    const page = await sfn.send(new ListExecutionsCommand({ stateMachineArn, maxResults: 1000, nextToken }));
    for (const execution of page.executions ?? []) {
      if (!execution.name?.startsWith(prefix)) continue;
      let amis: DistributionSummary['amis'] = [];
      if (execution.status === 'SUCCEEDED') {
        const { output } = await sfn.send(new DescribeExecutionCommand({ executionArn: execution.executionArn }));
        const parsed = DistributionOutputSchema.safeParse(JSON.parse(output ?? '{}'));
        if (parsed.success) amis = parsed.data.amis;
      }
      found.push({ distributionId: execution.name, status: execution.status ?? 'UNKNOWN', startedAt: execution.startDate?.toISOString() ?? null, amis });
    }
    searched += page.executions?.length ?? 0;
    nextToken = page.nextToken;
  } while (nextToken !== undefined && searched < SEARCHED);
  return found.sort((a, b) => (a.distributionId < b.distributionId ? 1 : -1));
}
