/**
 * The baseline: the least an HTTPS admission webhook on this stack can do. A bare node:https server with
 * the gate's certificate and TLS settings that reads the body, JSON-parses it and answers a fixed allowed
 * AdmissionReview (with the request's uid, which the protocol requires). Run as a child process by the
 * benchmark: `node --import tsx bench/baseline-server.ts CERT KEY`; it reports its port over IPC.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile || !process.send) {
  process.stderr.write('usage: fork bench/baseline-server.ts CERT KEY (needs an IPC channel)\n');
  process.exit(2);
}

const HEAD = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":';
const TAIL = ',"allowed":true}}';

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }, (req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let uid: unknown;
    try {
      uid = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request?: { uid?: unknown } }).request?.uid;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not JSON"}');
      return;
    }
    const body = `${HEAD}${JSON.stringify(uid ?? '')}${TAIL}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
// The same keep-alive settings as the gate, so connections live as long.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
const stop = () => server.close(() => process.exit(0));
process.once('SIGINT', stop);
process.once('disconnect', () => process.exit(0));
