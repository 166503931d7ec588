/**
 * One build's sandbox: its cgroup, its network (unless the template asked for none), and
 * the command lines that start bubblewrap inside both. Each resource is written into the
 * build's undo journal before it is made, so clean-up, and crash recovery after a SIGKILL,
 * remove it like any other change the build made.
 *
 * A command line is `sh -c` on the host: it moves itself into the build's cgroup, then
 * execs (nsenter into the build's network and) bwrap, so nothing the command starts is ever
 * outside the cgroup's limits, and opens the seccomp filter for bwrap on descriptor 3.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { UndoJournal } from '../chroot/journal.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import { shellQuote } from '../chroot/shell-quote.ts';
import { HOST_READ_ONLY, hostCommandSandboxArgs, imageSandboxArgs, SECCOMP_FD } from './bwrap-args.ts';
import { cgroupDirs, cgroupVersion, createCgroup, killCgroup, processesIn } from './cgroup.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandboxNetwork } from './network.ts';
import { networkNames, type SandboxAddressing, type SandboxNetworkNames } from './network-plan.ts';
import type { SandboxPolicy, SandboxSettings } from './policy.ts';
import { sandboxResolvers, type SandboxResolvers } from './resolvers.ts';
import { seccompFilterFor } from './seccomp-filter.ts';
import { sandboxTool } from './sandbox-tools.ts';
import { exists } from '../devices/fs-probe.ts';

/** Where the worker's own configuration lives: hidden from host commands. */
const WORKER_CONFIG_DIR = '/etc/ami-factory';

export interface OpenSandboxOptions {
  buildId: string;
  stateDir: string;
  lockDir: string;
  policy: SandboxPolicy;
  settings: SandboxSettings;
  journal: UndoJournal;
  log: Pick<BuildLog, 'step'>;
}

interface SandboxNetwork {
  names: SandboxNetworkNames;
  addressing: SandboxAddressing;
  resolvers: SandboxResolvers;
}

export class BuildSandbox {
  readonly cgroupDirs: readonly string[];
  readonly network: SandboxNetwork | undefined;
  readonly #seccompFilter: string;
  readonly #bwrap: string;
  readonly #nsenter: string;

  private constructor(fields: { cgroupDirs: string[]; network?: SandboxNetwork; seccompFilter: string; bwrap: string; nsenter: string }) {
    this.cgroupDirs = fields.cgroupDirs;
    this.network = fields.network;
    this.#seccompFilter = fields.seccompFilter;
    this.#bwrap = fields.bwrap;
    this.#nsenter = fields.nsenter;
  }

  static async open(options: OpenSandboxOptions): Promise<BuildSandbox> {
    const { journal, settings, log } = options;
    const [seccompFilter, bwrap, nsenter, version] = await Promise.all([
      seccompFilterFor(options.stateDir),
      sandboxTool('bwrap'),
      sandboxTool('nsenter'),
      cgroupVersion(),
    ]);
    const dirs = cgroupDirs(version, `build-${options.buildId}`);
    const names = settings.network === 'egress' ? networkNames(options.buildId) : undefined;
    // Recorded before either is made; then made side by side (they are independent).
    await journal.record({ kind: 'remove-sandbox', cgroupDirs: dirs, network: names ?? null });
    const makeNetwork = async (): Promise<SandboxNetwork | undefined> => {
      if (!names) return undefined;
      const resolvers = await sandboxResolvers();
      const addressing = await createSandboxNetwork({
        names, pool: options.policy.subnetPool, resolvers: resolvers.nameservers, blocked: options.policy.blockedAddresses, lockDir: options.lockDir,
      });
      return { names, addressing, resolvers };
    };
    // Settled both before any failure is thrown: clean-up must not race a half-made resource.
    const [cgroup, made] = await Promise.allSettled([createCgroup(version, dirs, settings.limits), makeNetwork()]);
    if (cgroup.status === 'rejected') throw cgroup.reason;
    if (made.status === 'rejected') throw made.reason;
    const network = made.value;
    const { limits } = settings;
    log.step('sandbox', `cgroup ${version}: memory ${String(limits.memoryBytes / 1024 / 1024)} MiB, ` +
      `${String(limits.maxProcesses)} processes, cpu weight ${String(limits.cpuWeight)}`);
    log.step('sandbox', network
      ? `network ${network.addressing.subnet} (namespace ${network.names.netns}), NAT out; ${network.resolvers.note}`
      : 'no network (loopback only), as the template asked');
    return new BuildSandbox({ cgroupDirs: dirs, network, seccompFilter, bwrap, nsenter });
  }

  /** Joins the cgroup, then execs `program` with the filter on its descriptor 3. */
  #line(program: readonly string[]): string {
    const join = this.cgroupDirs.map((dir) => `echo $$ > ${shellQuote(`${dir}/cgroup.procs`)}`).join(' && ');
    return `${join} && exec ${program.map(shellQuote).join(' ')} ${String(SECCOMP_FD)}< ${shellQuote(this.#seccompFilter)}`;
  }

  /** The host shell line that runs `command` (an argv) with the image at `root` as `/`. */
  imageCommand(root: string, command: readonly string[]): string {
    const network = this.network;
    const enter = network === undefined ? [] : [this.#nsenter, `--net=/run/netns/${network.names.netns}`, '--'];
    const args = imageSandboxArgs({ root, network: network === undefined ? 'none' : 'namespace-given', command });
    return this.#line([...enter, this.#bwrap, ...args]);
  }

  /** The host shell line for an allowed host command: it sees the build's device and mount point only. */
  async hostCommand(command: readonly string[], scope: { device: string; mountPath?: string }): Promise<string> {
    const readOnly = [];
    for (const dir of HOST_READ_ONLY) if (await exists(dir)) readOnly.push(dir);
    const hidden = (await exists(WORKER_CONFIG_DIR)) ? [WORKER_CONFIG_DIR] : [];
    const devices = await deviceAndPartitions(scope.device);
    return this.#line([this.#bwrap, ...hostCommandSandboxArgs({ readOnly, hidden, devices, mountPath: scope.mountPath, command })]);
  }

  /**
   * Ends everything still running in the build's cgroup; returns the pids it ended. The
   * sandbox's PID namespace ends with its command, and the kernel takes a moment to empty
   * the cgroup of processes already dying: those are not reported as left behind.
   */
  async endLeftovers(): Promise<number[]> {
    for (let waited = 0; waited < 200; waited += 10) {
      if ((await processesIn(this.cgroupDirs)).length === 0) return [];
      await sleep(10);
    }
    return killCgroup(this.cgroupDirs);
  }
}

/** `/dev/loop3` and `/dev/loop3p1`..., `/dev/xvdf` and `/dev/xvdf1`...: the build's own nodes. */
export async function deviceAndPartitions(device: string): Promise<string[]> {
  const name = basename(device);
  const partition = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${/\d$/.test(name) ? 'p' : ''}\\d+$`);
  const dir = dirname(device);
  const partitions = (await readdir(dir)).filter((entry) => partition.test(entry)).map((entry) => join(dir, entry));
  return [device, ...partitions];
}
