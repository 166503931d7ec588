/**
 * What the host operator decides about sandboxes (worker config `sandbox`): the limits a
 * build gets when its template says nothing, the most it may ask for, the extra addresses
 * no sandbox may reach, and the pool its subnets come from. A template's `sandbox` block
 * chooses within these; asking for more is an error naming the field and the maximum.
 */
import type { SandboxOptions } from '../../model/types.ts';
import type { CgroupLimits } from './cgroup.ts';

export interface SandboxLimitsMiB {
  memoryMb: number;
  maxProcesses: number;
  cpuWeight: number;
}

export interface SandboxPolicy {
  /** Only `ami-factory chroot --no-sandbox` turns it off; a worker always sandboxes. */
  enabled: boolean;
  defaults: SandboxLimitsMiB;
  maxima: SandboxLimitsMiB;
  /** Addresses or prefixes (IPv4 or IPv6) added to what no sandbox may reach. */
  blockedAddresses: string[];
  /** IPv4 prefix the builds' /30 subnets are taken from; must not overlap the host's networks. */
  subnetPool: string;
}

export const DEFAULT_SANDBOX_POLICY: SandboxPolicy = {
  enabled: true,
  defaults: { memoryMb: 2048, maxProcesses: 1024, cpuWeight: 100 },
  maxima: { memoryMb: 8192, maxProcesses: 4096, cpuWeight: 1000 },
  blockedAddresses: [],
  subnetPool: '10.213.0.0/16',
};

export interface SandboxSettings {
  limits: CgroupLimits;
  network: SandboxOptions['network'];
}

/** The limits a build gets: its template's within the host's maxima, else the defaults. */
export function sandboxSettingsFor(options: SandboxOptions, policy: SandboxPolicy, field = 'sandbox'): SandboxSettings {
  const pick = (name: keyof Omit<SandboxOptions, 'network'>, key: keyof SandboxLimitsMiB, unit: string): number => {
    const asked = options[name];
    if (asked === undefined) return policy.defaults[key];
    if (asked > policy.maxima[key]) {
      throw new Error(`${field}.${name} asks for ${String(asked)}${unit}; this factory allows at most ${String(policy.maxima[key])}${unit}`);
    }
    return asked;
  };
  return {
    limits: {
      memoryBytes: pick('memory_mb', 'memoryMb', ' MiB') * 1024 * 1024,
      maxProcesses: pick('max_processes', 'maxProcesses', ' processes'),
      cpuWeight: pick('cpu_weight', 'cpuWeight', ''),
    },
    network: options.network,
  };
}
