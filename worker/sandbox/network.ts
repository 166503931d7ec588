/**
 * A build's own network: a namespace with a veth pair to the host, NAT out through the
 * host's default route, and the nftables table that keeps it away from the host, instance
 * metadata and other builds (nft-ruleset.ts). Created under the host lock, so concurrent
 * builds never pick the same subnet; the caller records `networkNames` in the undo journal
 * first, and `removeSandboxNetwork` deletes whatever of it exists.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { withHostLock } from '../devices/host-lock.ts';
import { runSystemTool } from '../devices/system-tool.ts';
import { nftRuleset } from './nft-ruleset.ts';
import {
  addressingAt, freeSlot, INTERFACE_PREFIX, parsePool, type SandboxAddressing, type SandboxNetworkNames,
} from './network-plan.ts';
import { runCheckedWithInput } from './tool-input.ts';
import { exists } from '../devices/fs-probe.ts';

export interface SandboxNetworkOptions {
  names: SandboxNetworkNames;
  pool: string;
  resolvers: readonly string[];
  blocked: readonly string[];
  lockDir: string;
}

/**
 * The host's own IPv4 addresses, from the kernel's routing trie (each local address is a
 * `/32 host LOCAL` leaf): read in a file, without starting `ip` for it.
 */
async function hostIPv4Addresses(): Promise<string[]> {
  const trie = await readFile('/proc/net/fib_trie', 'utf8');
  return [...trie.matchAll(/\|-- (\d+\.\d+\.\d+\.\d+)\n\s+\/32 host LOCAL/g)].flatMap((match) => match[1] ?? []);
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Routing for NAT: switched on once and left on, since other builds may be using it. */
async function enableForwarding(): Promise<void> {
  if ((await readFile(IP_FORWARD, 'utf8')).trim() !== '1') await writeFile(IP_FORWARD, '1');
}

export async function createSandboxNetwork(options: SandboxNetworkOptions): Promise<SandboxAddressing> {
  const { names } = options;
  const pool = parsePool(options.pool);
  const addressing = await withHostLock(options.lockDir, async () => {
    const chosen = addressingAt(pool, freeSlot(pool, await hostIPv4Addresses()));
    await runCheckedWithInput('creating the sandbox network', 'ip', ['-batch', '-'], [
      `netns add ${names.netns}`,
      `link add ${names.hostVeth} type veth peer name eth0 netns ${names.netns}`,
      `addr add ${chosen.gateway}/30 dev ${names.hostVeth}`,
      `link set ${names.hostVeth} up`,
      '',
    ].join('\n'));
    return chosen;
  });
  const ruleset = nftRuleset({
    names, addressing, resolvers: options.resolvers, blocked: options.blocked, pool: options.pool, interfacePrefix: INTERFACE_PREFIX,
  });
  // Independent of each other; nothing runs in the namespace until both are done.
  await Promise.all([
    runCheckedWithInput('configuring the sandbox network', 'ip', ['-n', names.netns, '-batch', '-'], [
      'link set lo up',
      `addr add ${addressing.address}/30 dev eth0`,
      'link set eth0 up',
      `route add default via ${addressing.gateway}`,
      '',
    ].join('\n')),
    runCheckedWithInput('filtering the sandbox network', 'nft', ['-f', '-'], ruleset),
    enableForwarding(),
  ]);
  return addressing;
}

const ABSENT = /No such file or directory|Cannot find device|does not exist/;

async function deleteIfPresent(what: string, file: string, args: readonly string[]): Promise<void> {
  const result = await runSystemTool(file, args);
  if (result.exitCode !== 0 && !ABSENT.test(result.stderr)) {
    throw new Error(`removing ${what} failed: ${[file, ...args].join(' ')}: ${result.stderr}`);
  }
}

/** Removes the build's table, namespace and veth pair, each only if it is there. */
export async function removeSandboxNetwork(names: SandboxNetworkNames): Promise<void> {
  await Promise.all([
    deleteIfPresent(`nftables table ${names.table}`, 'nft', ['delete', 'table', 'inet', names.table]),
    deleteIfPresent(`network namespace ${names.netns}`, 'ip', ['netns', 'delete', names.netns]),
  ]);
  // Deleting the namespace deletes its end of the pair and so the pair; a namespace that was
  // never made (a crash between the two) leaves the host end, if any, to remove here.
  if (await exists(`/sys/class/net/${names.hostVeth}`)) {
    await deleteIfPresent(`interface ${names.hostVeth}`, 'ip', ['link', 'delete', names.hostVeth]);
  }
}

