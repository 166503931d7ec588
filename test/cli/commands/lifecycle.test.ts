/**
 * `ami-factory lifecycle`'s table: one line per image with its target, created time, action,
 * reason and outcome, then the snapshots, the failures and the places it could not look in.
 */
import { describe, expect, it } from 'vitest';
import { formatLifecycleReport } from '../../../cli/commands/lifecycle.ts';
import type { LifecycleImage, LifecycleReport } from '../../../contract/lifecycle.ts';

const image = (overrides: Partial<LifecycleImage>): LifecycleImage => ({
  accountId: '123456789012',
  region: 'us-east-1',
  imageId: 'ami-1',
  name: 'web-1',
  creationDate: '2030-06-01T03:04:05.000Z',
  buildId: 'b-1',
  action: 'keep',
  reason: 'newest 1 (#1)',
  deleteSnapshots: [],
  leftSnapshots: [],
  outcome: 'none',
  error: null,
  ...overrides,
});

const report = (overrides: Partial<LifecycleReport>): LifecycleReport => ({
  family: 'web',
  dryRun: false,
  evaluatedAt: '2030-06-30T00:00:00.000Z',
  settings: { keepNewest: 1, deregisterAfterDays: 30, keepTag: 'ami-factory:keep', skipInUse: true },
  locations: [{ accountId: '123456789012', region: 'us-east-1', images: 3, error: null }],
  images: [],
  ...overrides,
});

describe('the lifecycle table', () => {
  it('prints a line per image, aligned, and then the snapshots and failures', () => {
    const text = formatLifecycleReport(report({
      images: [
        image({}),
        image({ imageId: 'ami-22', name: 'web-0', accountId: '222222222222', action: 'deregister', reason: 'older than the newest 1 and 40 days old (deregister_after_days 30)', deleteSnapshots: ['snap-1'], leftSnapshots: [{ snapshotId: 'snap-2', reason: 'made by build b-0, not by b-1' }], outcome: 'done' }),
        image({ imageId: 'ami-3', action: 'deprecate', reason: 'older than the newest 1', outcome: 'failed', error: 'UnauthorizedOperation: no' }),
      ],
      locations: [
        { accountId: '123456789012', region: 'us-east-1', images: 2, error: null },
        { accountId: '333333333333', region: 'eu-west-1', images: 0, error: 'AccessDenied: cannot assume' },
      ],
    }));
    expect(text).toBe(`family web: newest 1 kept, older ones deprecated and deregistered after 30 days; ami-factory:keep keeps an image, as do instances using it

TARGET                  IMAGE   NAME   CREATED           ACTION      REASON                                                              OUTCOME
123456789012/us-east-1  ami-1   web-1  2030-06-01 03:04  keep        newest 1 (#1)                                                       none
222222222222/us-east-1  ami-22  web-0  2030-06-01 03:04  deregister  older than the newest 1 and 40 days old (deregister_after_days 30)  done
123456789012/us-east-1  ami-3   web-1  2030-06-01 03:04  deprecate   older than the newest 1                                             failed

ami-22: deletes snap-1
ami-22: leaves snap-2 (made by build b-0, not by b-1)
ami-3: failed: UnauthorizedOperation: no
333333333333/eu-west-1: not looked in, nothing there touched: AccessDenied: cannot assume
`);
  });

  it('says when nothing was found, and that a dry run changed nothing', () => {
    const text = formatLifecycleReport(report({ dryRun: true, settings: { keepNewest: 3, deregisterAfterDays: null, keepTag: 'pinned', skipInUse: false } }));
    expect(text).toBe('family web: newest 3 kept, older ones deprecated and never deregistered; pinned keeps an image\n\nno images of the family found\n\ndry run: nothing was changed\n');
  });
});
