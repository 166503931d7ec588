/**
 * Packer's `shell` provisioner, inside the chroot: each script (the inline commands become
 * one behind `inline_shebang`) is uploaded to the image, run through `execute_command`
 * with the environment variables named in `{{.Vars}}` (their values travel in the
 * environment), and removed afterwards.
 */
import { readFile } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import { basename, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderHostTemplate } from '../../model/index.ts';
import type { ShellProvisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import type { ChrootCommunicator } from '../chroot/communicator.ts';
import type { ShellCommandOutcome } from '../chroot/shell-command.ts';
import { ProvisionerError } from './provisioner-error.ts';

interface Script {
  label: string;
  content: Buffer;
}

async function scriptsOf(provisioner: ShellProvisioner): Promise<Script[]> {
  if (provisioner.inline) {
    const body = [`#!${provisioner.inline_shebang}`, ...provisioner.inline, ''].join('\n');
    return [{ label: 'inline', content: Buffer.from(body) }];
  }
  return Promise.all(
    provisioner.scripts.map(async (path) => ({ label: basename(path), content: await readFile(path) })),
  );
}

/** PACKER_BUILD_NAME, PACKER_BUILDER_TYPE, then environment_vars and env: what a script is given. */
export function provisionerEnvironment(provisioner: ShellProvisioner, buildName: string): Map<string, string> {
  const vars = new Map<string, string>([
    ['PACKER_BUILD_NAME', buildName],
    ['PACKER_BUILDER_TYPE', 'amazon-chroot'],
  ]);
  for (const assignment of provisioner.environment_vars) {
    const equals = assignment.indexOf('=');
    vars.set(assignment.slice(0, equals), assignment.slice(equals + 1));
  }
  for (const [name, value] of Object.entries(provisioner.env)) vars.set(name, value);
  return vars;
}

/**
 * `{{.Vars}}` as Packer lays it out (sorted by name, each `NAME=...`), with each value a
 * reference, `NAME="$NAME"`, expanded by the shell inside the sandbox: the values reach it
 * through the environment (communicator.ts), so no secret is ever on a command line the
 * host's `ps` shows. A wrapper like `sudo {{.Vars}} {{.Path}}` still passes them on.
 */
export function renderVars(environment: ReadonlyMap<string, string>): string {
  return [...environment.keys()]
    // Byte order, as Go's sort.Strings: Packer users see the same {{.Vars}}.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => `${name}="$${name}"`)
    .join(' ');
}

function remotePathFor(provisioner: ShellProvisioner, scriptIndex: number): string {
  const file = provisioner.remote_file ?? `script_${randomInt(1_000_000)}_${scriptIndex}.sh`;
  return posix.join(provisioner.remote_folder, file);
}

export async function runShellProvisioner(
  provisioner: ShellProvisioner,
  chroot: ChrootCommunicator,
  log: BuildLog,
  buildName: string,
): Promise<void> {
  const name = `provisioners[${provisioner.index}] (shell)`;
  if (provisioner.pause_before_ms > 0) {
    log.step(name, `pausing ${provisioner.pause_before_ms} ms before running`);
    await sleep(provisioner.pause_before_ms);
  }
  const environment = provisionerEnvironment(provisioner, buildName);
  const vars = renderVars(environment);
  const scripts = await scriptsOf(provisioner);
  for (const [scriptIndex, script] of scripts.entries()) {
    const remotePath = remotePathFor(provisioner, scriptIndex);
    const command = renderHostTemplate(provisioner.execute_command, { Vars: vars, Path: remotePath });
    log.step(name, `running ${script.label} as ${remotePath}`);
    await chroot.writeFile(remotePath, script.content, 0o755);
    try {
      let outcome: ShellCommandOutcome | undefined;
      for (let attempt = 0; attempt <= provisioner.max_retries; attempt++) {
        if (attempt > 0) log.step(name, `retrying ${script.label} (attempt ${attempt + 1} of ${provisioner.max_retries + 1})`);
        outcome = await chroot.run(command, `${name} ${script.label}`, provisioner.timeout_ms, environment);
        if (provisioner.valid_exit_codes.includes(outcome.exitCode) && !outcome.timedOut) break;
      }
      if (outcome && (outcome.timedOut || !provisioner.valid_exit_codes.includes(outcome.exitCode))) {
        const reason = outcome.timedOut
          ? `timed out after ${provisioner.timeout_ms} ms running ${script.label}`
          : outcome.signal
            ? `was killed by ${outcome.signal} running ${script.label}`
            : `exited with code ${outcome.exitCode} running ${script.label} (valid: ${provisioner.valid_exit_codes.join(', ')})`;
        throw new ProvisionerError(name, reason, outcome.exitCode, log.tail(), log.path);
      }
    } finally {
      if (!provisioner.skip_clean) await chroot.remove(remotePath);
    }
  }
}
