/**
 * The factory configuration (factory.yml) in the deployment, for the Serverless Framework:
 *
 * - as a variable source, `${file(./scripts/serverless-factory-config.js):packagePatterns}`:
 *   the files the functions that read the configuration need in their package (factory.yml
 *   and each family's template folder);
 * - as a local plugin, at `package:compileEvents`: the EventBridge Scheduler schedules of the
 *   families (one per family schedule, invoking the function of functions/run-schedule.ts; one
 *   per family lifecycle, invoking the function of functions/lifecycle.ts's scheduledHandler
 *   when the service has it), their schedule group and the role they invoke with.
 *
 * Both read factory.yml with the functions' own loader (functions/lib/factory-config.ts) and
 * work the rest out in scripts/factory-schedules.ts, so a configuration the functions would
 * refuse, or a cron EventBridge would, fails the package instead of the deploy. Offline: it
 * reads one file of the service folder.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONFIG_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', 'factory.yml');

/** The checked configuration; loaded lazily, as TypeScript modules this plain file imports. */
async function loadConfig() {
  const { loadFactoryConfig } = await import('../functions/lib/factory-config.ts');
  return loadFactoryConfig(CONFIG_FILE);
}

/** `package.patterns` of the functions that read the configuration. */
export async function packagePatterns() {
  const { factoryPackagePatterns } = await import('./factory-schedules.ts');
  return factoryPackagePatterns(await loadConfig());
}

/**
 * The plugin. The framework constructs it with `new`, passing a logger in its third argument.
 * @param {any} serverless
 * @param {unknown} _options
 * @param {{ log?: { info(message: string): void; notice(message: string): void } }} utils
 */
/** The handlers the schedules invoke: found by handler, whatever serverless.yml names their functions. */
const RUN_SCHEDULE_HANDLER = 'functions/run-schedule.handler';
const LIFECYCLE_HANDLER = 'functions/lifecycle.scheduledHandler';

/**
 * The plugin. The framework constructs it with `new`, passing a logger in its third argument.
 * @param {any} serverless
 * @param {unknown} _options
 * @param {{ log?: { info(message: string): void; notice(message: string): void } }} utils
 */
export default function FactoryConfigPlugin(serverless, _options, utils) {
  const log = utils?.log;
  this.hooks = {
    'package:compileEvents': async () => {
      const { scheduleResources } = await import('./factory-schedules.ts');
      const service = serverless.service;
      const naming = serverless.getProvider('aws').naming;
      /** @param {string} handler */
      const functionWith = (handler) => {
        const name = Object.keys(service.functions ?? {}).find((key) => service.functions[key].handler === handler);
        return name === undefined ? undefined : naming.getLambdaLogicalId(name);
      };
      const runSchedule = functionWith(RUN_SCHEDULE_HANDLER);
      if (runSchedule === undefined) {
        throw new Error(`serverless-factory-config: no function has the handler ${RUN_SCHEDULE_HANDLER} for the family schedules to invoke`);
      }
      const lifecycle = functionWith(LIFECYCLE_HANDLER);
      const resources = scheduleResources(await loadConfig(), { runSchedule, ...(lifecycle === undefined ? {} : { lifecycle }) }, service.custom.prefix);
      Object.assign(service.provider.compiledCloudFormationTemplate.Resources, resources);
      const schedules = Object.values(resources).filter((resource) => resource.Type === 'AWS::Scheduler::Schedule').length;
      log?.info(`factory.yml: ${schedules} schedule(s)`);
      if (lifecycle === undefined) log?.notice(`factory.yml: no function has the handler ${LIFECYCLE_HANDLER}, so the families' lifecycles get no schedule`);
    },
  };
}
