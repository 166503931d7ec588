/**
 * Packer's manifest of a succeeded build, computed from what the workflow already keeps
 * (its input's manifest options, its output's images) each time it is asked for: nothing
 * extra is written, and a re-read after a copy failed or an image was deregistered says
 * the same as the execution's own output.
 */
import { createHash } from 'node:crypto';
import type { DescribeExecutionOutput } from '@aws-sdk/client-sfn';
import type { BuildManifest } from '../../contract/api.ts';
import { ExecutionInputSchema, type BuiltImage } from '../../contract/execution.ts';
import type { BuildRequest } from '../../model/index.ts';
import { imagesOf } from './builds.ts';

type ManifestOptions = NonNullable<ReturnType<typeof ExecutionInputSchema.parse>['manifest']>;

/** The execution input's part: the build's name and its manifest post-processors merged (later wins). */
export function manifestOptions(request: BuildRequest): ManifestOptions {
  const postProcessors = request.post_processors ?? [];
  const data = postProcessors.flatMap((manifest) => (manifest.custom_data === null ? [] : Object.entries(manifest.custom_data)));
  return {
    buildName: request.builder.name,
    customData: postProcessors.some((manifest) => manifest.custom_data !== null) ? Object.fromEntries(data) : null,
    stripTime: postProcessors.some((manifest) => manifest.strip_time),
  };
}

/** A UUID of the build id, so every read names the run alike. */
export function runUuid(buildId: string): string {
  const hex = createHash('sha256').update(`ami-factory:${buildId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 17), 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * `region:ami-id` of every available image, one per region (the build account's first,
 * then a copy's), sorted as Packer's amazon artifact sorts them.
 */
export function artifactId(images: readonly BuiltImage[], buildAccountId: string | undefined): string {
  const byRegion = new Map<string, string>();
  const ordered = [...images].sort((a, b) => Number(b.accountId === buildAccountId) - Number(a.accountId === buildAccountId));
  for (const image of ordered) {
    if (image.state !== undefined && image.state !== 'available') continue;
    if (image.imageId === null || byRegion.has(image.region)) continue;
    byRegion.set(image.region, image.imageId);
  }
  return [...byRegion].map(([region, imageId]) => `${region}:${imageId}`).sort().join(',');
}

/** The manifest of a SUCCEEDED execution (the caller checks the status). */
export function buildManifest(buildId: string, execution: DescribeExecutionOutput): BuildManifest {
  let raw: { manifest?: unknown; target?: unknown } = {};
  try {
    raw = JSON.parse(execution.input ?? '{}') as typeof raw;
  } catch {
    // An unreadable input still has images to list.
  }
  // Each part on its own: a build from before manifests has no options, and still a manifest.
  const { shape } = ExecutionInputSchema;
  const options = shape.manifest.safeParse(raw.manifest).data ?? { buildName: 'amazon-chroot', customData: null, stripTime: false };
  const target = shape.target.safeParse(raw.target).data;
  const uuid = runUuid(buildId);
  const stopped = execution.stopDate;
  return {
    builds: [
      {
        name: options.buildName,
        builder_type: 'amazon-chroot',
        ...(options.stripTime || stopped === undefined ? {} : { build_time: Math.floor(stopped.getTime() / 1000) }),
        files: null,
        artifact_id: artifactId(imagesOf(execution.output), target?.accountId),
        packer_run_uuid: uuid,
        custom_data: options.customData,
      },
    ],
    last_run_uuid: uuid,
  };
}
