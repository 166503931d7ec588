/**
 * Names and addresses of one build's network: a namespace, a veth pair whose host side is
 * `amif<hash>`, an nftables table `amif_<hash>`, and a /30 from the host's pool (host side
 * .1, sandbox .2). Names come from the build id, so crash recovery finds them from the
 * journal alone; the subnet is chosen among the ones no interface on the host holds.
 */
import { createHash } from 'node:crypto';

export const INTERFACE_PREFIX = 'amif';

export interface SandboxNetworkNames {
  netns: string;
  hostVeth: string;
  table: string;
}

export interface SandboxAddressing {
  /** e.g. 10.213.0.4/30 */
  subnet: string;
  gateway: string;
  address: string;
}

export function networkNames(buildId: string): SandboxNetworkNames {
  const hash = createHash('sha256').update(buildId).digest('hex').slice(0, 10);
  // Interface names are at most 15 bytes.
  return { netns: `${INTERFACE_PREFIX}-${hash}`, hostVeth: `${INTERFACE_PREFIX}${hash}`, table: `${INTERFACE_PREFIX}_${hash}` };
}

const toNumber = (address: string): number =>
  address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
const toAddress = (value: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');

export interface SubnetPool {
  base: number;
  slots: number;
}

export function parsePool(pool: string): SubnetPool {
  const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(pool);
  const prefix = Number(match?.[2]);
  if (!match?.[1] || prefix > 30 || prefix < 8) throw new Error(`the sandbox subnet pool ${pool} must be an IPv4 prefix between /8 and /30`);
  const size = 2 ** (32 - prefix);
  return { base: toNumber(match[1]) - (toNumber(match[1]) % size), slots: size / 4 };
}

export function addressingAt(pool: SubnetPool, slot: number): SandboxAddressing {
  const network = pool.base + slot * 4;
  return { subnet: `${toAddress(network)}/30`, gateway: toAddress(network + 1), address: toAddress(network + 2) };
}

/** The first /30 of the pool that none of `hostAddresses` lies in. */
export function freeSlot(pool: SubnetPool, hostAddresses: readonly string[]): number {
  const used = new Set(
    hostAddresses
      .map(toNumber)
      .filter((value) => value >= pool.base && value < pool.base + pool.slots * 4)
      .map((value) => Math.floor((value - pool.base) / 4)),
  );
  for (let slot = 0; slot < pool.slots; slot++) if (!used.has(slot)) return slot;
  throw new Error('every subnet of the sandbox pool is in use: too many builds on this host at once');
}
