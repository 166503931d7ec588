/**
 * Choosing the device name for AttachVolume on a chroot host. Pure: the caller gathers the
 * local device nodes, the instance's EC2 attachments and the names leased by other builds.
 *
 * Candidates are /dev/sd[f-z]. AWS recommends /dev/sd[f-p] for EBS volumes on HVM and lists
 * all of /dev/sd[a-z] as available; Packer stops at p, which caps a host at 11 builds
 * including leftovers. f-p come first; q-z are used only when f-p are all taken. (On the
 * few instance types whose instance store reaches past sde, those names show up as local
 * nodes or mappings and are skipped like any other.)
 *
 * A name is taken when the host, EC2 or another build uses it under either spelling: Xen
 * kernels rename sdX to xvdX, and EC2 keeps whichever spelling the attach call used. Hosts
 * whose kernels shift the xvd letters (old RHEL 6 kernels: sdf became xvdj) are not
 * supported; on NVMe (Nitro) hosts the local node has another name altogether and the
 * local-node check only catches leftovers under sd/xvd names, which is why the EC2
 * attachments are consulted too.
 */

export type AttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';

export interface Ec2Attachment {
  deviceName: string;
  volumeId: string;
  state: AttachmentState;
}

export interface DeviceNameScan {
  /** Base names of the nodes in the host's /dev (sdf, xvdg, nvme1n1, ...). */
  localNodes: Iterable<string>;
  /** The instance's block-device mappings and volume attachments as EC2 reports them. */
  attachments: readonly Ec2Attachment[];
  /** Device names (any spelling) leased by running builds on this host. */
  leased: Iterable<string>;
  candidates?: readonly string[];
}

export interface TakenDeviceName {
  deviceName: string;
  reasons: string[];
}

const letters = (from: string, to: string): string[] =>
  Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) =>
    String.fromCharCode(from.charCodeAt(0) + i),
  );

export const DEFAULT_CANDIDATES: readonly string[] = letters('f', 'z').map(
  (letter) => `/dev/sd${letter}`,
);

export class NoFreeDeviceNameError extends Error {
  readonly taken: readonly TakenDeviceName[];

  constructor(taken: readonly TakenDeviceName[]) {
    const lines = taken.map((t) => `  ${t.deviceName}: ${t.reasons.join('; ')}`);
    super(`no free device name for attaching a volume on this host:\n${lines.join('\n')}`);
    this.name = 'NoFreeDeviceNameError';
    this.taken = taken;
  }
}

/**
 * The drive letter behind a device name under either spelling, partitions included:
 * "/dev/sdf", "xvdf", "/dev/sdf1" -> "f". undefined for other names (nvme1n1, xvdba).
 */
export function driveLetter(deviceName: string): string | undefined {
  return /^(?:\/dev\/)?(?:sd|xvd)([a-z])\d*$/.exec(deviceName)?.[1];
}

/** /dev/sdf for any spelling of drive f: the one name device leases are taken under. */
export function canonicalDeviceName(deviceName: string): string {
  return `/dev/sd${requireLetter(deviceName)}`;
}

function requireLetter(deviceName: string): string {
  const letter = driveLetter(deviceName);
  if (letter === undefined) throw new Error(`${deviceName} is not an EC2 sd/xvd device name`);
  return letter;
}

export function scanDeviceNames(scan: DeviceNameScan): { free: string[]; taken: TakenDeviceName[] } {
  const reasonsByLetter = new Map<string, string[]>();
  const add = (name: string, reason: string): void => {
    const letter = driveLetter(name);
    if (letter === undefined) return;
    const reasons = reasonsByLetter.get(letter) ?? [];
    reasons.push(reason);
    reasonsByLetter.set(letter, reasons);
  };
  for (const node of scan.localNodes) {
    // Partition nodes (sdf1) only exist beside their disk's node, which already counts.
    if (!/\d$/.test(node)) add(node, `local node /dev/${node} exists`);
  }
  for (const a of scan.attachments) {
    if (a.state !== 'detached') add(a.deviceName, `EC2 has ${a.volumeId} ${a.state} as ${a.deviceName}`);
  }
  for (const name of scan.leased) add(name, `leased by another build on this host`);

  const free: string[] = [];
  const taken: TakenDeviceName[] = [];
  for (const candidate of scan.candidates ?? DEFAULT_CANDIDATES) {
    const reasons = reasonsByLetter.get(requireLetter(candidate));
    if (reasons === undefined) free.push(candidate);
    else taken.push({ deviceName: candidate, reasons });
  }
  return { free, taken };
}

/** The first free candidate, or NoFreeDeviceNameError saying why each one is taken. */
export function pickFreeDeviceName(scan: DeviceNameScan): string {
  const { free, taken } = scanDeviceNames(scan);
  const first = free[0];
  if (first === undefined) throw new NoFreeDeviceNameError(taken);
  return first;
}
