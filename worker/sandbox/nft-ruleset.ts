/**
 * The nftables table of one build's network: NAT out through the host's default route, and
 * the addresses a sandbox must never reach. One table per build, named after it, so
 * removing the build's network is deleting its table, and builds never edit a shared one.
 *
 * Blocked: the host itself on any of its addresses (the input hook: loopback services, the
 * worker, the host's side of the veth), link-local addresses (instance metadata at
 * 169.254.169.254, the ECS credentials endpoint, the time service), EC2's IPv6 metadata
 * address fd00:ec2::254, the other sandboxes' subnets, and the operator's extra list. DNS to
 * the sandbox's resolvers is let through first, since on EC2 the resolver may itself be a
 * link-local (169.254.169.253) or a host address.
 */
import { isIPv6 } from 'node:net';
import type { SandboxAddressing, SandboxNetworkNames } from './network-plan.ts';

export const ALWAYS_BLOCKED = ['169.254.0.0/16', 'fd00:ec2::254'] as const;

const isV6 = (entry: string): boolean => isIPv6(entry.split('/')[0] ?? '');
const set = (items: readonly string[]): string => `{ ${items.join(', ')} }`;

export interface RulesetInput {
  names: SandboxNetworkNames;
  addressing: SandboxAddressing;
  /** IPv4 resolvers the sandbox may send DNS to. */
  resolvers: readonly string[];
  /** Operator's additions to ALWAYS_BLOCKED (addresses or prefixes, IPv4 or IPv6). */
  blocked: readonly string[];
  /** The pool every sandbox subnet comes from: one sandbox never reaches another. */
  pool: string;
  /** Prefix of every sandbox's host-side interface name. */
  interfacePrefix: string;
}

export function nftRuleset(input: RulesetInput): string {
  const { names, addressing, resolvers } = input;
  const fromSandbox = `iifname "${names.hostVeth}"`;
  const blocked = [...ALWAYS_BLOCKED, input.pool, ...input.blocked];
  const blocked4 = blocked.filter((entry) => !isV6(entry));
  const blocked6 = blocked.filter(isV6);
  const dns = resolvers.length === 0 ? [] : [
    `${fromSandbox} ip daddr ${set(resolvers)} udp dport 53 accept`,
    `${fromSandbox} ip daddr ${set(resolvers)} tcp dport 53 accept`,
  ];
  const chain = (name: string, hook: string, rules: readonly string[]): string =>
    [`  chain ${name} {`, `    ${hook}`, ...rules.map((rule) => `    ${rule}`), '  }'].join('\n');
  return [
    `table inet ${names.table} {`,
    chain('input', 'type filter hook input priority filter - 10; policy accept;', [...dns, `${fromSandbox} drop`]),
    chain('forward', 'type filter hook forward priority filter - 10; policy accept;', [
      ...dns,
      `${fromSandbox} ip daddr ${set(blocked4)} drop`,
      ...(blocked6.length > 0 ? [`${fromSandbox} ip6 daddr ${set(blocked6)} drop`] : []),
      `${fromSandbox} oifname "${input.interfacePrefix}*" drop`,
      // Only IPv4 is routed for a sandbox.
      `${fromSandbox} meta nfproto ipv6 drop`,
    ]),
    chain('postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [
      `ip saddr ${addressing.subnet} oifname != "${names.hostVeth}" masquerade`,
    ]),
    '}',
    '',
  ].join('\n');
}
