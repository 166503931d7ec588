/**
 * Packer's `ansible-local`, inside the chroot: the playbooks and their folders are uploaded
 * to the staging directory in the image, an inventory puts 127.0.0.1 in the template's
 * groups, and the image's own `ansible-playbook` (Packer's `command`) runs there with
 * `--connection=local`, sandboxed like any provisioner. Ansible is not installed for the
 * template: as in Packer, a shell provisioner before this one installs it.
 */
import { randomUUID } from 'node:crypto';
import { basename, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AnsibleLocalProvisioner } from '../../model/types.ts';
import type { BuildLog } from '../chroot/build-log.ts';
import type { ChrootCommunicator } from '../chroot/communicator.ts';
import { shellQuote } from '../chroot/shell-quote.ts';
import { ProvisionerError } from './provisioner-error.ts';

const DEFAULT_STAGING_ROOT = '/tmp/packer-provisioner-ansible-local';
/** What a POSIX shell answers for a command it cannot find. */
const COMMAND_NOT_FOUND = 127;

/** Packer's generated inventory: 127.0.0.1 alone, then in each of the template's groups. */
export function inventoryText(groups: readonly string[]): string {
  return ['127.0.0.1', ...groups.flatMap((group) => [`[${group}]`, '127.0.0.1'])].join('\n') + '\n';
}

/** The ansible-playbook line Packer runs, from the staging directory. */
export function playbookCommand(
  provisioner: AnsibleLocalProvisioner,
  playbook: string,
  inventory: string,
  staging: string,
  buildName: string,
): string {
  const extraVars = `packer_build_name=${buildName} packer_builder_type=amazon-chroot packer_http_addr=`;
  return [
    `cd ${shellQuote(staging)} &&`,
    provisioner.command,
    shellQuote(playbook),
    '--extra-vars',
    shellQuote(extraVars),
    // As in Packer: extra_arguments are written as shell words, quoting included.
    ...provisioner.extra_arguments,
    '--connection=local',
    '-i',
    shellQuote(inventory),
  ].join(' ');
}

async function uploadAll(provisioner: AnsibleLocalProvisioner, staging: string, chroot: ChrootCommunicator, log: BuildLog, name: string): Promise<void> {
  const uploads: [string, string][] = [
    // playbook_dir's contents are the staging directory: its playbooks find their roles.
    ...(provisioner.playbook_dir === undefined ? [] : [[provisioner.playbook_dir, staging] as [string, string]]),
    ...provisioner.playbook_files.map((file): [string, string] => [file, posix.join(staging, basename(file))]),
    ...provisioner.playbook_paths.map((dir): [string, string] => [dir, posix.join(staging, 'playbooks', basename(dir))]),
    ...provisioner.role_paths.map((dir): [string, string] => [dir, posix.join(staging, 'roles', basename(dir))]),
    ...(provisioner.group_vars === undefined ? [] : [[provisioner.group_vars, posix.join(staging, 'group_vars')] as [string, string]]),
    ...(provisioner.host_vars === undefined ? [] : [[provisioner.host_vars, posix.join(staging, 'host_vars')] as [string, string]]),
    ...(provisioner.galaxy_file === undefined ? [] : [[provisioner.galaxy_file, posix.join(staging, basename(provisioner.galaxy_file))] as [string, string]]),
    ...(provisioner.inventory_file === undefined ? [] : [[provisioner.inventory_file, posix.join(staging, basename(provisioner.inventory_file))] as [string, string]]),
  ];
  for (const [source, target] of uploads) {
    log.step(name, `uploading ${source} to ${target}`);
    await chroot.upload(source, target);
  }
}

export async function runAnsibleLocalProvisioner(
  provisioner: AnsibleLocalProvisioner,
  chroot: ChrootCommunicator,
  log: BuildLog,
  buildName: string,
): Promise<void> {
  const name = `provisioners[${provisioner.index}] (ansible-local)`;
  if (provisioner.pause_before_ms > 0) {
    log.step(name, `pausing ${provisioner.pause_before_ms} ms before running`);
    await sleep(provisioner.pause_before_ms);
  }
  const staging = provisioner.staging_directory ?? posix.join(DEFAULT_STAGING_ROOT, randomUUID());
  const fail = (reason: string, exitCode: number | undefined): ProvisionerError => new ProvisionerError(name, reason, exitCode, log.tail(), log.path);
  const runChecked = async (command: string, what: string, program: string): Promise<void> => {
    // The whole line, as Packer's "Executing Ansible:"; sensitive values are masked by the log.
    log.step(name, `running ${what}: ${command}`);
    const outcome = await chroot.run(command, `${name} ${what}`, provisioner.timeout_ms);
    if (outcome.timedOut) throw fail(`timed out after ${provisioner.timeout_ms} ms running ${what}`, outcome.exitCode);
    if (outcome.exitCode === COMMAND_NOT_FOUND) {
      throw fail(
        `could not run ${program} in the image (exit code 127, command not found): ansible-local runs the image's own Ansible, ` +
          'as in Packer; install Ansible first, with a shell provisioner before this one (e.g. `apt-get install -y ansible-core`, ' +
          '`dnf install -y ansible-core` or `pip install ansible-core`), or point `command` at it',
        outcome.exitCode,
      );
    }
    if (outcome.exitCode !== 0) {
      throw fail(outcome.signal ? `was killed by ${outcome.signal} running ${what}` : `exited with code ${outcome.exitCode} running ${what}`, outcome.exitCode);
    }
  };
  try {
    await uploadAll(provisioner, staging, chroot, log, name);
    let inventory: string;
    if (provisioner.inventory_file === undefined) {
      inventory = posix.join(staging, `packer-provisioner-ansible-local-inventory-${randomUUID()}`);
      await chroot.writeFile(inventory, inventoryText(provisioner.inventory_groups));
    } else {
      inventory = posix.join(staging, basename(provisioner.inventory_file));
    }
    if (provisioner.galaxy_file !== undefined) {
      const galaxy = `cd ${shellQuote(staging)} && ${provisioner.galaxy_command} install -r ${shellQuote(posix.join(staging, basename(provisioner.galaxy_file)))} -p ${shellQuote(posix.join(staging, 'roles'))}`;
      await runChecked(galaxy, `${provisioner.galaxy_command} install -r ${basename(provisioner.galaxy_file)}`, provisioner.galaxy_command);
    }
    for (const file of provisioner.playbook_files) {
      const playbook = posix.join(staging, basename(file));
      await runChecked(playbookCommand(provisioner, playbook, inventory, staging, buildName), `ansible-playbook ${basename(file)}`, 'ansible-playbook');
    }
  } finally {
    if (provisioner.clean_staging_directory) {
      log.step(name, `removing ${staging}`);
      await chroot.remove(staging);
    }
  }
}
