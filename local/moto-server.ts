/**
 * The local AWS: a moto server on loopback, with real state machine execution switched on.
 * Everything the factory does locally goes through it over the real AWS wire protocol.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cacheDir } from './paths.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const MOTO_SERVER_SCRIPT = join(import.meta.dirname, 'moto_server.py');

/** Installed by scripts/setup.sh from requirements-dev.txt (pinned moto). */
export const pythonToolsBin = join(cacheDir, 'venv', 'bin');

export interface MotoServer {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** A loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/**
 * Starts moto on a free loopback port and waits until it answers. `callbackPort` is where moto's
 * state machine interpreter sends its aws-sdk integration calls (its own port when absent): a
 * proxy in front of moto (aws-model/) gives its own, so the workflow's calls go through it too.
 */
export async function startMotoServer(options: { port?: number; callbackPort?: number } = {}): Promise<MotoServer> {
  const python = join(pythonToolsBin, 'python3');
  if (!existsSync(join(pythonToolsBin, 'moto_server'))) {
    throw new Error(`moto is not installed (${join(pythonToolsBin, 'moto_server')} is missing): run scripts/setup.sh first`);
  }
  const port = options.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  // moto_server with EC2's refusal to attach an attached volume (moto_server.py says why).
  const process: ResultPromise = execa(python, [MOTO_SERVER_SCRIPT, '-H', '127.0.0.1', '-p', String(port)], {
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    // The state machine interpreter calls aws-sdk integrations back into this server (or the proxy before it).
    env: { MOTO_PORT: String(options.callbackPort ?? port) },
  });
  const state = { exited: false };
  void process.then(() => (state.exited = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`${endpoint}/moto-api/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // Off by default, and it must be on before any state machine is created.
        body: JSON.stringify({ stepfunctions: { execute_state_machine: true } }),
      });
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (state.exited || Date.now() > deadline) {
      process.kill();
      throw new Error(`moto server did not start on ${endpoint}`);
    }
    await sleep(100);
  }
  return {
    endpoint,
    port,
    async stop() {
      process.kill('SIGTERM');
      await process;
    },
  };
}

/** The local factory's fixed test credentials: moto accepts them, and so does the local API. */
export const LOCAL_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }> = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** Client settings for the local AWS. */
export function localAwsClientConfig(endpoint: string, region = 'us-east-1') {
  return { endpoint, region, credentials: { ...LOCAL_CREDENTIALS } };
}
