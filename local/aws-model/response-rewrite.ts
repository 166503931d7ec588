/**
 * Moto's EC2 answers, made to tell the model's time: while a volume, attachment, snapshot or
 * image is modelled as not ready, its Describe item shows the transitional state AWS would show,
 * and calls AWS refuses in that state are refused with EC2's own error format.
 *
 * Moto answers on one line with a fixed element order (checked against moto 5.2.5), and the
 * values touched here are ids, states and device names: targeted rewriting of each top-level
 * `<item>` keeps every other byte of moto's answer as it was, which a parse and re-serialise
 * would not promise.
 */
import { randomUUID } from 'node:crypto';
import { filtersOf, filterValueMatches, type Ec2Request } from './ec2-query.ts';
import type { ResourceClock } from './resource-clock.ts';

/** The text of the first `<tag>value</tag>` in xml. */
export function tagValue(xml: string, tag: string): string | undefined {
  const open = `<${tag}>`;
  const start = xml.indexOf(open);
  if (start < 0) return undefined;
  const end = xml.indexOf(`</${tag}>`, start);
  return end < 0 ? undefined : xml.slice(start + open.length, end);
}

/** Replaces the value of the first `<tag>from</tag>`; xml unchanged when it does not hold that. */
function replaceValue(xml: string, tag: string, from: string | RegExp, to: string): string {
  const value = tagValue(xml, tag);
  if (value === undefined) return xml;
  if (typeof from === 'string' ? value !== from : !from.test(value)) return xml;
  return xml.replace(`<${tag}>${value}</${tag}>`, `<${tag}>${escapeXml(to)}</${tag}>`);
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

type Segment = { item: false; text: string } | { item: true; text: string };

/**
 * The top-level `<item>`s of `<setTag>` and the text around them, so items can be changed or
 * dropped and the rest kept byte for byte. Undefined when the set is absent or empty (`<x/>`).
 */
function splitSet(xml: string, setTag: string): Segment[] | undefined {
  const open = `<${setTag}>`;
  const setStart = xml.indexOf(open);
  if (setStart < 0) return undefined;
  const segments: Segment[] = [];
  const pattern = new RegExp(`<item>|<item/>|</item>|</${setTag}>`, 'g');
  pattern.lastIndex = setStart + open.length;
  let depth = 0;
  let textStart = 0;
  let itemStart = 0;
  for (let match = pattern.exec(xml); match !== null; match = pattern.exec(xml)) {
    const token = match[0];
    if (token === `</${setTag}>`) {
      if (depth !== 0) return undefined;
      segments.push({ item: false, text: xml.slice(textStart) });
      return segments;
    }
    if (token === '<item>') {
      if (depth === 0) {
        segments.push({ item: false, text: xml.slice(textStart, match.index) });
        itemStart = match.index;
      }
      depth += 1;
    } else if (token === '</item>') {
      depth -= 1;
      if (depth < 0) return undefined;
      if (depth === 0) {
        textStart = match.index + token.length;
        segments.push({ item: true, text: xml.slice(itemStart, textStart) });
      }
    }
  }
  return undefined;
}

function joinSegments(segments: Segment[]): string {
  return segments.map((segment) => segment.text).join('');
}

interface ModelledItem {
  xml: string;
  /** Whether the model changed this item: only those are filtered again. */
  changed: boolean;
  /** Filter name → the item's modelled values for it. */
  values: Record<string, string[]>;
}

/**
 * Rewrites each item of a set; a changed item that no longer matches the request's filters on
 * the modelled fields is dropped (moto chose it by its own state). Nothing is added: moto left
 * out what its state did not match, and the model never makes a thing more ready than moto.
 */
function rewriteSet(xml: string, setTag: string, request: Ec2Request, rewrite: (item: string) => ModelledItem): string {
  const segments = splitSet(xml, setTag);
  if (segments === undefined) return xml;
  const filters = filtersOf(request.params);
  const kept = segments.flatMap((segment): Segment[] => {
    if (!segment.item) return [segment];
    const modelled = rewrite(segment.text);
    if (!modelled.changed) return [segment];
    for (const filter of filters) {
      const values = modelled.values[filter.name];
      if (values === undefined) continue;
      if (!values.some((value) => filter.values.some((pattern) => filterValueMatches(pattern, value)))) return [];
    }
    return [{ item: true, text: modelled.xml }];
  });
  return joinSegments(kept);
}

/** A volume item split around its attachment set, so `<status>` means one thing in each part. */
function splitAttachments(item: string): { outer: [string, string]; attachments: string } | undefined {
  const start = item.indexOf('<attachmentSet');
  if (start < 0) return undefined;
  const selfClosed = item.startsWith('<attachmentSet/>', start);
  const end = selfClosed ? start + '<attachmentSet/>'.length : item.indexOf('</attachmentSet>', start) + '</attachmentSet>'.length;
  if (!selfClosed && end < '</attachmentSet>'.length) return undefined;
  return { outer: [item.slice(0, start), item.slice(end)], attachments: item.slice(start, end) };
}

function attachmentStatuses(attachments: string): string[] {
  return [...attachments.matchAll(/<status>([^<]*)<\/status>/g)].map((match) => match[1] ?? '');
}

function rewriteVolume(item: string, clock: ResourceClock): ModelledItem {
  const parts = splitAttachments(item);
  if (parts === undefined) return { xml: item, changed: false, values: {} };
  let head = parts.outer[0];
  const tail = parts.outer[1];
  let { attachments } = parts;
  const volumeId = tagValue(head, 'volumeId') ?? '';
  let changed = false;
  if (clock.isCreating(volumeId) && tagValue(head, 'status') === 'available') {
    head = replaceValue(head, 'status', 'available', 'creating');
    changed = true;
  }
  const detaching = clock.detaching(volumeId);
  if (clock.isAttaching(volumeId) && attachmentStatuses(attachments).includes('attached')) {
    attachments = attachments.replace('<status>attached</status>', '<status>attaching</status>');
    changed = true;
  } else if (detaching !== undefined && tagValue(head, 'status') === 'available' && !attachments.includes('<item>')) {
    // Moto forgets the attachment at once; AWS keeps showing it, detaching, on an in-use volume.
    head = replaceValue(head, 'status', 'available', 'in-use');
    attachments =
      '<attachmentSet><item>' +
      `<volumeId>${escapeXml(detaching.volumeId)}</volumeId>` +
      `<instanceId>${escapeXml(detaching.instanceId)}</instanceId>` +
      `<device>${escapeXml(detaching.device)}</device>` +
      '<status>detaching</status>' +
      (detaching.attachTime === undefined ? '' : `<attachTime>${escapeXml(detaching.attachTime)}</attachTime>`) +
      '</item></attachmentSet>';
    changed = true;
  }
  return {
    xml: head + attachments + tail,
    changed,
    values: { status: [tagValue(head, 'status') ?? ''], 'attachment.status': attachmentStatuses(attachments) },
  };
}

/**
 * Every snapshot is filtered again on its status, changed or not: the proxy forwards a
 * `status` filter's DescribeSnapshots without it (moto would drop a snapshot it has completed
 * that the model still has pending), so the filter is applied here (STRIPPED_FILTERS).
 */
function rewriteSnapshot(item: string, clock: ResourceClock): ModelledItem {
  const progress = clock.snapshotProgress(tagValue(item, 'snapshotId') ?? '');
  if (progress === undefined || tagValue(item, 'status') !== 'completed') return { xml: item, changed: true, values: { status: [tagValue(item, 'status') ?? ''] } };
  const xml = replaceValue(replaceValue(item, 'status', 'completed', 'pending'), 'progress', /^\d+%$/, `${progress}%`);
  return { xml, changed: true, values: { status: ['pending'] } };
}

/**
 * Filters moto must not apply, by action: moto's state is readier than the model's, so it would
 * leave out what the model still has in a transitional state. The proxy forwards the call
 * without them and the rewrite filters on the modelled state.
 */
export const STRIPPED_FILTERS: Readonly<Record<string, readonly string[]>> = { DescribeSnapshots: ['status'] };

function rewriteImage(item: string, clock: ResourceClock): ModelledItem {
  if (!clock.isImagePending(tagValue(item, 'imageId') ?? '') || tagValue(item, 'imageState') !== 'available') {
    return { xml: item, changed: false, values: {} };
  }
  return { xml: replaceValue(item, 'imageState', 'available', 'pending'), changed: true, values: { state: ['pending'] } };
}

/** Moto's answer to a Describe call, as the model's clock has it; other answers unchanged. */
export function rewriteAnswer(request: Ec2Request, xml: string, clock: ResourceClock): string {
  switch (request.action) {
    case 'DescribeVolumes':
      return rewriteSet(xml, 'volumeSet', request, (item) => rewriteVolume(item, clock));
    case 'DescribeSnapshots':
      return rewriteSet(xml, 'snapshotSet', request, (item) => rewriteSnapshot(item, clock));
    case 'DescribeImages':
      return rewriteSet(xml, 'imagesSet', request, (item) => rewriteImage(item, clock));
    default:
      return xml;
  }
}

/** Starts the model's clock for what a successful call began. */
export async function observeAnswer(request: Ec2Request, xml: string, clock: ResourceClock): Promise<void> {
  const { params } = request;
  switch (request.action) {
    case 'CreateVolume': {
      const volumeId = tagValue(xml, 'volumeId');
      const size = Number(tagValue(xml, 'size'));
      if (volumeId !== undefined) clock.volumeCreated(volumeId, Number.isFinite(size) ? size : undefined);
      return;
    }
    case 'AttachVolume': {
      const volumeId = params.get('VolumeId');
      if (volumeId !== null) clock.attachStarted(volumeId);
      return;
    }
    case 'DetachVolume': {
      const volumeId = tagValue(xml, 'volumeId') ?? params.get('VolumeId');
      if (volumeId === null) return;
      clock.detachStarted({
        volumeId,
        instanceId: params.get('InstanceId') ?? tagValue(xml, 'instanceId') ?? '',
        device: params.get('Device') ?? tagValue(xml, 'device') ?? '',
        attachTime: tagValue(xml, 'attachTime'),
      });
      return;
    }
    case 'CreateSnapshot': {
      const snapshotId = tagValue(xml, 'snapshotId');
      const volumeId = tagValue(xml, 'volumeId') ?? params.get('VolumeId');
      if (snapshotId === undefined || volumeId === null) return;
      const size = Number(tagValue(xml, 'volumeSize'));
      if (Number.isFinite(size)) clock.rememberVolumeSize(volumeId, size);
      await clock.snapshotStarted(snapshotId, volumeId);
      return;
    }
    case 'RegisterImage': {
      const imageId = tagValue(xml, 'imageId');
      if (imageId !== undefined) clock.imageRegistered(imageId);
      return;
    }
    case 'DeleteSnapshot': {
      // A pending snapshot deleted no longer counts against the account's pending snapshots.
      const snapshotId = params.get('SnapshotId');
      if (snapshotId !== null) clock.snapshotDeleted(snapshotId);
      return;
    }
    default:
      return;
  }
}

export interface Ec2Error {
  status: number;
  code: string;
  message: string;
}

/** What AWS refuses while a thing is in a transitional state; undefined when the call may go on. */
export function refusalFor(request: Ec2Request, clock: ResourceClock): Ec2Error | undefined {
  const { params } = request;
  switch (request.action) {
    case 'AttachVolume': {
      const volumeId = params.get('VolumeId') ?? '';
      if (clock.isCreating(volumeId)) {
        return { status: 400, code: 'IncorrectState', message: `The volume '${volumeId}' is not in the 'available' state (it is 'creating').` };
      }
      const detaching = clock.detaching(volumeId);
      if (detaching !== undefined) {
        return { status: 400, code: 'VolumeInUse', message: `${volumeId} is still detaching from ${detaching.instanceId}` };
      }
      return undefined;
    }
    case 'DeleteVolume': {
      const volumeId = params.get('VolumeId') ?? '';
      if (clock.isAttaching(volumeId) || clock.detaching(volumeId) !== undefined) {
        return { status: 400, code: 'VolumeInUse', message: `Volume ${volumeId} is currently attached to an instance` };
      }
      return undefined;
    }
    case 'CreateSnapshot': {
      const pending = clock.pendingSnapshotCount();
      if (pending >= clock.pendingSnapshotLimit) {
        return { status: 400, code: 'PendingSnapshotLimitExceeded', message: `The maximum number of pending snapshots (${clock.pendingSnapshotLimit}) has been reached.` };
      }
      return undefined;
    }
    case 'RegisterImage': {
      for (const [key, snapshotId] of params) {
        if (/^BlockDeviceMapping\.\d+\.Ebs\.SnapshotId$/.test(key) && clock.snapshotProgress(snapshotId) !== undefined) {
          return { status: 400, code: 'IncorrectState', message: `Snapshot ${snapshotId} is not completed` };
        }
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

export const THROTTLED: Ec2Error = { status: 503, code: 'RequestLimitExceeded', message: 'Request limit exceeded.' };

/** EC2's XML error body. */
export function ec2ErrorBody(error: Pick<Ec2Error, 'code' | 'message'>): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error></Errors>` +
    `<RequestID>${randomUUID()}</RequestID></Response>`
  );
}
