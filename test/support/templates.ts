/** Small Packer templates written to disk for tests, on top of a valid amazon-chroot builder. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadTemplateFile } from '../../model/index.ts';
import type { BuildRequest } from '../../model/types.ts';

export const baseBuilder = {
  type: 'amazon-chroot',
  ami_name: 'test-{{timestamp}}',
  source_ami: 'ami-0123456789abcdef0',
  mount_partition: '1',
};

export async function requestFrom(
  dir: string,
  provisioners: unknown[],
  builder: Record<string, unknown> = {},
  name = 'template.json',
): Promise<BuildRequest> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify({ builders: [{ ...baseBuilder, ...builder }], provisioners }, null, 2));
  return loadTemplateFile(path, {});
}
