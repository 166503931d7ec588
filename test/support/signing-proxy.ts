/**
 * A loopback proxy that signs what passes through it with SigV4, as an AWS client would:
 * tools that speak plain HTTP (the API fuzzer) reach an API that insists on signatures.
 * The body is forwarded byte for byte, so what is signed is exactly what arrives.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';

export interface SigningProxy {
  endpoint: string;
  close(): Promise<void>;
}

/** Hop-by-hop and length headers are the proxy's own business, not the signed request's. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'authorization', 'x-amz-date']);

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startSigningProxy(target: string, credentials: { accessKeyId: string; secretAccessKey: string }): Promise<SigningProxy> {
  const signer = new SignatureV4({ service: 'execute-api', region: 'us-east-1', credentials, sha256: Sha256 });
  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', target);
      const body = await bodyOf(request);
      const headers = Object.fromEntries(
        Object.entries(request.headers).flatMap(([name, value]) => (NOT_FORWARDED.has(name) || value === undefined ? [] : [[name, Array.isArray(value) ? value.join(',') : value]])),
      );
      const signed = await signer.sign(
        new HttpRequest({
          method: request.method ?? 'GET',
          protocol: url.protocol,
          hostname: url.hostname,
          port: Number(url.port),
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: { ...headers, host: url.host },
          body: body.length > 0 ? body.toString('utf8') : undefined,
        }),
      );
      // node:http rather than fetch: the fuzzer tries methods such as TRACE that fetch refuses.
      const forwarded = httpRequest(url, { method: request.method, headers: signed.headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      });
      forwarded.on('error', (error) => response.writeHead(502, { 'content-type': 'text/plain' }).end(`signing proxy: ${String(error)}`));
      forwarded.end(body);
    })().catch((error: unknown) => {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(`signing proxy: ${String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
