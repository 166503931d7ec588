/**
 * The engine behind the local AWS: moto (the project's local AWS) by default, or LocalStack
 * in host mode with AMI_FACTORY_ENGINE=localstack (`npm run test:second-engine`), a second
 * interpreter of the same workflow definition that catches assumptions only one engine holds.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, localAwsClientConfig, startMotoServer } from '../../local/moto-server.ts';
import { cacheDir } from '../../local/paths.ts';
import { startModelledAws, type AwsModelProfile, type AwsModelStats } from '../../local/aws-model/index.ts';

/** The account both engines answer as (LocalStack: because the access key id names it). */
export const LOCAL_ACCOUNT_ID = '123456789012';

export type EngineName = 'moto' | 'localstack';

export interface Engine {
  name: EngineName;
  endpoint: string;
  /** Settings for any client on the engine. */
  clientConfig: ReturnType<typeof localAwsClientConfig>;
  stop(): Promise<void>;
  /** With the AWS model: its count of EC2 calls and of throttled ones, by action. */
  awsModelStats?: () => AwsModelStats;
}

/** Installed by scripts/test-second-engine.sh: LocalStack needs its own Python (3.13). */
const LOCALSTACK_PYTHON = join(cacheDir, 'localstack-venv', 'bin', 'python');

export function engineName(): EngineName {
  const name = process.env.AMI_FACTORY_ENGINE ?? 'moto';
  if (name !== 'moto' && name !== 'localstack') throw new Error(`AMI_FACTORY_ENGINE must be moto or localstack, not "${name}"`);
  return name;
}

/**
 * Starts the chosen engine on a free loopback port and waits until it answers. With
 * `awsModel`, moto runs behind the model of EC2's latencies and throttling
 * (local/aws-model), which its own state machine interpreter calls through as well.
 */
export async function startEngine(region: string, options: { awsModel?: AwsModelProfile } = {}): Promise<Engine> {
  if (options.awsModel !== undefined) {
    if (engineName() === 'localstack') throw new Error('the AWS model runs in front of moto only');
    const modelled = await startModelledAws({ profile: options.awsModel });
    return { name: 'moto', endpoint: modelled.endpoint, clientConfig: localAwsClientConfig(modelled.endpoint, region), stop: () => modelled.stop(), awsModelStats: () => modelled.stats() };
  }
  if (engineName() === 'localstack') return startLocalStack(region);
  const moto = await startMotoServer();
  return { name: 'moto', endpoint: moto.endpoint, clientConfig: localAwsClientConfig(moto.endpoint, region), stop: () => moto.stop() };
}

async function startLocalStack(region: string): Promise<Engine> {
  if (!existsSync(LOCALSTACK_PYTHON)) throw new Error(`LocalStack is not installed (${LOCALSTACK_PYTHON} is missing): run scripts/test-second-engine.sh`);
  const port = await freePort();
  const root = await mkdtemp(join(tmpdir(), 'ami-factory-localstack-'));
  const endpoint = `http://127.0.0.1:${port}`;
  const server = execa(LOCALSTACK_PYTHON, ['-m', 'localstack.runtime.main'], {
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
    env: {
      // Not inside a LocalStack container: without this it writes under /var/lib, /usr/lib and /etc.
      OVERRIDE_IN_DOCKER: '0',
      FILESYSTEM_ROOT: root,
      GATEWAY_LISTEN: `127.0.0.1:${port}`,
      SERVICES: 'stepfunctions,ec2,sqs,s3,sts,iam,events,secretsmanager',
      EAGER_SERVICE_LOADING: '1',
      SQS_ENDPOINT_STRATEGY: 'path',
      DNS_ADDRESS: '0',
      SKIP_SSL_CERT_DOWNLOAD: '1',
      DISABLE_EVENTS: '1',
    },
  });
  const state = { exited: false };
  void server.then(() => (state.exited = true));
  const stop = async () => {
    server.kill('SIGTERM');
    await server;
    await rm(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const ready = (await (await fetch(`${endpoint}/_localstack/init/ready`)).json()) as { completed?: boolean };
      if (ready.completed === true) break;
    } catch {
      // not listening yet
    }
    if (state.exited || Date.now() > deadline) {
      await stop();
      throw new Error(`LocalStack did not start on ${endpoint}`);
    }
    await sleep(250);
  }
  // A 12-digit access key id selects LocalStack's account: the one the tests' ARNs name.
  const clientConfig = { ...localAwsClientConfig(endpoint, region), credentials: { accessKeyId: LOCAL_ACCOUNT_ID, secretAccessKey: 'testing' } };
  return { name: 'localstack', endpoint, clientConfig, stop };
}

