/**
 * Where a chroot host keeps its working state. One host may run many builds at once; each
 * gets its own journal, lock and mount path below these roots, so tests (and several
 * factories on one machine) isolate themselves by pointing at different roots.
 */
import { join } from 'node:path';

export interface HostConfig {
  /** Journals of running builds, device locks and per-build logs. */
  stateDir: string;
  /** Every build mounts its volume below this directory, and nowhere else. */
  mountRoot: string;
}

/** Packer's own mount directory, so operators find volumes where Packer users look. */
export const DEFAULT_HOST_CONFIG: HostConfig = {
  stateDir: '/var/lib/ami-factory',
  mountRoot: '/mnt/packer-amazon-chroot-volumes',
};

export const journalDir = (host: HostConfig): string => join(host.stateDir, 'runs');
export const lockDir = (host: HostConfig): string => join(host.stateDir, 'locks');
export const buildLogPath = (host: HostConfig, buildId: string): string =>
  join(host.stateDir, 'logs', `${buildId}.log`);
