/**
 * Packer's `shell-local` provisioner, on the chroot host outside the image: a host-side
 * command like pre/post_mount_commands, so only a build granted host commands has one
 * (host-command-grants.ts), and it runs in the same host-command sandbox (the host's
 * programs read-only, a private /tmp, no network, of the host's devices and mounts only the
 * build's own). The script reaches the sandbox through the environment and is written into
 * its private /tmp, where `{{.Script}}` names it; `execute_command` then runs as an argument
 * list, as Packer runs it. PACKER_BUILD_NAME, PACKER_BUILDER_TYPE and
 * PACKER_CHROOT_MOUNT_PATH (the chroot's root on the host) are in its environment.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderHostTemplate } from '../../model/index.ts';
import type { ShellLocalProvisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import { withEnvironment } from '../chroot/communicator.ts';
import { runShellCommand } from '../chroot/shell-command.ts';
import { shellQuote } from '../chroot/shell-quote.ts';
import type { BuildSandbox } from '../sandbox/build-sandbox.ts';
import { ProvisionerError } from './provisioner-error.ts';
import { renderVars } from './shell.ts';

/** Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN). */
const MAX_SCRIPT_BYTES = 96 * 1024;
const SCRIPT_VARIABLE = 'PACKER_SHELL_LOCAL_SCRIPT';

export interface HostSide {
  device: string;
  mountPath: string;
  log: BuildLog;
  signal?: AbortSignal;
  /** Absent only under `--no-sandbox`. */
  sandbox?: BuildSandbox;
}

export function shellLocalEnvironment(provisioner: ShellLocalProvisioner, buildName: string, mountPath: string): Map<string, string> {
  const vars = new Map<string, string>([
    ['PACKER_BUILD_NAME', buildName],
    ['PACKER_BUILDER_TYPE', 'amazon-chroot'],
    ['PACKER_CHROOT_MOUNT_PATH', mountPath],
  ]);
  for (const assignment of provisioner.environment_vars) {
    const equals = assignment.indexOf('=');
    vars.set(assignment.slice(0, equals), assignment.slice(equals + 1));
  }
  for (const [name, value] of Object.entries(provisioner.env)) vars.set(name, value);
  return vars;
}

async function scriptsOf(provisioner: ShellLocalProvisioner): Promise<{ label: string; content: string }[]> {
  if (provisioner.inline) {
    return [{ label: 'inline', content: [`#!${provisioner.inline_shebang}`, ...provisioner.inline, ''].join('\n') }];
  }
  return Promise.all(provisioner.scripts.map(async (path) => ({ label: basename(path), content: await readFile(path, 'utf8') })));
}

export async function runShellLocalProvisioner(provisioner: ShellLocalProvisioner, host: HostSide, buildName: string): Promise<void> {
  const name = `provisioners[${provisioner.index}] (shell-local)`;
  const { log } = host;
  if (provisioner.pause_before_ms > 0) {
    log.step(name, `pausing ${provisioner.pause_before_ms} ms before running`);
    await sleep(provisioner.pause_before_ms);
  }
  const environment = shellLocalEnvironment(provisioner, buildName, host.mountPath);
  const vars = renderVars(environment);
  for (const script of await scriptsOf(provisioner)) {
    if (Buffer.byteLength(script.content) > MAX_SCRIPT_BYTES) {
      throw new ProvisionerError(name, `script ${script.label} is over ${MAX_SCRIPT_BYTES / 1024} KiB, more than a shell-local script may be`, undefined, log.tail(), log.path);
    }
    const path = `/tmp/packer-shell-local-${randomUUID()}.sh`;
    const argv = provisioner.execute_command.map((part) => renderHostTemplate(part, { Vars: vars, Script: path }));
    // Written where execute_command finds it, run as an argument list, removed however it ends.
    const body = `umask 077; printf '%s' "$${SCRIPT_VARIABLE}" > ${path} && chmod 700 ${path} || exit 1; unset ${SCRIPT_VARIABLE}; "$@"; status=$?; rm -f ${path}; exit $status`;
    const carried = withEnvironment(body, new Map([...environment, [SCRIPT_VARIABLE, script.content]]));
    const command = ['/bin/sh', '-c', carried.command, 'shell-local', ...argv];
    const { sandbox } = host;
    const line = sandbox === undefined
      ? command.map(shellQuote).join(' ')
      : await sandbox.hostCommand(command, { device: host.device, mountPath: host.mountPath });
    log.step(name, `running ${script.label} on the host: ${argv.join(' ')}`);
    const outcome = await runShellCommand(line, {
      log,
      source: `${name} ${script.label}`,
      env: carried.env,
      timeoutMs: provisioner.timeout_ms,
      signal: host.signal,
      onExit: sandbox === undefined ? undefined : () => sandbox.endLeftovers(),
    });
    if (outcome.timedOut || !provisioner.valid_exit_codes.includes(outcome.exitCode)) {
      const reason = outcome.timedOut
        ? `timed out after ${provisioner.timeout_ms} ms running ${script.label}`
        : `exited with code ${outcome.exitCode} running ${script.label} (valid: ${provisioner.valid_exit_codes.join(', ')})`;
      throw new ProvisionerError(name, reason, outcome.exitCode, log.tail(), log.path);
    }
  }
}
