/**
 * The baseline plus the gate's policy work: the same bare node:https server as baseline-server.ts,
 * except that each review is decoded and answered by the gate's own validate/mutate handlers (bench/
 * handlers.ts: bundled policies, tenants from the namespaces file). No logging, metrics, deadlines or
 * routing. Its distance from the baseline is what evaluating the policies costs on this stack; the gate's
 * distance from it is the gate's own serving overhead. Run from the production build:
 * `fork policy-server.mjs CERT KEY NAMESPACES_FILE`; it reports its port over IPC.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { reviewResponse } from '../src/admission/review.js';
import { decodeReview } from '../src/server/review-body.js';
import { createEngine } from './handlers.js';

const [certFile, keyFile, namespacesFile] = process.argv.slice(2);
if (!certFile || !keyFile || !namespacesFile || !process.send) {
  process.stderr.write('usage: fork policy-server.mjs CERT KEY NAMESPACES_FILE (needs an IPC channel)\n');
  process.exit(2);
}

const engine = await createEngine(namespacesFile, process.cwd());

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] }, (req, res) => {
  const handler = req.url?.startsWith('/mutate') ? engine.mutate : req.url?.startsWith('/validate') ? engine.validate : undefined;
  if (req.method !== 'POST' || !handler) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: string;
    try {
      body = JSON.stringify(reviewResponse(handler(decodeReview(Buffer.concat(chunks))).response));
    } catch (err) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
      return;
    }
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
