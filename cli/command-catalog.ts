/**
 * The CLI's commands by name, each with its one-line description and a loader for its module.
 * A command's code (the AWS SDK, the chroot engine, the worker...) is loaded only when that
 * command runs, so `validate` and `--help` do not pay for the others.
 */
import type { Command } from 'commander';

export interface CommandEntry {
  readonly description: string;
  /** The module's registration function: it defines the command's arguments and action. */
  readonly load: () => Promise<(program: Command) => void>;
}

const builds = async (): Promise<(program: Command) => void> => (await import('./commands/builds.ts')).registerBuildCommands;

export const COMMANDS = {
  validate: {
    description: 'check a template as the factory will, and summarise what it would build',
    load: async () => (await import('./commands/validate.ts')).registerValidateCommand,
  },
  chroot: {
    description: 'provision a local disk image with a template, the way a chroot host provisions an EBS volume',
    load: async () => (await import('./commands/chroot.ts')).registerChrootCommand,
  },
  recover: {
    description: 'undo what builds killed on this host left behind (runs before every build too)',
    load: async () => (await import('./commands/recover.ts')).registerRecoverCommand,
  },
  build: { description: 'send a template to the factory and start a build', load: builds },
  status: { description: "a build's status, steps and images", load: builds },
  log: { description: "a build's provisioning log", load: builds },
  manifest: { description: "a succeeded build's Packer manifest (what the manifest post-processor writes)", load: builds },
  cancel: { description: 'stop a build; the factory cleans up after it', load: builds },
  distribute: { description: 'share or copy an image the factory made to more regions and accounts, without a rebuild', load: builds },
  lifecycle: {
    description: "retire a family's old images (keep the newest, deprecate, deregister), or list what would be with --dry-run",
    load: async () => (await import('./commands/lifecycle.ts')).registerLifecycleCommand,
  },
  schedules: {
    description: "the factory configuration's families: list their schedules and latest decisions, or run one now",
    load: async () => (await import('./commands/schedules.ts')).registerSchedulesCommands,
  },
  local: {
    description: 'images in and out of the local factory (`npm start -- --serve`)',
    load: async () => (await import('./commands/local.ts')).registerLocalCommands,
  },
  worker: {
    description: "run a chroot host's daemon: claim builds from the factory's queues and provision their volumes",
    load: async () => (await import('./commands/worker.ts')).registerWorkerCommand,
  },
} as const satisfies Record<string, CommandEntry>;

export type CommandName = keyof typeof COMMANDS;

export const isCommandName = (name: string | undefined): name is CommandName => name !== undefined && Object.hasOwn(COMMANDS, name);
