/**
 * Recognising and reading EC2 Query API requests: a form-encoded POST to `/`, signed with
 * SigV4 for the `ec2` service. Anything else is not the model's business and passes through.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface CredentialScope {
  accessKeyId: string;
  region: string;
  service: string;
}

/** `AWS4-HMAC-SHA256 Credential=AKID/20261130/us-east-1/ec2/aws4_request, SignedHeaders=..., Signature=...` */
export function credentialScope(authorization: string | undefined): CredentialScope | undefined {
  const match = authorization === undefined ? null : /Credential=([^/,\s]+)\/\d{8}\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/.exec(authorization);
  if (match === null) return undefined;
  const [, accessKeyId = '', region = '', service = ''] = match;
  return { accessKeyId, region, service };
}

/** True for requests the model reads: EC2 Query API calls (the JS SDK v3 and boto3 send the same form). */
export function isEc2QueryRequest(method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders): boolean {
  if (method !== 'POST') return false;
  if (url !== '/' && url?.startsWith('/?') !== true) return false;
  const contentType = headers['content-type'] ?? '';
  if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) return false;
  return credentialScope(headers.authorization)?.service === 'ec2';
}

export interface Ec2Request {
  action: string;
  params: URLSearchParams;
  accessKeyId: string;
  region: string;
}

export function parseEc2Request(body: string, authorization: string | undefined): Ec2Request {
  const params = new URLSearchParams(body);
  const scope = credentialScope(authorization);
  return {
    action: params.get('Action') ?? '',
    params,
    accessKeyId: scope?.accessKeyId ?? '',
    region: scope?.region ?? '',
  };
}

/** The values of a Query API list: `VolumeId.1`, `VolumeId.2`... in index order. */
export function listParam(params: URLSearchParams, name: string): string[] {
  const indexed: [number, string][] = [];
  const pattern = new RegExp(`^${name.replaceAll('.', '\\.')}\\.(\\d+)$`);
  for (const [key, value] of params) {
    const match = pattern.exec(key);
    if (match) indexed.push([Number(match[1]), value]);
  }
  return indexed.sort((a, b) => a[0] - b[0]).map(([, value]) => value);
}

/** `Filter.N.Name` / `Filter.N.Value.M`, as name → accepted values (several filters of one name: all must hold). */
export function filtersOf(params: URLSearchParams): { name: string; values: string[] }[] {
  const filters: { name: string; values: string[] }[] = [];
  for (const [key, name] of params) {
    const match = /^Filter\.(\d+)\.Name$/.exec(key);
    if (match) filters.push({ name, values: listParam(params, `Filter.${match[1] ?? ''}.Value`) });
  }
  return filters;
}

/** The request without the filters of these names, the rest renumbered from 1 as EC2 reads them. */
export function withoutFilters(params: URLSearchParams, names: readonly string[]): URLSearchParams {
  const kept = new URLSearchParams();
  for (const [key, value] of params) if (!key.startsWith('Filter.')) kept.append(key, value);
  let index = 0;
  for (const filter of filtersOf(params)) {
    if (names.includes(filter.name)) continue;
    index += 1;
    kept.append(`Filter.${index}.Name`, filter.name);
    filter.values.forEach((value, valueIndex) => {
      kept.append(`Filter.${index}.Value.${valueIndex + 1}`, value);
    });
  }
  return kept;
}

/** A filter or pagination moves a Describe call into the cheaper, larger bucket. */
export function isFilteredOrPaginated(params: URLSearchParams): boolean {
  for (const key of params.keys()) {
    if (key.startsWith('Filter.') || key === 'MaxResults' || key === 'NextToken') return true;
  }
  return false;
}

/** EC2 filter values accept `*` and `?` wildcards. */
export function filterValueMatches(pattern: string, value: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === value;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(value);
}
