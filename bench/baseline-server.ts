/**
 * The baseline: the least an HTTPS admission webhook on this stack can do. A bare node:https server with
 * the gate's certificate and TLS settings that reads the body, JSON-parses it and answers a fixed allowed
 * AdmissionReview (with the request's uid, which the protocol requires). Run as a child process by the
 * benchmark: `node --import tsx bench/baseline-server.ts CERT KEY`; it reports its port over IPC.
 */
import { serveBare } from './bare-server.js';

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile || !process.send) {
  process.stderr.write('usage: fork bench/baseline-server.ts CERT KEY (needs an IPC channel)\n');
  process.exit(2);
}

const HEAD = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":';
const TAIL = ',"allowed":true}}';

serveBare(certFile, keyFile, (_path, raw) => {
  let uid: unknown;
  try {
    uid = (JSON.parse(raw.toString('utf8')) as { request?: { uid?: unknown } }).request?.uid;
  } catch {
    return { status: 400, body: '{"error":"not JSON"}' };
  }
  return { status: 200, body: `${HEAD}${JSON.stringify(uid ?? '')}${TAIL}` };
});
