/**
 * The host programs a sandbox is started with, by absolute path: the line that starts a
 * sandbox runs with the template's environment variables at hand, and must not let a PATH
 * from a template choose which program the host runs.
 */
import { access, constants } from 'node:fs/promises';

const CANDIDATES = {
  bwrap: { paths: ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'], package: 'bubblewrap' },
  nsenter: { paths: ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter'], package: 'util-linux' },
} as const;

export type SandboxTool = keyof typeof CANDIDATES;

const found = new Map<SandboxTool, Promise<string>>();

async function locate(tool: SandboxTool): Promise<string> {
  for (const path of CANDIDATES[tool].paths) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // try the next
    }
  }
  throw new Error(`the sandbox needs ${tool} (package ${CANDIDATES[tool].package}; scripts/setup.sh installs it)`);
}

export function sandboxTool(tool: SandboxTool): Promise<string> {
  let path = found.get(tool);
  if (path === undefined) {
    path = locate(tool);
    path.catch(() => found.delete(tool));
    found.set(tool, path);
  }
  return path;
}
