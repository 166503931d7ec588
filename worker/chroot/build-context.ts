/**
 * What the steps of one chroot build share, filled in as they run (Packer's state bag,
 * typed). A step that needs a value an earlier step provides asks with `required`.
 */
import type { BuildGrants } from '../../contract/bundle.ts';
import type { BuildRequest } from '../../model/types.ts';
import type { BuildSandbox } from '../sandbox/build-sandbox.ts';
import type { BuildLog } from './build-log.ts';
import type { HostConfig } from './host-config.ts';
import type { UndoJournal } from './journal.ts';

/** Where the root volume comes from: a local disk image, or a device already attached. */
export type VolumeSource = { kind: 'image'; imagePath: string } | { kind: 'device'; devicePath: string };

export interface BuildContext {
  readonly buildId: string;
  readonly request: BuildRequest;
  readonly host: HostConfig;
  readonly source: VolumeSource;
  readonly journal: UndoJournal;
  readonly log: BuildLog;
  /** Aborted when the build is cancelled: the running command is killed, then clean-up runs. */
  readonly signal: AbortSignal;
  /** What the factory allows this build beyond a template's defaults (host-side commands). */
  readonly grants: BuildGrants;
  /** The build's sandbox, once opened; absent only when sandboxing is turned off (`--no-sandbox`). */
  sandbox?: BuildSandbox;
  /** The whole block device, e.g. /dev/loop3 or /dev/nvme1n1. */
  device?: string;
  /** The root of the chroot on the host. */
  mountPath?: string;
}

export function required<K extends 'device' | 'mountPath'>(context: BuildContext, key: K): NonNullable<BuildContext[K]> {
  const value = context[key];
  if (value === undefined) throw new Error(`internal: ${key} is needed before the step that provides it ran`);
  return value;
}

/** One step of a chroot build. Its changes are recorded in the journal, which undoes them. */
export interface ChrootStep {
  readonly name: string;
  run(context: BuildContext): Promise<void>;
}
