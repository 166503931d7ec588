/**
 * Crash recovery: before a host builds anything, it undoes what dead runs left behind.
 * A run killed with SIGKILL (or a host that lost power) leaves its journal, and in it
 * the exact list of mounts, loop devices and image files to restore; processes it started
 * in the chroot are ended as the mounts come down. Locks of dead owners are broken.
 */
import { rm } from 'node:fs/promises';
import { withHostLock } from '../devices/host-lock.ts';
import { breakLocksOfDeadOwners } from '../devices/owned-lock.ts';
import type { BuildLog } from './build-log.ts';
import { journalDir, lockDir, type HostConfig } from './host-config.ts';
import { UndoJournal } from './journal.ts';
import { isProcessAlive } from '../devices/process-identity.ts';
import { unwind, type UnwindFailure } from './undo.ts';

export interface RecoveryReport {
  recoveredBuilds: string[];
  brokenLocks: string[];
  failures: (UnwindFailure & { buildId: string })[];
}

export async function recoverHost(host: HostConfig, log?: Pick<BuildLog, 'step' | 'warn'>): Promise<RecoveryReport> {
  const report: RecoveryReport = { recoveredBuilds: [], brokenLocks: [], failures: [] };
  report.brokenLocks = await breakLocksOfDeadOwners(lockDir(host));
  // Under the host lock: several builds starting after a crash must not undo the same
  // journal at once.
  await withHostLock(lockDir(host), async () => {
    for (const found of await UndoJournal.listAll(journalDir(host))) {
      if (!found.journal) {
        log?.warn('recover', `unreadable journal ${found.path} left as it is: ${found.error ?? ''}`);
        continue;
      }
      const { journal } = found;
      if (await isProcessAlive(journal.owner)) continue;
      log?.step('recover', `undoing what build ${journal.buildId} (pid ${journal.owner.pid}, no longer running) left`);
      const failures = await unwind(journal, (action) => log?.step('recover', action));
      if (failures.length === 0) report.recoveredBuilds.push(journal.buildId);
      report.failures.push(...failures.map((f) => ({ ...f, buildId: journal.buildId })));
    }
  });
  return report;
}

/** For tests and operators: is there anything on this host that a build left behind? */
export async function forgetJournal(path: string): Promise<void> {
  await rm(path, { force: true });
}
