/**
 * The Lambda bundles' esbuild plugin (scripts/esbuild-plugins.js) writes the AWS SDK's
 * computed schema keys as the strings they are, so that esbuild can drop the shapes no
 * handler uses. A bundled EC2 client must then be a fraction of the size and still speak
 * EC2's query protocol as the unbundled one does (its traits, such as xmlName, live in
 * those keys): both ask the local AWS the same question here.
 */
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugins, { literalSchemaKeys } from '../../scripts/esbuild-plugins.js';
import { startLocalAws, type LocalAws } from '../functions/support.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const PROBE = `
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
export const describeImages = (config, input) => new EC2Client(config).send(new DescribeImagesCommand(input));
`;

let aws: LocalAws;
let work: string;

beforeAll(async () => {
  aws = await startLocalAws();
  work = await mkdtemp(join(tmpdir(), 'ami-factory-esbuild-'));
});

afterAll(async () => {
  await aws.stop();
  await rm(work, { recursive: true, force: true });
});

async function bundle(withPlugins: boolean): Promise<{ bytes: number; file: string }> {
  const file = join(work, `probe-${String(withPlugins)}.mjs`);
  const result = await build({
    stdin: { contents: PROBE, resolveDir: ROOT, loader: 'js' }, bundle: true, platform: 'node', format: 'esm', mainFields: ['module', 'main'],
    keepNames: true, minifySyntax: true, plugins: withPlugins ? plugins : [], metafile: true, outfile: file, logLevel: 'silent',
  });
  return { bytes: Object.values(result.metafile.outputs)[0]?.bytes ?? 0, file };
}

describe('the AWS SDK schema keys plugin', () => {
  it('writes a computed key that names a string constant as that string, and leaves others', () => {
    const text = 'const _xN = "xmlName";\nconst _m = "min";\nexport var A$ = [3, n0, _a, 0, [_m], [[1, { [_xN]: _m, [other]: 1 }]]];\n';
    expect(literalSchemaKeys(text)).toContain('{ "xmlName": _m, [other]: 1 }');
  });

  it('bundles the EC2 client at a fraction of the size, speaking EC2 as the unbundled client does', async () => {
    const [plain, lean] = await Promise.all([bundle(false), bundle(true)]);
    expect(lean.bytes).toBeLessThan(plain.bytes - 800_000);
    const imageId = await aws.registerImage('schema-keys-probe');
    const input = { ImageIds: [imageId], Filters: [{ Name: 'name', Values: ['schema-keys-*'] }] };
    const expected = (await new EC2Client(aws.clientConfig).send(new DescribeImagesCommand(input))).Images;
    const { describeImages } = (await import(pathToFileURL(lean.file).href)) as { describeImages: (config: unknown, input: unknown) => Promise<{ Images?: unknown[] }> };
    const images = (await describeImages(aws.clientConfig, input)).Images;
    expect(images).toEqual(expected);
    expect(images).toMatchObject([{ ImageId: imageId, Name: 'schema-keys-probe', BlockDeviceMappings: [{ DeviceName: '/dev/sda1' }] }]);
  });
});
