/**
 * The requester's commands: `build`, `status`, `log`, `cancel`, `distribute`, against the local factory
 * by default or a deployed API (`--endpoint`, SigV4 from the standard AWS credentials).
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { BuildAccepted, BuildDetails, BuildManifest, DistributionAccepted } from '../../contract/api.ts';
import type { BuiltImage } from '../../contract/execution.ts';
import type { Target } from '../../contract/targets.ts';
import { bundleTemplateFile } from '../../model/bundle.ts';
import { loadVarFile } from '../../model/var-file.ts';
import { buildPath } from '../api-client.ts';
import { followBuild, watchBuild } from '../follow.ts';
import { factoryClient as client, withEndpoint, type Endpoint } from './api-options.ts';
import { collectNames, collectTarget, collectVar, loadOrReport } from './shared-options.ts';
import { COMMANDS } from '../command-catalog.ts';

/** One line per image: id, region, account, state (and why, for a failed copy). */
export function printImages(amis: readonly BuiltImage[]): void {
  for (const ami of amis) {
    const why = ami.state === 'failed' ? `\t${ami.error ?? ''}: ${ami.cause ?? ''}` : '';
    process.stdout.write(`${ami.imageId ?? '-'}\t${ami.region}\t${ami.accountId}\t${ami.state ?? 'available'}${why}\n`);
  }
}

function printOutcome(build: BuildDetails): void {
  const took = build.startedAt && build.stoppedAt ? ` in ${((Date.parse(build.stoppedAt) - Date.parse(build.startedAt)) / 1000).toFixed(1)} s` : '';
  if (build.status === 'SUCCEEDED') {
    process.stdout.write(`${build.buildId} SUCCEEDED${took}\n`);
    printImages(build.amis);
    for (const distribution of build.distributions ?? []) {
      process.stdout.write(`distribution ${distribution.distributionId} ${distribution.status}\n`);
      printImages(distribution.amis);
    }
  } else {
    process.stderr.write(`${build.buildId} ${build.status}${took}: ${build.error ?? ''} ${build.cause ?? ''}\n`);
    process.exitCode = 1;
  }
}

export function registerBuildCommands(program: Command): void {
  withEndpoint(
    program
      .command('build')
      .description(COMMANDS.build.description)
      .argument('<template>', 'Packer JSON template with an amazon-chroot builder, or an HCL2 template (.pkr.hcl file or folder)')
      .option('--var <name=value>', 'set a template variable (repeatable; overrides --var-file)', collectVar, {})
      .option('--var-file <file>', 'JSON or .pkrvars.hcl file of variable values (repeatable)', (file: string, previous: string[]) => [...previous, file], [])
      .option('--only <names>', 'build only the builder of this name or type (comma-separated, repeatable)', collectNames)
      .option('--except <names>', 'leave out the builders of these names or types (comma-separated, repeatable)', collectNames)
      .option('--wait', 'follow the build step by step until it ends')
      .option('--idempotency-key <key>', 'a retried request with the same key returns the same build')
      .option('--rebake', "bake even when an image or a running build of your team already has this build's bake key")
      .option('--target <[account/]region[:mode]>', 'also put the image there: a copy in a region, or an account to share with (:share) or copy into (:copy); repeatable', collectTarget, []),
  ).action(async (template: string, options: Endpoint & { var: Record<string, string>; varFile: string[]; only?: string[]; except?: string[]; wait?: boolean; idempotencyKey?: string; rebake?: boolean; target: Target[] }) => {
    const bundle = await loadOrReport(template, async () => {
      let fileVars: Record<string, string> = {};
      for (const file of options.varFile) fileVars = { ...fileVars, ...(await loadVarFile(file)) };
      return bundleTemplateFile(resolve(template), {
        vars: { ...fileVars, ...options.var }, env: process.env, cwd: process.cwd(), only: options.only, except: options.except,
      });
    });
    if (!bundle) return;
    const api = client(options);
    const headers: Record<string, string> = options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};
    const body = { bundle, ...(options.rebake ? { rebake: true } : {}), ...(options.target.length > 0 ? { targets: options.target } : {}) };
    const accepted = await api.request<BuildAccepted>('POST', 'builds', { body, headers });
    process.stdout.write(`${accepted.buildId}\n`);
    // On stderr: stdout stays the build id alone, for scripts that capture it.
    if (accepted.reused) {
      const what = accepted.imageId === undefined ? `build ${accepted.buildId} (${accepted.status}) is already baking it` : `build ${accepted.buildId} made it: ${accepted.imageId}`;
      process.stderr.write(`reused: nothing changed since, so nothing was baked; ${what} (--rebake bakes anyway)\n`);
    }
    if (options.wait) printOutcome(await followBuild(api, accepted.buildId));
  });

  withEndpoint(
    program.command('status').description(COMMANDS.status.description).argument('<build-id>').option('--json', 'print the API answer as it is'),
  ).action(async (buildId: string, options: Endpoint & { json?: boolean }) => {
    const build = await client(options).request<BuildDetails>('GET', buildPath(buildId));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(build, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${build.buildId} ${build.status}${build.currentStep ? ` (at ${build.currentStep})` : ''}\n`);
    for (const entry of build.timeline) process.stdout.write(`  ${entry.enteredAt}  ${entry.step}\n`);
    if (build.status !== 'RUNNING') printOutcome(build);
  });

  withEndpoint(program.command('log').description(COMMANDS.log.description).argument('<build-id>')).action(
    async (buildId: string, options: Endpoint) => {
      process.stdout.write(await client(options).request<string>('GET', buildPath(buildId, 'log')));
    },
  );

  withEndpoint(program.command('manifest').description(COMMANDS.manifest.description).argument('<build-id>')).action(
    async (buildId: string, options: Endpoint) => {
      // As Packer's file: a JSON document, for `jq` or a later step of a pipeline.
      const manifest = await client(options).request<BuildManifest>('GET', buildPath(buildId, 'manifest'));
      process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
    },
  );

  withEndpoint(
    program
      .command('distribute')
      .description(COMMANDS.distribute.description)
      .argument('<image-id>', 'an image the factory made for your team, in its region')
      .requiredOption('--target <[account/]region[:mode]>', 'a region to copy it to, or an account to share with (:share) or copy into (:copy); repeatable', collectTarget)
      .option('--wait', 'wait until every target is done and print each image'),
  ).action(async (imageId: string, options: Endpoint & { target: Target[]; wait?: boolean }) => {
    const api = client(options);
    const accepted = await api.request<DistributionAccepted>('POST', `images/${encodeURIComponent(imageId)}/distributions`, { body: { targets: options.target } });
    process.stdout.write(`${accepted.distributionId}\n`);
    if (!options.wait) return;
    const ours = (build: BuildDetails) => build.distributions?.find((found) => found.distributionId === accepted.distributionId);
    const build = await watchBuild(api, accepted.buildId, (seen) => (ours(seen)?.status ?? 'RUNNING') !== 'RUNNING');
    const distribution = ours(build);
    if (distribution === undefined) return;
    process.stdout.write(`${distribution.distributionId} ${distribution.status}\n`);
    printImages(distribution.amis);
    if (distribution.status !== 'SUCCEEDED' || distribution.amis.some((ami) => ami.state === 'failed')) process.exitCode = 1;
  });

  withEndpoint(program.command('cancel').description(COMMANDS.cancel.description).argument('<build-id>')).action(
    async (buildId: string, options: Endpoint) => {
      await client(options).request('DELETE', buildPath(buildId));
      process.stdout.write(`${buildId} cancelling\n`);
    },
  );
}
