/**
 * Helm reads nothing outside a chart's directory, so the chart carries copies of what it installs from
 * elsewhere in the repository: the bundled policies (policies/*.yaml → files/policies/, rendered as
 * TracegatePolicy objects), tracegate's own CRDs (manifests/crds/*.yaml → crds/) and the PolicyReport
 * CRDs (→ files/crds/, rendered by templates/recorder/audit-crds.yaml only where they are absent: they
 * are shared with Kyverno and other engines, and Helm 4 server-side applies crds/ over an existing
 * definition — a field conflict that fails the install — where Helm 3 skipped it). The sources stay the
 * truth; `npm run chart:sync` copies them and test/integration/chart.test.ts fails while a copy differs.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The CRDs tracegate shares with other policy engines: templated, never in crds/. */
export const SHARED_CRDS: readonly string[] = ['wgpolicyk8s-policyreports.yaml'];

/**
 * Repository-relative directories: each source directory's *.yaml files are copied into the target,
 * all of them, or only those `include` accepts.
 */
export const CHART_COPIES: readonly { source: string; target: string; include?: (name: string) => boolean }[] = [
  { source: 'policies', target: 'charts/tracegate/files/policies' },
  { source: 'manifests/crds', target: 'charts/tracegate/crds', include: (name) => !SHARED_CRDS.includes(name) },
  { source: 'manifests/crds', target: 'charts/tracegate/files/crds', include: (name) => SHARED_CRDS.includes(name) },
];

/**
 * The CRD the gate's `--policy-source cluster` needs. Another generator writes it
 * (`npm run crd:policy`); until it exists the sync copies what there is and says so.
 */
export const POLICY_CRD = 'manifests/crds/tracegatepolicy.yaml';

/** One difference between the sources and the chart's copies. */
export interface SyncDrift {
  /** Repository-relative path of the copy. */
  copy: string;
  problem: 'missing' | 'differs' | 'orphan';
}

async function yamlFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names.filter((n) => n.endsWith('.yaml')).sort();
}

/** Every copy the chart should hold, as repository-relative `source → copy` with the source's text. */
export async function expectedCopies(root: string): Promise<Map<string, { source: string; text: string }>> {
  const out = new Map<string, { source: string; text: string }>();
  for (const { source, target, include } of CHART_COPIES) {
    for (const name of await yamlFiles(join(root, source))) {
      if (include && !include(name)) continue;
      out.set(`${target}/${name}`, { source: `${source}/${name}`, text: await readFile(join(root, source, name), 'utf8') });
    }
  }
  return out;
}

/** What differs between the sources and the chart's copies (empty: in sync). */
export async function chartSyncDrift(root: string): Promise<SyncDrift[]> {
  const expected = await expectedCopies(root);
  const drift: SyncDrift[] = [];
  for (const [copy, { text }] of expected) {
    const current = await readFile(join(root, copy), 'utf8').catch(() => undefined);
    if (current === undefined) drift.push({ copy, problem: 'missing' });
    else if (current !== text) drift.push({ copy, problem: 'differs' });
  }
  for (const { target } of CHART_COPIES) {
    for (const name of await yamlFiles(join(root, target))) {
      if (!expected.has(`${target}/${name}`)) drift.push({ copy: `${target}/${name}`, problem: 'orphan' });
    }
  }
  return drift;
}

/** Brings the copies in line with their sources; returns what it wrote and removed. */
export async function syncChart(root: string): Promise<{ written: string[]; removed: string[] }> {
  const expected = await expectedCopies(root);
  const written: string[] = [];
  const removed: string[] = [];
  for (const drift of await chartSyncDrift(root)) {
    if (drift.problem === 'orphan') {
      await rm(join(root, drift.copy));
      removed.push(drift.copy);
      continue;
    }
    const file = join(root, drift.copy);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, expected.get(drift.copy)!.text);
    written.push(drift.copy);
  }
  return { written, removed };
}
