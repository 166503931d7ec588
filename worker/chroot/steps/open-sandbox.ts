/**
 * Opens the build's sandbox (cgroup, network, seccomp filter) before the first command of
 * the template can run: every command after this runs inside it.
 */
import { BuildSandbox } from '../../sandbox/build-sandbox.ts';
import { sandboxSettingsFor } from '../../sandbox/policy.ts';
import type { ChrootStep } from '../build-context.ts';
import { lockDir, sandboxPolicyOf } from '../host-config.ts';

export const openSandboxStep: ChrootStep = {
  name: 'open-sandbox',
  async run(context) {
    const policy = sandboxPolicyOf(context.host);
    if (!policy.enabled) {
      context.log.warn(this.name, 'the sandbox is turned off: commands of the template run as root on this host');
      return;
    }
    context.sandbox = await BuildSandbox.open({
      buildId: context.buildId,
      stateDir: context.host.stateDir,
      lockDir: lockDir(context.host),
      policy,
      settings: sandboxSettingsFor(context.request.builder.sandbox, policy),
      journal: context.journal,
      log: context.log,
    });
  },
};
