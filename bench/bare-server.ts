/**
 * What the two bare bench servers share: node:https with the gate's certificate, TLS minimum version,
 * ALPN and keep-alive settings; a POST body read whole and handed to `answer`; the port reported to the
 * parent over IPC; a clean exit on SIGINT or when the parent goes. Anything but a POST gets `ok` (the
 * readiness probe).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** A JSON answer: HTTP status and body. */
export interface BareAnswer {
  status: number;
  body: string;
}

/** Starts the server; `answer` gets the request path and the raw body. */
export function serveBare(certFile: string, keyFile: string, answer: (path: string, body: Buffer) => BareAnswer): void {
  const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }, (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const a = answer(req.url ?? '/', Buffer.concat(chunks));
      res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(a.body) }).end(a.body);
    });
  });
  // The same keep-alive settings as the gate, so connections live as long.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  process.once('SIGINT', () => server.close(() => process.exit(0)));
  process.once('disconnect', () => process.exit(0));
}
