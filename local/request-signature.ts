/**
 * SigV4 on the local API, as API Gateway checks it for the deployed one (IAM authorisation):
 * a request must carry an Authorization header signed with a secret the local factory knows,
 * dated within five minutes. The signature is recomputed over the headers the client says it
 * signed, with the same date, by the SDK's own signer, and compared in constant time.
 *
 * What this does not do that AWS does: no IAM policy is evaluated (any known key may call any
 * route), and session tokens are not checked against a session.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, timingSafeEqual } from 'node:crypto';

/** A key the local API accepts, and the principal a request signed with it acts as. */
export interface LocalCaller {
  secretAccessKey: string;
  principalArn: string;
}

export interface SignedRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
}

export type SignatureCheck = { ok: true; accessKeyId: string; caller: LocalCaller } | { ok: false; reason: string };

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 5 * 60 * 1000;

/** `20240506T070809Z` -> the instant; undefined when malformed. */
function parseAmzDate(value: string | undefined): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '');
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

export async function checkSignature(request: SignedRequest, callers: ReadonlyMap<string, LocalCaller>, now = new Date()): Promise<SignatureCheck> {
  const match = AUTHORIZATION.exec(request.headers.authorization ?? '');
  if (!match) return { ok: false, reason: 'the request is not signed with AWS Signature Version 4' };
  const [, accessKeyId = '', scopeDate, region = '', service = '', signedHeaderList = '', signature = ''] = match;
  const caller = callers.get(accessKeyId);
  if (caller === undefined) return { ok: false, reason: 'the security token included in the request is invalid' };
  const signingDate = parseAmzDate(request.headers['x-amz-date']);
  if (signingDate === undefined || Math.abs(now.getTime() - signingDate.getTime()) > MAX_SKEW_MS) {
    return { ok: false, reason: 'the request signature is too old or its X-Amz-Date is missing' };
  }
  if (signingDate.toISOString().slice(0, 10).replaceAll('-', '') !== scopeDate) {
    return { ok: false, reason: 'the credential scope date does not match X-Amz-Date' };
  }
  // The signer takes a payload hash header on trust; the body must be what it says.
  const payloadHash = request.headers['x-amz-content-sha256'];
  if (payloadHash !== undefined && payloadHash !== createHash('sha256').update(request.body).digest('hex')) {
    return { ok: false, reason: 'the X-Amz-Content-SHA256 header does not match the body' };
  }
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host')) return { ok: false, reason: 'the signature does not cover the Host header' };
  const headers = Object.fromEntries(signedHeaders.map((name) => [name, request.headers[name] ?? '']));
  const signer = new SignatureV4({
    service,
    region,
    credentials: { accessKeyId, secretAccessKey: caller.secretAccessKey, sessionToken: request.headers['x-amz-security-token'] },
    sha256: Sha256,
  });
  const expected = await signer.sign(
    new HttpRequest({
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      port: request.url.port === '' ? undefined : Number(request.url.port),
      path: request.url.pathname,
      query: Object.fromEntries(request.url.searchParams),
      headers,
      body: request.body,
    }),
    { signingDate, signableHeaders: new Set(signedHeaders), unsignableHeaders: new Set() },
  );
  const expectedSignature = /Signature=([0-9a-f]{64})$/.exec(expected.headers.authorization ?? '')?.[1] ?? '';
  const same = expectedSignature.length === signature.length && timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature));
  return same ? { ok: true, accessKeyId, caller } : { ok: false, reason: 'the request signature does not match: check the secret access key and signing method' };
}
