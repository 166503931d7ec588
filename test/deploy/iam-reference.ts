/** cfn-lint's copy of AWS's IAM service reference, for the deployment tests. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export type IamReference = Record<string, { Actions: Record<string, { Resources?: string[] } | undefined> } | undefined>;

/** Which actions take which resource types, as cfn-lint ships it; undefined without cfn-lint. */
export function iamReference(): IamReference | undefined {
  const lib = join(ROOT, '.cache/venv/lib');
  if (!existsSync(lib)) return undefined;
  for (const python of readdirSync(lib)) {
    const path = join(lib, python, 'site-packages/cfnlint/data/AdditionalSpecs/Policies.json');
    if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as IamReference;
  }
  return undefined;
}
