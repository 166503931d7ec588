/**
 * `ami-factory lifecycle FAMILY [--dry-run]`: run a family's lifecycle through the API (its team
 * or an admin may) and print what was done to each of its images, or with --dry-run what would
 * be, as a table. Exit code 1 when an action failed or a place could not be looked in.
 */
import type { Command } from 'commander';
import type { LifecycleImage, LifecycleReport } from '../../contract/lifecycle.ts';
import { COMMANDS } from '../command-catalog.ts';
import { factoryClient, withEndpoint, type Endpoint } from './api-options.ts';

const HEADINGS = ['TARGET', 'IMAGE', 'NAME', 'CREATED', 'ACTION', 'REASON', 'OUTCOME'] as const;

/** `2030-06-30T12:00:05.000Z` -> `2030-06-30 12:00`; anything else as it is. */
const created = (iso: string): string => (/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(iso) ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso);

const row = (entry: LifecycleImage): string[] => [
  `${entry.accountId}/${entry.region}`,
  entry.imageId,
  entry.name,
  created(entry.creationDate),
  entry.action,
  entry.reason,
  entry.outcome,
];

function table(rows: readonly (readonly string[])[]): string {
  const widths = HEADINGS.map((_, column) => Math.max(...rows.map((cells) => (cells[column] ?? '').length)));
  return rows.map((cells) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd()).join('\n');
}

function settingsLine(report: LifecycleReport): string {
  const { keepNewest, deregisterAfterDays, keepTag, skipInUse } = report.settings;
  const after = deregisterAfterDays === null ? 'never deregistered' : `deregistered after ${deregisterAfterDays} days`;
  return `family ${report.family}: newest ${keepNewest} kept, older ones deprecated and ${after}; ${keepTag} keeps an image${skipInUse ? ', as do instances using it' : ''}`;
}

/** The report for people: a line of settings, the table, then snapshots, failures and what could not be looked in. */
export function formatLifecycleReport(report: LifecycleReport): string {
  const lines = [settingsLine(report), ''];
  if (report.images.length === 0) lines.push('no images of the family found');
  else lines.push(table([HEADINGS, ...report.images.map(row)]));
  const notes: string[] = [];
  for (const entry of report.images) {
    if (entry.deleteSnapshots.length > 0) notes.push(`${entry.imageId}: ${report.dryRun ? 'would delete' : 'deletes'} ${entry.deleteSnapshots.join(', ')}`);
    for (const left of entry.leftSnapshots) notes.push(`${entry.imageId}: leaves ${left.snapshotId} (${left.reason})`);
    if (entry.error !== null) notes.push(`${entry.imageId}: failed: ${entry.error}`);
  }
  for (const location of report.locations) {
    if (location.error !== null) notes.push(`${location.accountId}/${location.region}: not looked in, nothing there touched: ${location.error}`);
  }
  if (notes.length > 0) lines.push('', ...notes);
  if (report.dryRun) lines.push('', 'dry run: nothing was changed');
  return `${lines.join('\n')}\n`;
}

export function registerLifecycleCommand(program: Command): void {
  withEndpoint(
    program
      .command('lifecycle')
      .description(COMMANDS.lifecycle.description)
      .argument('<family>', 'a family of the factory configuration (factory.yml)')
      .option('--dry-run', 'list what would be done, change nothing')
      .option('--json', 'print the API answer as it is'),
  ).action(async (family: string, options: Endpoint & { dryRun?: boolean; json?: boolean }) => {
    const report = await factoryClient(options).request<LifecycleReport>('POST', `families/${encodeURIComponent(family)}/lifecycle`, {
      body: { dryRun: options.dryRun === true },
    });
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatLifecycleReport(report));
    if (report.images.some((entry) => entry.outcome === 'failed') || report.locations.some((location) => location.error !== null)) process.exitCode = 1;
  });
}
