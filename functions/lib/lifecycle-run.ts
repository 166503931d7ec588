/**
 * One lifecycle run of a family: find its images wherever the factory put them
 * (lifecycle-locations.ts, lifecycle-inventory.ts), count the instances using them when the
 * family asks to spare those, decide (lifecycle-plan.ts), and, unless it is a dry run, apply
 * (lifecycle-apply.ts). Clients of other accounts come through the target-account role
 * (target-clients.ts).
 *
 * A place that cannot be listed (a role that cannot be assumed, say) is reported and its images
 * are left alone; the rest goes on. That is safe for the ranking: a build missed there only
 * moves older builds up among the newest, so more is kept, never less.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Family, Lifecycle } from '../../contract/factory-config.ts';
import type { LifecycleLocation as LocationReport, LifecycleReport } from '../../contract/lifecycle.ts';
import { applyLifecyclePlan, describeError, unapplied, type ClientFor } from './lifecycle-apply.ts';
import { countInstancesUsing, findFamilyImages } from './lifecycle-inventory.ts';
import { lifecycleLocations, type LifecycleLocation } from './lifecycle-locations.ts';
import { planLifecycle, type FoundImage } from './lifecycle-plan.ts';
import { ec2For } from './target-clients.ts';

export interface LifecycleRunInput {
  family: string;
  config: Pick<Family, 'targets'> & { lifecycle: Lifecycle };
  dryRun: boolean;
  /** The factory's account, partition and build region (the build workflow's). */
  factory: { accountId: string; region: string; partition: string };
  /** The instant the rules are evaluated at; the real clock by default. */
  now?: Date;
}

/** EC2 clients of one run, one per account and region, made once and destroyed at the end. */
function clientCache(factory: LifecycleRunInput['factory'], family: string): { clientFor: ClientFor; destroy(): void } {
  const scope = { factoryAccountId: factory.accountId, partition: factory.partition, sessionName: `ami-factory-lifecycle-${family}` };
  const clients = new Map<string, Promise<EC2Client>>();
  return {
    clientFor(place) {
      const key = `${place.accountId}/${place.region}`;
      let client = clients.get(key);
      if (client === undefined) {
        client = ec2For(scope, place);
        clients.set(key, client);
      }
      return client;
    },
    destroy() {
      for (const client of clients.values()) void client.then((made) => { made.destroy(); }, () => undefined);
    },
  };
}

interface Listed {
  location: LifecycleLocation;
  images: FoundImage[];
  error: string | null;
}

async function list(location: LifecycleLocation, family: string, clientFor: ClientFor): Promise<Listed> {
  try {
    return { location, images: await findFamilyImages(await clientFor(location), location, family), error: null };
  } catch (error) {
    return { location, images: [], error: describeError(error) };
  }
}

/** Each image with the instances using it in every account that may launch it there. */
async function withUsage({ location, images }: Listed, clientFor: ClientFor): Promise<FoundImage[]> {
  if (images.length === 0) return images;
  const imageIds = images.map((image) => image.imageId);
  const counts = new Map<string, number>();
  const errors: string[] = [];
  for (const accountId of location.launchers) {
    try {
      const found = await countInstancesUsing(await clientFor({ accountId, region: location.region }), imageIds);
      for (const [imageId, count] of found) counts.set(imageId, (counts.get(imageId) ?? 0) + count);
    } catch (error) {
      errors.push(`${accountId}: ${describeError(error)}`);
    }
  }
  const error = errors.length === 0 ? null : errors.join('; ');
  return images.map((image) => ({ ...image, usage: { instances: counts.get(image.imageId) ?? 0, error } }));
}

export async function runLifecycle(input: LifecycleRunInput): Promise<LifecycleReport> {
  const { family, config, dryRun, factory } = input;
  const { lifecycle } = config;
  const now = input.now ?? new Date();
  const clients = clientCache(factory, family);
  try {
    const locations = lifecycleLocations(config, factory);
    const listed = await Promise.all(locations.map((location) => list(location, family, clients.clientFor)));
    const images = lifecycle.skip_in_use
      ? (await Promise.all(listed.map((place) => withUsage(place, clients.clientFor)))).flat()
      : listed.flatMap((place) => place.images);
    const plan = planLifecycle({ family, lifecycle, images, now });
    const applied = dryRun ? plan.map((entry) => unapplied(entry, true)) : await applyLifecyclePlan(plan, clients.clientFor);
    const report: LocationReport[] = listed.map(({ location, images: found, error }) => ({
      accountId: location.accountId,
      region: location.region,
      images: found.length,
      error,
    }));
    return {
      family,
      dryRun,
      evaluatedAt: now.toISOString(),
      settings: {
        keepNewest: lifecycle.keep_newest,
        deregisterAfterDays: lifecycle.deregister_after_days ?? null,
        keepTag: lifecycle.keep_tag,
        skipInUse: lifecycle.skip_in_use,
      },
      locations: report,
      images: applied,
    };
  } finally {
    clients.destroy();
  }
}
