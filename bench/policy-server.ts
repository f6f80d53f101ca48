/**
 * The baseline plus the gate's policy work: the same bare node:https server as baseline-server.ts,
 * except that each review is decoded and answered by the gate's own validate/mutate handlers (bench/
 * handlers.ts: bundled policies, tenants from the namespaces file, the gate's provenance keys). No
 * logging, metrics, deadlines or routing. Its distance from the baseline is what evaluating the policies
 * costs on this stack; the gate's distance from it is the gate's own serving overhead. Run from the
 * production build: `fork policy-server.mjs CERT KEY NAMESPACES_FILE PROVENANCE_KEY_DIR`; it reports its
 * port over IPC.
 */
import { reviewResponse } from '../src/admission/review.js';
import { decodeReview } from '../src/server/review-body.js';
import { serveBare } from './bare-server.js';
import { createEngine } from './handlers.js';

const [certFile, keyFile, namespacesFile, keyDir] = process.argv.slice(2);
if (!certFile || !keyFile || !namespacesFile || !keyDir || !process.send) {
  process.stderr.write('usage: fork policy-server.mjs CERT KEY NAMESPACES_FILE PROVENANCE_KEY_DIR (needs an IPC channel)\n');
  process.exit(2);
}

const engine = await createEngine(namespacesFile, process.cwd(), keyDir);

serveBare(certFile, keyFile, (path, raw) => {
  const handler = path.startsWith('/mutate') ? engine.mutate : path.startsWith('/validate') ? engine.validate : undefined;
  if (!handler) return { status: 404, body: '{"error":"POST /validate or /mutate"}' };
  try {
    return { status: 200, body: JSON.stringify(reviewResponse(handler(decodeReview(raw)).response)) };
  } catch (err) {
    return { status: 400, body: JSON.stringify({ error: (err as Error).message }) };
  }
});
