/**
 * A local Serverless Framework plugin that teaches v3's configuration schema the nodejs24.x
 * Lambda runtime. The v3 line's schema lists runtimes up to nodejs20.x, so without this the
 * service would have to lower `configValidationMode` to `warn` (or `off`), and then a typo
 * anywhere else in serverless.yml would no longer stop a package or a deploy. Adding the one
 * runtime keeps `configValidationMode: error` meaningful for everything else.
 *
 * Plugins are constructed before the framework validates the configuration, so extending
 * the schema here is in time. The runtime is only added when missing, so a framework release
 * that knows it makes this plugin a no-op.
 */
const RUNTIMES = ['nodejs24.x'];

/**
 * The framework constructs plugins with `new`; a plain constructor function is enough, since
 * this plugin has no hooks or commands.
 * @param {{ configSchemaHandler: { schema: { definitions: Record<string, { enum?: string[] } | undefined> } } }} serverless
 */
export default function LambdaRuntimeSchema(serverless) {
  const runtime = serverless.configSchemaHandler.schema.definitions.awsLambdaRuntime;
  if (runtime?.enum === undefined) {
    throw new Error('serverless-runtime-schema: this framework version has no awsLambdaRuntime list to extend; remove the plugin');
  }
  for (const name of RUNTIMES) {
    if (!runtime.enum.includes(name)) runtime.enum.push(name);
  }
}
