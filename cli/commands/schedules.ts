/**
 * `ami-factory schedules list` and `ami-factory schedules run-now FAMILY`: the factory
 * configuration's families (factory.yml) through the API, your team's (every one for an
 * admin). `list` shows each family's schedule, when it fires next and what its latest run
 * decided; `run-now` runs a family as its schedule would and prints the decision, exit code 1
 * when it failed.
 */
import type { Command } from 'commander';
import type { FamilyList, FamilySummary, ScheduleDecision } from '../../contract/api.ts';
import { formatFieldErrors } from '../../contract/field-errors.ts';
import { COMMANDS } from '../command-catalog.ts';
import { factoryClient, withEndpoint, type Endpoint } from './api-options.ts';

const HEADINGS = ['FAMILY', 'TEAM', 'SCHEDULE', 'NEXT RUN', 'LATEST'] as const;

/** `2030-06-30T12:00:05.000Z` -> `2030-06-30 12:00Z`. */
const when = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;

/** What a decision says, in a line: what happened and what it points at. */
export function describeDecision(decision: ScheduleDecision): string {
  switch (decision.decision) {
    case 'started':
      return `started build ${decision.buildId ?? '?'}`;
    case 'up to date':
      return decision.imageId === null
        ? `up to date: build ${decision.buildId ?? '?'} is baking it`
        : `up to date: ${decision.imageId} (build ${decision.buildId ?? '?'})`;
    case 'failed':
      return `failed: ${decision.error ?? 'error'}: ${decision.reason}`;
  }
}

const row = (family: FamilySummary): string[] => [
  family.name,
  family.team,
  family.schedule === null ? 'on demand' : `${family.schedule.cron} ${family.schedule.timezone}${family.schedule.enabled ? '' : ' (paused)'}`,
  family.nextRunAt === null ? '-' : when(family.nextRunAt),
  family.latestDecision === null ? 'never run' : `${when(family.latestDecision.decidedAt)} ${describeDecision(family.latestDecision)}`,
];

export function formatFamilies(list: FamilyList): string {
  if (list.families.length === 0) return 'no families of your team in the factory configuration\n';
  const rows = [[...HEADINGS], ...list.families.map(row)];
  const widths = HEADINGS.map((_, column) => Math.max(...rows.map((cells) => (cells[column] ?? '').length)));
  return `${rows.map((cells) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')).join('\n')}\n`;
}

export function registerSchedulesCommands(program: Command): void {
  const schedules = program.command('schedules').description(COMMANDS.schedules.description);

  withEndpoint(schedules.command('list').description("your team's families, their schedules, next runs and latest decisions").option('--json', 'print the API answer as it is')).action(
    async (options: Endpoint & { json?: boolean }) => {
      const list = await factoryClient(options).request<FamilyList>('GET', 'families');
      process.stdout.write(options.json ? `${JSON.stringify(list, null, 2)}\n` : formatFamilies(list));
    },
  );

  withEndpoint(
    schedules
      .command('run-now')
      .description('run a family now, as its schedule would: a build starts only when its bake key changed')
      .argument('<family>', 'a family of the factory configuration (factory.yml)')
      .option('--json', 'print the API answer as it is'),
  ).action(async (family: string, options: Endpoint & { json?: boolean }) => {
    const decision = await factoryClient(options).request<ScheduleDecision>('POST', `families/${encodeURIComponent(family)}/runs`);
    if (options.json) process.stdout.write(`${JSON.stringify(decision, null, 2)}\n`);
    else if (decision.decision === 'failed') {
      const details = decision.errors === undefined ? '' : `\n  ${formatFieldErrors(decision.errors, { whole: '(template)', separator: '\n  ' })}`;
      process.stderr.write(`${decision.family}: ${describeDecision(decision)}${details}\n`);
    } else process.stdout.write(`${decision.family}: ${describeDecision(decision)}\n`);
    if (decision.decision === 'failed') process.exitCode = 1;
  });
}
