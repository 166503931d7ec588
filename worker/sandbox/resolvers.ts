/**
 * The name servers a sandbox may ask. Its network namespace has its own loopback, so a
 * host whose resolv.conf names a loopback stub (systemd-resolved's 127.0.0.53) cannot lend
 * it: the sandbox gets the stub's upstream servers instead (systemd-resolved writes them to
 * /run/systemd/resolve/resolv.conf), and the image gets a resolv.conf naming them. On EC2
 * the upstream is the VPC resolver (169.254.169.253 or the VPC's base + 2).
 */
import { isIPv4 } from 'node:net';
import { readFile } from 'node:fs/promises';

export const HOST_RESOLV_CONF = '/etc/resolv.conf';
export const UPSTREAM_RESOLV_CONF = '/run/systemd/resolve/resolv.conf';

export interface SandboxResolvers {
  /** IPv4 name servers the sandbox may send DNS to (it has no IPv6 route). */
  nameservers: string[];
  /** A resolv.conf to give the image instead of the host's, when the host's names a loopback stub. */
  replacement?: string;
  /** Said in the build log: which servers, and whether the host's were replaced. */
  note: string;
}

const nameserversOf = (text: string): string[] =>
  text.split('\n').flatMap((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1] ?? []);

const isLoopback = (address: string): boolean => address.startsWith('127.') || address === '::1';

export async function sandboxResolvers(hostFile = HOST_RESOLV_CONF, upstreamFile = UPSTREAM_RESOLV_CONF): Promise<SandboxResolvers> {
  const host = await readFile(hostFile, 'utf8').catch(() => '');
  const hostServers = nameserversOf(host);
  if (!hostServers.some(isLoopback)) {
    const nameservers = hostServers.filter((s) => isIPv4(s));
    return { nameservers, note: `DNS to ${nameservers.join(', ') || '(none)'} (the host's resolvers)` };
  }
  const upstream = nameserversOf(await readFile(upstreamFile, 'utf8').catch(() => '')).filter((s) => isIPv4(s) && !isLoopback(s));
  if (upstream.length === 0) {
    return {
      nameservers: [],
      replacement: '',
      note: `the host resolves through a loopback stub (${hostServers.join(', ')}) with no upstream in ${upstreamFile}: the sandbox has no DNS`,
    };
  }
  const kept = host.split('\n').filter((line) => !/^\s*nameserver\s/.test(line));
  const replacement = [...upstream.map((server) => `nameserver ${server}`), ...kept].join('\n');
  return {
    nameservers: upstream,
    replacement,
    note: `the host's resolver ${hostServers.filter(isLoopback).join(', ')} is a loopback stub: the sandbox uses its upstream ${upstream.join(', ')}`,
  };
}
