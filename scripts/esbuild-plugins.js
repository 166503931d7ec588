/**
 * esbuild plugins for the Lambda bundles (serverless.yml, custom.esbuild.plugins).
 *
 * The AWS SDK's newer clients describe every operation's shapes in one module
 * (dist-es/schemas/schemas_0.js): for EC2 a megabyte, of which a handler that sends
 * DescribeImages needs a few kilobytes. esbuild drops the unused shapes only if it can prove
 * that building them has no effect, and it cannot for an object literal with a computed key
 * (`{ [_xN]: "Min" }` could call a toString), so it kept them all: 40% of the submit bundle.
 * Every such key in those modules is a module-level `const _x = "...";` string, so writing
 * the string in its place changes nothing the code does and lets esbuild drop what no
 * command of ours reaches.
 */
import { readFile } from 'node:fs/promises';

const SCHEMA_MODULE = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/** The module's computed keys that name one of its string constants, as string keys. */
export function literalSchemaKeys(text) {
  const strings = new Map();
  for (const [, name, value] of text.matchAll(/^const (_[A-Za-z0-9_]+) = ("[^"\\\n]*");$/gm)) strings.set(name, value);
  // A key whose name is not such a constant stays as it is (and keeps its shapes).
  return text.replace(/\[(_[A-Za-z0-9_]+)\]:/g, (key, name) => {
    const value = strings.get(name);
    return value === undefined ? key : `${value}:`;
  });
}

export const awsSdkSchemaKeys = {
  name: 'aws-sdk-schema-keys',
  setup(build) {
    build.onLoad({ filter: SCHEMA_MODULE }, async ({ path }) => ({ contents: literalSchemaKeys(await readFile(path, 'utf8')), loader: 'js' }));
  },
};

export default [awsSdkSchemaKeys];
