/**
 * Where a chroot host keeps its working state. One host may run many builds at once; each
 * gets its own journal, lock and mount path below these roots, so tests (and several
 * factories on one machine) isolate themselves by pointing at different roots.
 */
import { join } from 'node:path';
import { DEFAULT_SANDBOX_POLICY, type SandboxPolicy } from '../sandbox/policy.ts';
import { DEFAULT_MOUNT_ROOT } from '../../model/builder.ts';

export interface HostConfig {
  /** Journals of running builds, device locks and per-build logs. */
  stateDir: string;
  /** Every build mounts its volume below this directory, and nowhere else. */
  mountRoot: string;
  /** The sandbox's defaults, maxima and blocked addresses; DEFAULT_SANDBOX_POLICY where unset. */
  sandbox?: Partial<SandboxPolicy>;
}

export const DEFAULT_HOST_CONFIG: HostConfig = {
  stateDir: '/var/lib/ami-factory',
  mountRoot: DEFAULT_MOUNT_ROOT,
};

export const journalDir = (host: HostConfig): string => join(host.stateDir, 'runs');
export const lockDir = (host: HostConfig): string => join(host.stateDir, 'locks');
export const buildLogPath = (host: HostConfig, buildId: string): string =>
  join(host.stateDir, 'logs', `${buildId}.log`);
export const sandboxPolicyOf = (host: HostConfig): SandboxPolicy => ({ ...DEFAULT_SANDBOX_POLICY, ...host.sandbox });
