/**
 * The distribute-image workflow: an existing image of the factory, re-distributed without a
 * rebuild (`POST /images/{imageId}/distributions`, `ami-factory distribute`). The same states
 * as a build's end: the build region's sharing with the new targets (build-image.ts's
 * distribution, whose other requests the distribute function leaves null), then every copy in
 * parallel (release.ts), then Build Distributed with each target's image and state.
 * distribute-image.asl.json is rendered from this (`npm run render:workflow`).
 *
 * Input (contract/execution.ts, DistributionInputSchema): the distribution id (also the
 * execution name), the image and its root snapshot, the build region and account, the
 * distribution plan, polling, and what the event says of the build.
 */
import { failWithTheError, type States } from './asl.ts';
import { distribute } from './build-image.ts';
import { announceDistribution, releaseStates } from './release.ts';
import { renderJson } from './render-json.ts';

const report: States = {
  ...releaseStates('Report the images'),
  'Report the images': {
    Type: 'Pass',
    Comment: 'One entry per region and account the distribution named, failed copies included.',
    Parameters: { 'distributionId.$': '$.buildId', 'buildId.$': '$.announced.buildId', 'amis.$': '$.images' },
    ResultPath: '$.result',
    Next: 'Announce the distribution',
  },
  'Announce the distribution': announceDistribution(
    'Build Distributed, for the build that made the image: every image this distribution made or found, with its state.',
    'Distributed',
  ),
  Distributed: {
    Type: 'Pass',
    Comment: 'The output: { distributionId, buildId, amis }.',
    OutputPath: '$.result',
    End: true,
  },
};

export const distributeImageDefinition = {
  Comment:
    'Re-distributes an existing image of the factory to new targets, without a rebuild. Rendered from statemachine/distribute-image.ts. A failed copy is reported in its entry; the sharing in the build region fails the execution.',
  StartAt: 'Set product codes?',
  States: { ...distribute, ...report, ...failWithTheError() },
};

export function renderDistributeImageDefinition(): string {
  return `${renderJson(distributeImageDefinition)}\n`;
}
