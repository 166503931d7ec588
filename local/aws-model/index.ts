/**
 * The local AWS with EC2's latencies and throttling modelled: moto behind the model's proxy,
 * with moto's own state machine interpreter calling back through the proxy (proxy.ts explains
 * the design). Clients use `endpoint`; `motoEndpoint` reaches moto unmodelled.
 */
import { freePort, startMotoServer, type MotoServer } from '../moto-server.ts';
import { loadAwsModelProfile, type AwsModelProfile } from './profile.ts';
import { startAwsModelProxy, type AwsModelStats } from './proxy.ts';
import type { ChangedGiB } from './resource-clock.ts';

export { BUILT_IN_PROFILES, loadAwsModelProfile, parseAwsModelProfile, type AwsModelProfile } from './profile.ts';
export { startAwsModelProxy, type AwsModelProxy, type AwsModelProxyOptions, type AwsModelStats } from './proxy.ts';
export type { ChangedGiB } from './resource-clock.ts';

export interface ModelledAws {
  /** The proxy: where clients send their calls. */
  endpoint: string;
  /** Moto itself, without the model. */
  motoEndpoint: string;
  stats(): AwsModelStats;
  stop(): Promise<void>;
}

export async function startModelledAws(options: { profile: AwsModelProfile | string; changedGiB?: ChangedGiB }): Promise<ModelledAws> {
  const profile = typeof options.profile === 'string' ? loadAwsModelProfile(options.profile) : options.profile;
  const motoPort = await freePort();
  // The proxy listens first, so its port is taken before moto is told to call back on it.
  const proxy = await startAwsModelProxy({
    upstream: `http://127.0.0.1:${motoPort}`,
    profile,
    ...(options.changedGiB === undefined ? {} : { changedGiB: options.changedGiB }),
  });
  let motoServer: MotoServer;
  try {
    motoServer = await startMotoServer({ port: motoPort, callbackPort: proxy.port });
  } catch (error) {
    await proxy.stop();
    throw error;
  }
  return {
    endpoint: proxy.endpoint,
    motoEndpoint: motoServer.endpoint,
    stats: () => proxy.stats(),
    async stop() {
      await proxy.stop();
      await motoServer.stop();
    },
  };
}
