/**
 * The `rollback` phase of `npm run bench` (also `tsx bench/rollback.ts` alone): N `tracegate rollback`s
 * (one invocation, all in parallel) while tenant writers hammer the same API server and the server
 * refuses tenant traffic with API Priority and Fairness' 429 (the test API server's flow throttle:
 * global-default for people, workload-low for ServiceAccounts; `Retry-After: 1`, a fixed number of
 * refusals). Measured twice in one run, on a fresh story cluster each (gate, recorder, real kubectl):
 * without the install's FlowSchema (the baseline: on-call's requests are tenant traffic and share its
 * throttling) and with manifests/flowcontrol.yaml applied. Reports the time until every rollback is
 * done, until every tenant write is done, and the 429s each side met. Judges nothing.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startStoryCluster, type As, type StoryCluster } from '../test/support/cluster.js';

const FLOWCONTROL = fileURLToPath(new URL('../manifests/flowcontrol.yaml', import.meta.url));
const NS = 'team-a';
const CI: As = { user: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'] };
const ALICE: As = { user: 'alice', groups: ['team-a:developers'] };
const ONCALL: As = { user: 'dana', groups: ['team-a:developers', 'tracegate:rollback'] };
const image = (tag: string) => `registry.example.com/team-a/web:${tag}`;

/** How much to do. */
export interface RollbackBenchSettings {
  /** Workloads rolled back at once. */
  rollbacks: number;
  /** Concurrent tenant writers, each writing until its write is accepted. */
  tenantWriters: number;
  /** 429s served to the tenant flows before the throttle lifts (a burst of overload). */
  refusals: number;
}

/** Full runs: the 50 concurrent rollbacks. Quick: proves the path runs. */
export function rollbackBenchSettings(quick: boolean): RollbackBenchSettings {
  return quick ? { rollbacks: 5, tenantWriters: 3, refusals: 10 } : { rollbacks: 50, tenantWriters: 20, refusals: 200 };
}

/** One configuration's figures. */
export interface RollbackRun {
  name: string;
  rollbackMs: number;
  rollback429s: number;
  tenantMs: number;
  tenant429s: number;
}

/** Both runs. */
export interface RollbackBenchResult {
  settings: RollbackBenchSettings;
  baseline: RollbackRun;
  withFlowSchema: RollbackRun;
}

function deployment(name: string): string {
  const resources = { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } };
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, labels: { fleet: 'yes' }, annotations: { 'ci/commit': '1111111', approvedBy: 'bob' } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: image('1.0.0'), resources }] } } },
  });
}

async function must(what: string, run: Promise<{ code: number; stdout: string; stderr: string }>): Promise<void> {
  const res = await run;
  if (res.code !== 0) throw new Error(`rollback bench: ${what} failed: ${res.stderr || res.stdout}`);
}

/** A fleet at revision 2 (revision 1 recorded before a `kubectl set image`). */
async function prepare(c: StoryCluster, names: string[], flowSchema: boolean): Promise<void> {
  if (flowSchema) await must('kubectl apply flowcontrol.yaml', c.kubectl(['apply', '-f', '-'], { input: await readFile(FLOWCONTROL, 'utf8') }));
  await must('kubectl apply (the fleet)', c.kubectl(['apply', '-f', '-'], { ...CI, input: names.map(deployment).join('\n') }));
  for (const n of names) await c.recorded(NS, n);
  await must('kubectl annotate', c.kubectl(['annotate', 'deployments', '-l', 'fleet=yes', 'ci/commit=2222222', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE));
  await must('kubectl set image', c.kubectl(['set', 'image', 'deployments', '-l', 'fleet=yes', `*=${image('1.5.0')}`, '-n', NS], ALICE));
  for (const n of names) await c.recorded(NS, n);
}

/** A tenant program's write: retried on 429 after Retry-After, as client-go does. Resolves with its 429 count. */
async function tenantWrite(c: StoryCluster, name: string): Promise<number> {
  const token = c.server.token(ALICE.user, ALICE.groups);
  for (let refused = 0; ; refused++) {
    const res = await fetch(`${c.server.url}/apis/apps/v1/namespaces/${NS}/deployments/${name}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { annotations: { note: `tenant write ${refused}` } } }),
    });
    await res.arrayBuffer();
    if (res.status !== 429) {
      if (res.status >= 300) throw new Error(`rollback bench: tenant write answered ${res.status}`);
      return refused;
    }
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
  }
}

async function runOnce(name: string, s: RollbackBenchSettings, flowSchema: boolean): Promise<RollbackRun> {
  const c = await startStoryCluster({ namespaces: [{ name: NS, tenant: NS }], historyMax: 0 });
  try {
    const names = Array.from({ length: s.rollbacks }, (_, i) => `fleet-${i}`);
    await prepare(c, names, flowSchema);
    const from = c.server.requests.length;
    c.server.faults.throttle({ priorityLevel: 'global-default', retryAfterSeconds: 1, count: s.refusals });
    c.server.faults.throttle({ priorityLevel: 'workload-low', retryAfterSeconds: 1, count: s.refusals });
    const start = performance.now();
    let rollbackMs = 0;
    let tenantMs = 0;
    const rollback = c.tracegate(['rollback', ...names.flatMap((n) => [`${NS}/${n}`, '1']), '--parallel', String(s.rollbacks)], ONCALL).then((res) => {
      rollbackMs = performance.now() - start;
      if (res.code !== 0) throw new Error(`rollback bench: tracegate rollback failed: ${res.stderr}`);
    });
    const tenants = Promise.all(Array.from({ length: s.tenantWriters }, (_, i) => tenantWrite(c, names[i % names.length]!))).then((counts) => {
      tenantMs = performance.now() - start;
      return counts;
    });
    await Promise.all([rollback, tenants]);
    const seen = c.server.requests.slice(from);
    const refusedOf = (user: string) => seen.filter((r) => r.user === user && r.status === 429).length;
    return { name, rollbackMs, rollback429s: refusedOf(ONCALL.user!), tenantMs, tenant429s: refusedOf(ALICE.user!) };
  } finally {
    await c.close();
  }
}

/** Runs the baseline and the install's configuration, one after the other. */
export async function measureRollback(s: RollbackBenchSettings): Promise<RollbackBenchResult> {
  const baseline = await runOnce('without the FlowSchema', s, false);
  const withFlowSchema = await runOnce('with manifests/flowcontrol.yaml', s, true);
  return { settings: s, baseline, withFlowSchema };
}

/** The phase's report. */
export function formatRollback(r: RollbackBenchResult): string {
  const { rollbacks, tenantWriters, refusals } = r.settings;
  const row = (x: RollbackRun) =>
    `  ${x.name.padEnd(32)} ${(x.rollbackMs / 1000).toFixed(2).padStart(8)} s ${String(x.rollback429s).padStart(6)}   ${(x.tenantMs / 1000).toFixed(2).padStart(8)} s ${String(x.tenant429s).padStart(6)}\n`;
  const ratio = r.baseline.rollbackMs / Math.max(1, r.withFlowSchema.rollbackMs);
  return (
    `Rollback under throttling: ${rollbacks} rollbacks in parallel, ${tenantWriters} tenant writers, ${refusals} APF 429s (Retry-After 1 s) per tenant priority level\n` +
    `  ${''.padEnd(32)} ${'rollbacks done'.padStart(10)} ${'429s'.padStart(6)}   ${'tenant done'.padStart(10)} ${'429s'.padStart(6)}\n` +
    row(r.baseline) +
    row(r.withFlowSchema) +
    `  rollbacks finish ${ratio.toFixed(1)}× sooner with the install's FlowSchema\n`
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  process.stdout.write(formatRollback(await measureRollback(rollbackBenchSettings(quick))));
  process.exit(0);
}
