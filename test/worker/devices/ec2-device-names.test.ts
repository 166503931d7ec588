import { describe, expect, it } from 'vitest';
import {
  canonicalDeviceName,
  DEFAULT_CANDIDATES,
  driveLetter,
  NoFreeDeviceNameError,
  pickFreeDeviceName,
  scanDeviceNames,
  type Ec2Attachment,
} from '../../../worker/devices/ec2-device-names.ts';

const ROOT_NODES = ['xvda', 'xvda1', 'nvme0n1', 'loop0', 'null'];

describe('device names', () => {
  it('reads the drive letter under either spelling', () => {
    expect(['/dev/sdf', 'sdf', '/dev/xvdf', 'xvdf1', '/dev/sdf15'].map(driveLetter)).toEqual(['f', 'f', 'f', 'f', 'f']);
    expect(['nvme1n1', '/dev/xvdba', 'loop3', '/dev/hdf'].map(driveLetter)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(canonicalDeviceName('/dev/xvdg')).toBe('/dev/sdg');
    expect(() => canonicalDeviceName('/dev/nvme1n1')).toThrow('not an EC2 sd/xvd device name');
  });

  it('offers f to p first, then q to z', () => {
    expect(DEFAULT_CANDIDATES.slice(0, 11)).toEqual('fghijklmnop'.split('').map((l) => `/dev/sd${l}`));
    expect(DEFAULT_CANDIDATES.at(-1)).toBe('/dev/sdz');
  });
});

describe('pickFreeDeviceName', () => {
  it('picks /dev/sdf on an empty host', () => {
    expect(pickFreeDeviceName({ localNodes: ROOT_NODES, attachments: [], leased: [] })).toBe('/dev/sdf');
  });

  it('skips a name whose node exists under the Xen spelling', () => {
    expect(pickFreeDeviceName({ localNodes: [...ROOT_NODES, 'xvdf', 'xvdf1', 'sdg'], attachments: [], leased: [] })).toBe(
      '/dev/sdh',
    );
  });

  it('skips names EC2 still has attached, attaching, detaching or busy, even with no local node', () => {
    const attachments: Ec2Attachment[] = [
      { deviceName: '/dev/sdf', volumeId: 'vol-1', state: 'attached' },
      { deviceName: 'xvdg', volumeId: 'vol-2', state: 'attaching' },
      { deviceName: '/dev/sdh', volumeId: 'vol-3', state: 'detaching' },
      { deviceName: '/dev/xvdi', volumeId: 'vol-4', state: 'busy' },
      { deviceName: '/dev/sdj', volumeId: 'vol-5', state: 'detached' },
    ];
    expect(pickFreeDeviceName({ localNodes: ROOT_NODES, attachments, leased: [] })).toBe('/dev/sdj');
  });

  it('skips names leased by other builds on this host, under either spelling', () => {
    expect(pickFreeDeviceName({ localNodes: ROOT_NODES, attachments: [], leased: ['sdf', 'xvdg'] })).toBe('/dev/sdh');
  });

  it('explains why every candidate is taken', () => {
    const scan = {
      localNodes: ['xvdf'],
      attachments: [{ deviceName: '/dev/sdg', volumeId: 'vol-0abc', state: 'attached' as const }],
      leased: ['sdh'],
      candidates: ['/dev/sdf', '/dev/sdg', '/dev/sdh'],
    };
    expect(scanDeviceNames(scan).free).toEqual([]);
    let error: unknown;
    try {
      pickFreeDeviceName(scan);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NoFreeDeviceNameError);
    expect((error as Error).message).toBe(
      'no free device name for attaching a volume on this host:\n' +
        '  /dev/sdf: local node /dev/xvdf exists\n' +
        '  /dev/sdg: EC2 has vol-0abc attached as /dev/sdg\n' +
        '  /dev/sdh: leased by another build on this host',
    );
  });

  it('rejects candidates that are not sd/xvd names', () => {
    expect(() => pickFreeDeviceName({ localNodes: [], attachments: [], leased: [], candidates: ['/dev/nvme1n1'] })).toThrow(
      'not an EC2 sd/xvd device name',
    );
  });
});
