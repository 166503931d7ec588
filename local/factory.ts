/**
 * The local factory: the whole system on this machine. The local AWS (moto) holds the
 * factory's queues, bucket and state machine, made from the deployment's own template; the
 * API is served on loopback by the real handlers; chroot hosts are workers whose EBS is
 * loop devices over sparse files (a volume made from a snapshot gets its bytes, a snapshot
 * keeps the volume's), so an AMI built here has a real root image to export.
 */
import { DescribeVolumesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { mountsAtOrUnder } from '../worker/chroot/mount-table.ts';
import { recoverHost } from '../worker/chroot/recovery.ts';
import { parseWorkerConfig, type WorkerConfigInput } from '../worker/daemon/config.ts';
import { createAwsClients } from '../worker/daemon/context.ts';
import type { Worker } from '../worker/daemon/worker.ts';
import { startApiServer, type LocalApi } from './api-server.ts';
import { LocalEbsStore } from './ebs-store.ts';
import { createLocalWorker } from './local-worker.ts';
import { watchExecutions, type ExecutionEvents } from './execution-events.ts';
import { LAMBDA_POLLERS, QUEUE_FUNCTIONS, triggerFromQueue } from './queue-trigger.ts';
import type { TendingReport } from '../functions/lib/volume-pool-tender.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createFactoryResources, LOCAL_REGION, packageDeployment, type FactoryResources } from './factory-resources.ts';
import { localAwsClientConfig, startMotoServer, type MotoServer } from './moto-server.ts';
import { cacheDir } from './paths.ts';
import { startModelledAws, type ModelledAws } from './aws-model/index.ts';

export const LOCAL_FACTORY_DIR = join(cacheDir, 'local-factory');
/** Where a serving factory says how to reach it, for `ami-factory local ...` commands. */
export const runningFile = (workDir: string): string => join(workDir, 'running.json');

/**
 * The local AWS lives in memory, so each start begins empty, and so does the work
 * directory. A run that was killed may have left builds mounted there: those are recovered
 * first, and nothing is deleted while anything is still mounted below it.
 */
async function clearWorkDir(workDir: string): Promise<void> {
  const hostsDir = join(workDir, 'hosts');
  for (const host of await readdir(hostsDir).catch(() => [])) {
    await recoverHost({ stateDir: join(hostsDir, host, 'state'), mountRoot: join(hostsDir, host, 'mnt') });
  }
  const mounted = await mountsAtOrUnder(workDir);
  if (mounted.length > 0) {
    throw new Error(`${workDir} still has mounts below it (${mounted.map((m) => m.mountPoint).join(', ')}): unmount them first`);
  }
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
}

export interface LocalFactoryOptions {
  /** 0 picks a free port. */
  apiPort?: number;
  /** Chroot hosts, each a worker with its own instance id, zone and state directory. */
  hosts?: number;
  maxConcurrentBuilds?: number;
  workDir?: string;
  /** The workers' and handlers' log level; the build transcripts go to S3 either way. */
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
  /**
   * EC2's latencies and throttling, modelled (local/aws-model): `typical`, `slow` or a profile
   * file. A snapshot takes as long as the blocks the build changed say.
   */
  awsLatency?: string;
}

export interface LocalFactory {
  api: LocalApi;
  moto: MotoServer;
  resources: FactoryResources;
  store: LocalEbsStore;
  ec2: EC2Client;
  sqs: SQSClient;
  workers: Worker[];
  /**
   * One tending of factory.yml's volume pools, as the deployment's schedule runs it: in the
   * hosts' zones. Builds that take a pooled volume ask for refills on their own.
   */
  tendVolumePools(): Promise<TendingReport>;
  stop(): Promise<void>;
}

/** The stand-in for a chroot host in the local AWS: AttachVolume needs an instance to attach to. */
export async function launchLocalHost(ec2: EC2Client, availabilityZone: string): Promise<string> {
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, InstanceType: 't3.micro', Placement: { AvailabilityZone: availabilityZone } }),
  );
  const instanceId = run.Instances?.[0]?.InstanceId;
  if (instanceId === undefined) throw new Error('RunInstances returned no instance');
  return instanceId;
}

/** A local chroot host's worker configuration: its own state under `<workDir>/hosts/<id>/`. */
export function localWorkerConfig(host: {
  endpoint: string;
  resources: Pick<FactoryResources, 'claimsQueueUrl' | 'hostQueuePrefix' | 'artifactsBucket'>;
  workDir: string;
  storeDir: string;
  instanceId: string;
  availabilityZone: string;
}): WorkerConfigInput {
  const hostDir = join(host.workDir, 'hosts', host.instanceId);
  return {
    region: LOCAL_REGION,
    endpoint: host.endpoint,
    claimsQueueUrl: host.resources.claimsQueueUrl,
    hostQueuePrefix: host.resources.hostQueuePrefix,
    artifactsBucket: host.resources.artifactsBucket,
    heartbeatSeconds: 5,
    pollWaitSeconds: 1,
    stateDir: join(hostDir, 'state'),
    mountRoot: join(hostDir, 'mnt'),
    identity: { instanceId: host.instanceId, availabilityZone: host.availabilityZone },
    volumes: { backend: 'local', storeDir: host.storeDir },
  };
}

/**
 * moto behind the model of EC2's latencies and throttling. A snapshot's modelled time follows
 * what the build wrote: the blocks its volume's file holds beyond its source snapshot's.
 */
async function startModelledMoto(profile: string, storeDir: string): Promise<MotoServer> {
  const allocatedGiB = async (path: string): Promise<number> => {
    try {
      return ((await stat(path)).blocks * 512) / 1024 ** 3;
    } catch {
      return 0;
    }
  };
  let motoEndpoint = '';
  const modelled: ModelledAws = await startModelledAws({
    profile,
    changedGiB: async (volumeId) => {
      const ec2 = new EC2Client(localAwsClientConfig(motoEndpoint, LOCAL_REGION));
      try {
        const source = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0]?.SnapshotId;
        const written = await allocatedGiB(join(storeDir, 'volumes', `${volumeId}.img`));
        const inherited = source === undefined || source === '' ? 0 : await allocatedGiB(join(storeDir, 'snapshots', `${source}.img`));
        return Math.max(0, written - inherited);
      } finally {
        ec2.destroy();
      }
    },
  });
  motoEndpoint = modelled.motoEndpoint;
  return { endpoint: modelled.endpoint, port: Number(new URL(modelled.endpoint).port), stop: () => modelled.stop() };
}

/** Polls a build's resources every second: the local AWS answers at once. */
const LOCAL_POLLING = { volume: 1, attachment: 1, snapshot: 1, image: 1, maxAttempts: 60 };

export async function startLocalFactory(options: LocalFactoryOptions = {}): Promise<LocalFactory> {
  const workDir = options.workDir ?? LOCAL_FACTORY_DIR;
  await clearWorkDir(workDir);
  const template = await packageDeployment();
  const moto = options.awsLatency === undefined ? await startMotoServer() : await startModelledMoto(options.awsLatency, join(workDir, 'ebs'));
  const stops: (() => Promise<unknown>)[] = [() => moto.stop()];
  const stop = async (): Promise<void> => {
    for (const step of stops.reverse()) await step();
    await rm(runningFile(workDir), { force: true });
  };
  try {
    const resources = await createFactoryResources(moto.endpoint, template);
    const aws = localAwsClientConfig(moto.endpoint, LOCAL_REGION);
    // The handlers read their settings from the environment, as in Lambda: the deployment's
    // variables, pointed at the local AWS.
    Object.assign(process.env, ...Object.values(resources.functionEnvironments), {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: aws.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: aws.credentials.secretAccessKey,
      POLLING: JSON.stringify(LOCAL_POLLING),
      LOG_LEVEL: options.logLevel ?? 'warn',
    });
    const clients = createAwsClients(aws);
    const { ec2 } = clients;
    const store = new LocalEbsStore(join(workDir, 'ebs'), ec2);

    const workers: Worker[] = [];
    const zones = ['a', 'b', 'c'];
    const hostZones = new Set<string>();
    for (let index = 0; index < (options.hosts ?? 1); index++) {
      const availabilityZone = `${LOCAL_REGION}${zones[index % zones.length] ?? 'a'}`;
      hostZones.add(availabilityZone);
      const instanceId = await launchLocalHost(ec2, availabilityZone);
      const config = parseWorkerConfig({
        ...localWorkerConfig({ endpoint: moto.endpoint, resources, workDir, storeDir: store.dir, instanceId, availabilityZone }),
        maxConcurrentBuilds: options.maxConcurrentBuilds ?? 2,
        logLevel: options.logLevel ?? 'warn',
      });
      const worker = createLocalWorker(config, { clients, logger: pino({ level: options.logLevel ?? 'warn' }) });
      await worker.start();
      stops.push(() => worker.stop());
      workers.push(worker);
    }

    const events: ExecutionEvents = watchExecutions(clients.sfn, resources.stateMachineArn, (error) => {
      process.stderr.write(`local factory: clean-up after a build failed: ${String(error)}\n`);
    });
    stops.push(() => events.stop());
    const regionalCalls = triggerFromQueue(clients.sqs, resources.regionalCallsQueueUrl, QUEUE_FUNCTIONS.regionalCall, (error) => {
      process.stderr.write(`local factory: regional call: ${String(error)}\n`);
    });
    stops.push(() => regionalCalls.stop());
    const resourceWaits = triggerFromQueue(
      clients.sqs,
      resources.resourceWaitsQueueUrl,
      QUEUE_FUNCTIONS.waitForResources,
      (error) => {
        process.stderr.write(`local factory: resource wait: ${String(error)}\n`);
      },
      { pollers: options.awsLatency === undefined ? 1 : LAMBDA_POLLERS },
    );
    stops.push(() => resourceWaits.stop());
    // The local hosts have no subnets: the pools' zones are theirs.
    process.env.VOLUME_POOL_ZONES = [...hostZones].join(',');
    const poolRefills = triggerFromQueue(clients.sqs, resources.volumePoolsQueueUrl, QUEUE_FUNCTIONS.tendVolumePools, (error) => {
      process.stderr.write(`local factory: volume pools: ${String(error)}\n`);
    });
    stops.push(() => poolRefills.stop());
    const tendVolumePools = async (): Promise<TendingReport> => {
      const { handler } = await import('../functions/tend-volume-pools.ts');
      return (await handler({ source: 'local schedule' }, { awsRequestId: 'local' })) as TendingReport;
    };

    const api = await startApiServer(options.apiPort ?? 8745);
    stops.push(() => api.close());
    await writeFile(
      runningFile(workDir),
      JSON.stringify({ pid: process.pid, api: api.endpoint, moto: moto.endpoint, storeDir: store.dir }, null, 2),
    );
    return { api, moto, resources, store, ec2, sqs: clients.sqs, workers, tendVolumePools, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
