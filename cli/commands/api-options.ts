/**
 * The options of every command that talks to the factory's API: where it is (the local factory
 * by default, or a deployed API with SigV4 from the standard AWS credentials), its region, and
 * the team's API key.
 */
import type { Command } from 'commander';
import { FactoryClient, LOCAL_FACTORY_ENDPOINT } from '../api-client.ts';

export interface Endpoint {
  endpoint: string;
  region?: string;
  apiKey?: string;
}

export const withEndpoint = (command: Command): Command =>
  command
    .option('--endpoint <url>', 'the factory API (default: the local factory)', process.env.AMI_FACTORY_ENDPOINT ?? LOCAL_FACTORY_ENDPOINT)
    .option('--region <region>', 'AWS region of a deployed API (default: from its URL)')
    .option('--api-key <key>', "your team's API key for a deployed API (default: AMI_FACTORY_API_KEY)", process.env.AMI_FACTORY_API_KEY);

export const factoryClient = (options: Endpoint): FactoryClient => new FactoryClient(options.endpoint, { region: options.region, apiKey: options.apiKey });
