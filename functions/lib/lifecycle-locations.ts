/**
 * Where a family's images may be, from its configuration (factory.yml): the build region of
 * the factory's account, the factory's own image in each target's region (its copy there, which
 * a `share` target is given), and each target account's own copy in its region (`copy`).
 * Looking where nothing is costs one empty answer; not looking where an image is would leave it
 * forever. A target removed from factory.yml is no longer looked at.
 *
 * Instances using an image may run in other accounts than the image's: a target account
 * launches the factory's image shared with it. So each place also names the accounts whose
 * instances count when the lifecycle asks whether an image is still in use.
 */
import type { Family } from '../../contract/factory-config.ts';

export interface LifecycleLocation {
  accountId: string;
  region: string;
  /** The accounts whose instances may run the images here: the owner's, and those it shares with. */
  launchers: string[];
}

export interface FactoryPlace {
  accountId: string;
  /** The build region: where every build registers its first image. */
  region: string;
}

export function lifecycleLocations(family: Pick<Family, 'targets'>, factory: FactoryPlace): LifecycleLocation[] {
  const locations = new Map<string, LifecycleLocation>();
  const add = (accountId: string, region: string, launchers: string[]): void => {
    const key = `${accountId}/${region}`;
    const known = locations.get(key) ?? { accountId, region, launchers: [accountId] };
    for (const launcher of launchers) if (!known.launchers.includes(launcher)) known.launchers.push(launcher);
    locations.set(key, known);
  };
  add(factory.accountId, factory.region, []);
  for (const target of family.targets) {
    const account = target.account ?? factory.accountId;
    // The factory's image in the region: a share target launches it, a copy target copies it
    // (and may launch it too while it is shared).
    add(factory.accountId, target.region, [account]);
    if (account !== factory.accountId && target.mode === 'copy') add(account, target.region, []);
  }
  return [...locations.values()];
}
