/** The rewrites on answers shaped as moto 5.2.5 gives them (one line, fixed element order). */
import { describe, expect, it } from 'vitest';
import { parseEc2Request } from '../../../local/aws-model/ec2-query.ts';
import { parseAwsModelProfile, loadAwsModelProfile } from '../../../local/aws-model/profile.ts';
import { ResourceClock } from '../../../local/aws-model/resource-clock.ts';
import { ec2ErrorBody, observeAnswer, refusalFor, rewriteAnswer } from '../../../local/aws-model/response-rewrite.ts';

const authorization = 'AWS4-HMAC-SHA256 Credential=testing/20261130/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00';
const call = (body: string) => parseEc2Request(body, authorization);
const head = '<?xml version="1.0" encoding="utf-8"?>\n';
const ns = 'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"';

const attachedItem = (volumeId: string, status: string) =>
  `<item><volumeType>gp2</volumeType><volumeId>${volumeId}</volumeId><size>8</size><availabilityZone>us-east-1a</availabilityZone><status>in-use</status><createTime>2026-11-30T19:34:34.000Z</createTime><attachmentSet><item><volumeId>${volumeId}</volumeId><instanceId>i-1</instanceId><device>/dev/sdf</device><status>${status}</status><attachTime>2026-11-30T19:34:34.000Z</attachTime></item></attachmentSet><encrypted>false</encrypted></item>`;
const freeItem = (volumeId: string, status = 'available') =>
  `<item><volumeType>gp2</volumeType><volumeId>${volumeId}</volumeId><size>8</size><availabilityZone>us-east-1a</availabilityZone><status>${status}</status><createTime>2026-11-30T19:34:34.000Z</createTime><attachmentSet/><encrypted>false</encrypted></item>`;
const volumes = (...items: string[]) =>
  `${head}<DescribeVolumesResponse ${ns}><volumeSet>${items.join('')}</volumeSet><requestId>request-id</requestId></DescribeVolumesResponse>`;

function setUp() {
  const time = { now: 0 };
  const profile = parseAwsModelProfile({ ...loadAwsModelProfile('typical'), timeScale: 0.001 });
  // typical * 0.001: create 5 ms, attach 3 ms, detach 5 ms, image 5 ms, snapshot 60 + 180 * GiB ms.
  const clock = new ResourceClock({ profile, now: () => time.now });
  return { time, clock };
}

describe('moto answer rewriting', () => {
  it('shows a new volume creating and drops it from a status=available listing, keeping other bytes', async () => {
    const { time, clock } = setUp();
    await observeAnswer(call('Action=CreateVolume&Size=8'), `${head}<CreateVolumeResponse ${ns}><volumeType>gp2</volumeType><volumeId>vol-new</volumeId><size>8</size><status>available</status><attachmentSet/></CreateVolumeResponse>`, clock);
    const answer = volumes(freeItem('vol-old'), freeItem('vol-new'));
    expect(rewriteAnswer(call('Action=DescribeVolumes'), answer, clock)).toBe(volumes(freeItem('vol-old'), freeItem('vol-new', 'creating')));
    expect(rewriteAnswer(call('Action=DescribeVolumes&Filter.1.Name=status&Filter.1.Value.1=available'), answer, clock)).toBe(volumes(freeItem('vol-old')));
    expect(rewriteAnswer(call('Action=DescribeVolumes&Filter.1.Name=status&Filter.1.Value.1=*'), answer, clock)).toBe(volumes(freeItem('vol-old'), freeItem('vol-new', 'creating')));
    expect(refusalFor(call('Action=AttachVolume&VolumeId=vol-new&InstanceId=i-1&Device=%2Fdev%2Fsdf'), clock)).toMatchObject({ code: 'IncorrectState' });
    time.now = 5;
    expect(rewriteAnswer(call('Action=DescribeVolumes'), answer, clock)).toBe(answer);
    expect(refusalFor(call('Action=AttachVolume&VolumeId=vol-new&InstanceId=i-1&Device=%2Fdev%2Fsdf'), clock)).toBeUndefined();
  });

  it('changes only the attachment status while attaching, and models a detach moto forgot', async () => {
    const { time, clock } = setUp();
    await observeAnswer(call('Action=AttachVolume&VolumeId=vol-a&InstanceId=i-1&Device=%2Fdev%2Fsdf'), '<AttachVolumeResponse/>', clock);
    expect(rewriteAnswer(call('Action=DescribeVolumes'), volumes(attachedItem('vol-a', 'attached')), clock)).toBe(volumes(attachedItem('vol-a', 'attaching')));
    expect(rewriteAnswer(call('Action=DescribeVolumes&Filter.1.Name=attachment.status&Filter.1.Value.1=attached'), volumes(attachedItem('vol-a', 'attached')), clock)).toBe(volumes());
    time.now = 3;
    await observeAnswer(
      call('Action=DetachVolume&VolumeId=vol-a&InstanceId=i-1&Device=%2Fdev%2Fsdf'),
      `${head}<DetachVolumeResponse ${ns}><volumeId>vol-a</volumeId><instanceId>i-1</instanceId><device>/dev/sdf</device><status>detaching</status><attachTime>2026-11-30T19:34:34.000Z</attachTime><requestId>request-id</requestId></DetachVolumeResponse>`,
      clock,
    );
    expect(rewriteAnswer(call('Action=DescribeVolumes'), volumes(freeItem('vol-a')), clock)).toBe(volumes(attachedItem('vol-a', 'detaching')));
    expect(refusalFor(call('Action=DeleteVolume&VolumeId=vol-a'), clock)).toMatchObject({ code: 'VolumeInUse', status: 400 });
    time.now = 8;
    expect(rewriteAnswer(call('Action=DescribeVolumes'), volumes(freeItem('vol-a')), clock)).toBe(volumes(freeItem('vol-a')));
  });

  it('keeps images pending without touching their nested block device items', async () => {
    const { time, clock } = setUp();
    await observeAnswer(call('Action=RegisterImage&Name=x'), `${head}<RegisterImageResponse ${ns}><imageId>ami-1</imageId><requestId>request-id</requestId></RegisterImageResponse>`, clock);
    const image = (state: string) =>
      `<item><blockDeviceMapping><item><ebs><deleteOnTermination>false</deleteOnTermination><snapshotId>snap-1</snapshotId><volumeSize>15</volumeSize><volumeType>standard</volumeType></ebs><deviceName>/dev/sda1</deviceName></item></blockDeviceMapping><description/><name>x</name><tagSet/><imageId>ami-1</imageId><imageState>${state}</imageState><imageOwnerId>123456789012</imageOwnerId></item>`;
    const images = (...items: string[]) => `${head}<DescribeImagesResponse ${ns}><imagesSet>${items.join('')}</imagesSet><requestId>request-id</requestId></DescribeImagesResponse>`;
    expect(rewriteAnswer(call('Action=DescribeImages&ImageId.1=ami-1'), images(image('available')), clock)).toBe(images(image('pending')));
    expect(rewriteAnswer(call('Action=DescribeImages&Filter.1.Name=state&Filter.1.Value.1=available'), images(image('available')), clock)).toBe(images());
    time.now = 5;
    expect(rewriteAnswer(call('Action=DescribeImages'), images(image('available')), clock)).toBe(images(image('available')));
  });

  it('shows snapshot progress in proportion and refuses images of pending snapshots', async () => {
    const { time, clock } = setUp();
    await observeAnswer(
      call('Action=CreateSnapshot&VolumeId=vol-a'),
      `${head}<CreateSnapshotResponse ${ns}><tagSet/><snapshotId>snap-1</snapshotId><volumeId>vol-a</volumeId><status>completed</status><progress>100%</progress><volumeSize>8</volumeSize></CreateSnapshotResponse>`,
      clock,
    );
    // 8 GiB * 0.125 changed: 60 + 180 = 240 ms.
    const snapshot = (status: string, progress: string) =>
      `<item><tagSet/><storageTier>standard</storageTier><snapshotId>snap-1</snapshotId><volumeId>vol-a</volumeId><status>${status}</status><startTime>2026-11-30T19:34:35.000Z</startTime><progress>${progress}</progress><volumeSize>8</volumeSize></item>`;
    const snapshots = (...items: string[]) => `${head}<DescribeSnapshotsResponse ${ns}><snapshotSet>${items.join('')}</snapshotSet><requestId>request-id</requestId></DescribeSnapshotsResponse>`;
    time.now = 120;
    expect(rewriteAnswer(call('Action=DescribeSnapshots'), snapshots(snapshot('completed', '100%')), clock)).toBe(snapshots(snapshot('pending', '50%')));
    expect(refusalFor(call('Action=RegisterImage&BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda&BlockDeviceMapping.1.Ebs.SnapshotId=snap-1'), clock)).toEqual({
      status: 400,
      code: 'IncorrectState',
      message: 'Snapshot snap-1 is not completed',
    });
    time.now = 240;
    expect(rewriteAnswer(call('Action=DescribeSnapshots'), snapshots(snapshot('completed', '100%')), clock)).toBe(snapshots(snapshot('completed', '100%')));
  });

  it("answers errors in EC2's XML format", () => {
    expect(ec2ErrorBody({ code: 'RequestLimitExceeded', message: 'Request limit exceeded.' })).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>RequestLimitExceeded<\/Code><Message>Request limit exceeded.<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/,
    );
  });
});
