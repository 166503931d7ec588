/**
 * Whether a path names an HCL2 template, without loading the HCL2 parser: a JSON template's
 * `validate` must not pay for the WASM grammar (or its yaml functions) it never uses.
 */
import { stat } from 'node:fs/promises';

export const HCL2_SUFFIX = '.pkr.hcl';

/** A `.pkr.hcl` file or a folder: the CLI's and the bundle's test for an HCL2 template. */
export async function isHcl2Template(path: string): Promise<boolean> {
  if (path.endsWith(HCL2_SUFFIX)) return true;
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
