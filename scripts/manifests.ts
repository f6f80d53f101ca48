/**
 * `npm run manifests`: renders manifests/ (the kustomize base) from charts/tracegate with the real helm
 * (scripts/lib/manifests.ts). With --check, writes nothing and exits 1 while manifests/ is stale.
 */
import { fileURLToPath } from 'node:url';
import { realHelm } from './lib/helm.js';
import { manifestsDrift, renderManifests, writeManifests } from './lib/manifests.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const rendered = await renderManifests(root, await realHelm());
if (process.argv.includes('--check')) {
  const drift = await manifestsDrift(root, rendered);
  for (const d of drift) process.stderr.write(`manifests/${d}\n`);
  if (drift.length) {
    process.stderr.write('manifests/ is not what the chart renders: run npm run manifests\n');
    process.exitCode = 1;
  }
} else {
  const { written, removed } = await writeManifests(root, rendered);
  for (const f of written) process.stdout.write(`wrote manifests/${f}\n`);
  for (const f of removed) process.stdout.write(`removed manifests/${f}\n`);
  if (!written.length && !removed.length) process.stdout.write('manifests/ is up to date\n');
}
