/**
 * `npm run chart:sync`: copies policies/*.yaml and manifests/crds/*.yaml into charts/tracegate
 * (scripts/lib/chart-sync.ts says why). With --check, writes nothing and exits 1 while a copy is stale.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartSyncDrift, POLICY_CRD, syncChart } from './lib/chart-sync.js';

const root = fileURLToPath(new URL('..', import.meta.url));

if (!(await access(join(root, POLICY_CRD)).then(() => true, () => false))) {
  // Tolerated: the chart renders without it; only policies.source cluster/both needs the CRD installed.
  process.stderr.write(`note: ${POLICY_CRD} does not exist yet (npm run crd:policy writes it); the chart's crds/ lacks the TracegatePolicy CRD\n`);
}
if (process.argv.includes('--check')) {
  const drift = await chartSyncDrift(root);
  for (const d of drift) process.stderr.write(`${d.copy}: ${d.problem}\n`);
  if (drift.length) {
    process.stderr.write('the chart is out of sync: run npm run chart:sync\n');
    process.exitCode = 1;
  }
} else {
  const { written, removed } = await syncChart(root);
  for (const f of written) process.stdout.write(`wrote ${f}\n`);
  for (const f of removed) process.stdout.write(`removed ${f}\n`);
  if (!written.length && !removed.length) process.stdout.write('charts/tracegate is in sync\n');
}
