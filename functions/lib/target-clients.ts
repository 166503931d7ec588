/**
 * EC2 clients for a target (an account and a region): in the factory's own account, its own
 * credentials pointed at the region; in another account, credentials of the target-account
 * role (docs/target-account-role.md) the factory assumes there, for one purpose at a time.
 *
 * Step Functions' AWS SDK integrations call the state machine's own region only, and CopyImage
 * must be called in the destination region, so everything that acts beyond the build region
 * and account goes through here: the regional-call function and the lifecycle.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { awsClientConfig } from './aws.ts';
import { targetExternalId, targetRoleName } from './config.ts';

export interface TargetClientScope {
  /** The factory's own account: no role to assume there. */
  factoryAccountId: string;
  partition: string;
  /** Names the assumed session in the target account's CloudTrail (a build id, `lifecycle-<family>`). */
  sessionName: string;
}

/** Credentials last an hour; a cached session is renewed well before that. */
const SESSION_SECONDS = 3600;
const RENEW_BEFORE_MS = 10 * 60 * 1000;

interface Session {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  expires: number;
}

const sessions = new Map<string, Session>();

/** A role session name: 2 to 64 of `[\w+=,.@-]`, which a build id already is. */
function sessionName(name: string): string {
  return name.replace(/[^\w+=,.@-]/g, '-').slice(0, 64).padEnd(2, '-');
}

export function targetRoleArn(partition: string, accountId: string): string {
  return `arn:${partition}:iam::${accountId}:role/${targetRoleName()}`;
}

async function assumeTargetRole(scope: TargetClientScope, accountId: string): Promise<Session['credentials']> {
  const roleArn = targetRoleArn(scope.partition, accountId);
  const key = `${roleArn}\u0000${scope.sessionName}`;
  const cached = sessions.get(key);
  if (cached !== undefined && cached.expires - Date.now() > RENEW_BEFORE_MS) return cached.credentials;
  const externalId = targetExternalId();
  const sts = new STSClient(awsClientConfig());
  const { Credentials: credentials } = await sts.send(
    new AssumeRoleCommand({
      RoleArn: roleArn,
      RoleSessionName: sessionName(scope.sessionName),
      DurationSeconds: SESSION_SECONDS,
      ...(externalId === undefined ? {} : { ExternalId: externalId }),
    }),
  );
  if (credentials?.AccessKeyId === undefined || credentials.SecretAccessKey === undefined || credentials.SessionToken === undefined) {
    throw new Error(`AssumeRole of ${roleArn} returned no credentials`);
  }
  const session: Session = {
    credentials: { accessKeyId: credentials.AccessKeyId, secretAccessKey: credentials.SecretAccessKey, sessionToken: credentials.SessionToken },
    expires: credentials.Expiration?.getTime() ?? Date.now() + SESSION_SECONDS * 1000,
  };
  sessions.set(key, session);
  return session.credentials;
}

/** An EC2 client acting in `accountId` and `region`. */
export async function ec2For(scope: TargetClientScope, target: { accountId: string; region: string }): Promise<EC2Client> {
  const base = awsClientConfig();
  const credentials = target.accountId === scope.factoryAccountId ? base.credentials : await assumeTargetRole(scope, target.accountId);
  return new EC2Client({ ...base, region: target.region, ...(credentials === undefined ? {} : { credentials }) });
}
