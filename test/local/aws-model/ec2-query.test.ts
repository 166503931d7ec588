import { describe, expect, it } from 'vitest';
import {
  credentialScope,
  filtersOf,
  filterValueMatches,
  isEc2QueryRequest,
  isFilteredOrPaginated,
  listParam,
  parseEc2Request,
} from '../../../local/aws-model/ec2-query.ts';

const ec2Authorization =
  'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc';

describe('EC2 Query API requests', () => {
  it('reads the access key, region and service from a SigV4 credential scope', () => {
    expect(credentialScope(ec2Authorization)).toEqual({ accessKeyId: 'AKIDEXAMPLE', region: 'eu-west-1', service: 'ec2' });
    expect(credentialScope(undefined)).toBeUndefined();
    expect(credentialScope('Bearer x')).toBeUndefined();
  });

  it('recognises EC2 calls only: a signed form POST to / for the ec2 service', () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', authorization: ec2Authorization };
    expect(isEc2QueryRequest('POST', '/', form)).toBe(true);
    expect(isEc2QueryRequest('GET', '/', form)).toBe(false);
    expect(isEc2QueryRequest('POST', '/queue', form)).toBe(false);
    expect(isEc2QueryRequest('POST', '/', { ...form, authorization: ec2Authorization.replace('/ec2/', '/sqs/') })).toBe(false);
    expect(isEc2QueryRequest('POST', '/', { ...form, 'content-type': 'application/x-amz-json-1.0' })).toBe(false);
    expect(isEc2QueryRequest('POST', '/', { 'content-type': form['content-type'] })).toBe(false);
  });

  it('parses actions, lists and filters', () => {
    const request = parseEc2Request(
      'Action=DescribeVolumes&Version=2016-11-15&VolumeId.2=vol-b&VolumeId.1=vol-a&Filter.1.Name=status&Filter.1.Value.1=available&Filter.1.Value.2=in-use&Filter.2.Name=tag%3AName&Filter.2.Value.1=a+b',
      ec2Authorization,
    );
    expect(request).toMatchObject({ action: 'DescribeVolumes', accessKeyId: 'AKIDEXAMPLE', region: 'eu-west-1' });
    expect(listParam(request.params, 'VolumeId')).toEqual(['vol-a', 'vol-b']);
    expect(filtersOf(request.params)).toEqual([
      { name: 'status', values: ['available', 'in-use'] },
      { name: 'tag:Name', values: ['a b'] },
    ]);
    expect(isFilteredOrPaginated(request.params)).toBe(true);
    expect(isFilteredOrPaginated(new URLSearchParams('Action=DescribeVolumes&VolumeId.1=vol-a'))).toBe(false);
    expect(isFilteredOrPaginated(new URLSearchParams('Action=DescribeSnapshots&MaxResults=5'))).toBe(true);
  });

  it('matches filter values with EC2 wildcards', () => {
    expect(filterValueMatches('avail*', 'available')).toBe(true);
    expect(filterValueMatches('in-us?', 'in-use')).toBe(true);
    expect(filterValueMatches('available', 'creating')).toBe(false);
    expect(filterValueMatches('a.b', 'axb')).toBe(false);
  });
});
