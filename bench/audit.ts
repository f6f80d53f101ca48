/**
 * The `audit` phase of `npm run bench` (also `tsx bench/audit.ts [--quick]` alone): the background audit
 * over 20,000 workloads (quick: 500) in 200 namespaces, each run in a fresh child process so its peak
 * RSS is its own:
 *
 * - **engine** (the baseline): the gate's engine judging the same objects, generated the same way, with
 *   nothing kept — what any audit must spend;
 * - **audit**: the auditor (src/audit/auditor.ts) with an in-memory workload source (objects generated
 *   as a paged list hands them over, never all held) and the real report store on an in-memory
 *   PolicyReport API that keeps no report (so the RSS is the auditor's, not the stand-in cluster's):
 *   a full pass writing every namespace's report and the cluster summary, then one changed workload in
 *   each of 100 namespaces (quick: 5), as the recorder's watch hands them over.
 *
 * Prints workloads/s, peak RSS (VmHWM), the heap the audit keeps after the pass (after a full GC), the
 * largest report and the writes, with audit/engine ratios from the same run. Judges nothing; a pass
 * that writes the wrong number of reports is an error (the run fails).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createAuditor } from '../src/audit/auditor.js';
import { createMemoryReportApi } from '../src/audit/memory-report-api.js';
import { createReportStore } from '../src/audit/report-store.js';
import type { WorkloadSource } from '../src/audit/workload-source.js';
import { policyLoader } from '../src/cli/policies-option.js';
import type { KubeObject } from '../src/k8s/types.js';
import { createLogger } from '../src/log.js';
import { bundledPoliciesDir } from '../src/paths.js';
import { evaluate } from '../src/policy/evaluate.js';
import { createParseMemo } from '../src/policy/rules/context.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const TENANT_LABEL = 'tracegate.io/tenant';

/** How much to audit. */
export interface AuditBenchSettings {
  workloads: number;
  namespaces: number;
  /** Workloads changed after the pass, one per namespace. */
  changes: number;
}

/** Full runs: the issue's 20,000 workloads. Quick: proves the path runs. */
export function auditBenchSettings(quick: boolean): AuditBenchSettings {
  return quick ? { workloads: 500, namespaces: 10, changes: 5 } : { workloads: 20_000, namespaces: 200, changes: 100 };
}

/** What one child measured. */
export interface AuditChildResult {
  mode: 'engine' | 'audit';
  workloads: number;
  ms: number;
  workloadsPerSecond: number;
  /** VmHWM of the child at the end: modules, policies and everything the run held at its peak. */
  peakRssBytes: number;
  /** Heap used after a full GC at the end of the pass: what the mode keeps (the audit's compact state). */
  retainedHeapBytes: number;
  /** Audit only: report writes of the pass, the largest report, and the incremental changes. */
  passWrites?: number;
  largestReportBytes?: number;
  changes?: { count: number; ms: number; writes: number };
  /** Audit only: results in the reports (workload × rule), by result. */
  results?: Record<string, number>;
}

/** The phase's result. */
export interface AuditBenchResult {
  settings: AuditBenchSettings;
  engine: AuditChildResult;
  audit: AuditChildResult;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/**
 * Workload `i`: a Deployment (every tenth a StatefulSet) with two containers, the shape charts render.
 * Every 10th runs :latest, every 15th has no resources, every 20th lacks its commit stamp: the
 * bundled policies find something in about one in five.
 */
function workload(ns: string, i: number, variant = 0): KubeObject {
  const name = `app-${pad(i, 5)}`;
  const tag = i % 10 === 3 || variant ? 'latest' : `1.${i % 7}.${i % 13}`;
  const resources = i % 15 === 4 ? undefined : { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } };
  const container = (c: string, image: string) => ({ name: c, image, ports: [{ containerPort: 8080, protocol: 'TCP' }], env: [{ name: 'MODE', value: 'production' }], ...(resources ? { resources } : {}) });
  return {
    apiVersion: 'apps/v1',
    kind: i % 10 === 7 ? 'StatefulSet' : 'Deployment',
    metadata: {
      name,
      namespace: ns,
      uid: `00000000-0000-4000-8000-${pad(i, 12)}`,
      resourceVersion: String(1000 + i + variant),
      generation: 1 + variant,
      labels: { app: name, 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/instance': name },
      annotations: { 'meta.helm.sh/release-name': name, 'meta.helm.sh/release-namespace': ns, ...(i % 20 === 9 ? {} : { 'tracegate.io/commit': 'c0ffee1', 'tracegate.io/approved-by': 'bob' }) },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [container('app', `registry.example.com/${ns}/${name}:${tag}`), container('proxy', 'registry.example.com/platform/proxy:2.4.1')] },
      },
    },
    status: { replicas: 2, readyReplicas: 2, observedGeneration: 1 + variant },
  };
}

const namespaceName = (n: number) => `team-${pad(n, 3)}`;

/** The generated cluster as the audit's source lists it: one object at a time, none kept. */
function generatedSource(s: AuditBenchSettings): WorkloadSource {
  const per = Math.ceil(s.workloads / s.namespaces);
  return {
    async *namespaces() {
      for (let n = 0; n < s.namespaces; n++) yield { name: namespaceName(n), labels: { [TENANT_LABEL]: namespaceName(n) } };
    },
    async *workloads(ns) {
      const n = Number(ns.slice('team-'.length));
      for (let i = n * per; i < Math.min(s.workloads, (n + 1) * per); i++) yield workload(ns, i);
    },
  };
}

function vmHwmBytes(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

function retainedHeap(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/** One mode, in this process (the child). */
async function runChild(mode: 'engine' | 'audit', s: AuditBenchSettings): Promise<AuditChildResult> {
  const set = await (await policyLoader()).load([bundledPoliciesDir]);
  const source = generatedSource(s);
  if (mode === 'engine') {
    const memo = createParseMemo();
    let count = 0;
    const start = performance.now();
    for await (const ns of source.namespaces()) {
      for await (const obj of source.workloads(ns.name)) {
        evaluate(set, { operation: 'CREATE', namespace: ns.name, username: '', groups: [], tenant: ns.name }, obj, null, memo);
        count++;
      }
    }
    const ms = performance.now() - start;
    return { mode, workloads: count, ms, workloadsPerSecond: (count / ms) * 1000, peakRssBytes: vmHwmBytes(), retainedHeapBytes: retainedHeap() };
  }
  const mem = createMemoryReportApi({ retain: false });
  const auditor = createAuditor({
    source,
    store: createReportStore({ api: mem.api }),
    log: createLogger({ level: 'warn', name: 'audit-bench', destination: { write: (line: string) => void process.stderr.write(line) } }),
    policies: set,
    tenancy: { tenantLabel: TENANT_LABEL },
    canWrite: () => true,
    // A day: the one pass is the one measured; changes are written as soon as they are seen.
    config: { intervalMs: 86_400_000, prefix: 'tracegate.io/', flushDelayMs: 0 },
  });
  const start = performance.now();
  auditor.setActive(true);
  await auditor.idle();
  const ms = performance.now() - start;
  const passWrites = mem.writes.length;
  const largestReportBytes = Math.max(...mem.writes.map((w) => w.bytes));
  const retainedHeapBytes = retainedHeap();
  const stats = await auditor.fullPass('bench');
  const per = Math.ceil(s.workloads / s.namespaces);
  const changeStart = performance.now();
  for (let n = 0; n < s.changes; n++) auditor.observe(workload(namespaceName(n), n * per, 1));
  await auditor.idle();
  const changes = { count: s.changes, ms: performance.now() - changeStart, writes: mem.writes.length - passWrites - (stats ? stats.writes.created + stats.writes.replaced + stats.writes.deleted : 0) };
  auditor.stop();
  return {
    mode,
    workloads: stats?.workloads ?? 0,
    ms,
    workloadsPerSecond: ((stats?.workloads ?? 0) / ms) * 1000,
    peakRssBytes: vmHwmBytes(),
    retainedHeapBytes,
    passWrites,
    largestReportBytes,
    changes,
    ...(stats ? { results: { ...stats.results } } : {}),
  };
}

/** Runs one mode in a fresh child process (its own heap and VmHWM). */
function child(mode: 'engine' | 'audit', s: AuditBenchSettings): Promise<AuditChildResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', fileURLToPath(import.meta.url), '--child', mode, JSON.stringify(s)], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => void (out += d.toString('utf8')));
    p.stderr.on('data', (d: Buffer) => void (err += d.toString('utf8')));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`audit bench: the ${mode} child exited ${code}: ${err.slice(-2000)}`));
      if (err.trim()) return reject(new Error(`audit bench: the ${mode} child logged: ${err.slice(-2000)}`));
      resolve(JSON.parse(out) as AuditChildResult);
    });
  });
}

/** Runs the baseline and the audit, one after the other; throws when the audit wrote what it should not. */
export async function measureAudit(s: AuditBenchSettings): Promise<AuditBenchResult> {
  const engine = await child('engine', s);
  const audit = await child('audit', s);
  const problems: string[] = [];
  if (engine.workloads !== s.workloads) problems.push(`the engine judged ${engine.workloads} of ${s.workloads} workloads`);
  if (audit.workloads !== s.workloads) problems.push(`the audit reported ${audit.workloads} of ${s.workloads} workloads`);
  // One report per namespace and the cluster summary.
  if (audit.passWrites !== s.namespaces + 1) problems.push(`the pass wrote ${audit.passWrites} reports, expected ${s.namespaces + 1}`);
  if (audit.changes!.writes !== s.changes) problems.push(`${s.changes} changes in as many namespaces cost ${audit.changes!.writes} writes`);
  if (problems.length) throw new Error(`audit bench: ${problems.join('; ')}`);
  return { settings: s, engine, audit };
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);

/** The phase's table. */
export function formatAudit(r: AuditBenchResult): string {
  const { engine: e, audit: a, settings: s } = r;
  const row = (name: string, x: AuditChildResult, ratio: string) =>
    `  ${name.padEnd(34)} ${x.workloadsPerSecond.toFixed(0).padStart(10)} ${(x.ms / 1000).toFixed(2).padStart(8)} s ${mb(x.peakRssBytes).padStart(9)} ${mb(x.retainedHeapBytes).padStart(9)}   ${ratio}\n`;
  const res = a.results ?? {};
  return (
    `Background audit: ${s.workloads} workloads in ${s.namespaces} namespaces, bundled policies, each run in its own process\n` +
    `  ${''.padEnd(34)} ${'workloads/s'.padStart(10)} ${'time'.padStart(10)} ${'peak RSS'.padStart(9)} ${'heap kept'.padStart(9)}\n` +
    row('engine only (baseline)', e, '') +
    row('audit: full pass, reports written', a, `(${(a.workloadsPerSecond / e.workloadsPerSecond).toFixed(2)}× the rate, +${mb(a.peakRssBytes - e.peakRssBytes)} MB peak RSS)`) +
    `  results: ${Object.entries(res).map(([k, v]) => `${k} ${v}`).join(', ')}; ${a.passWrites} reports written, largest ${(a.largestReportBytes! / 1024).toFixed(0)} KiB; ` +
    `audit state ${((a.retainedHeapBytes - e.retainedHeapBytes) / s.workloads).toFixed(0)} bytes/workload over the engine's heap\n` +
    `  ${a.changes!.count} workload changes in ${a.changes!.count} namespaces: ${a.changes!.writes} report writes in ${a.changes!.ms.toFixed(0)} ms\n`
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--child');
  if (i > 0) {
    const result = await runChild(process.argv[i + 1] as 'engine' | 'audit', JSON.parse(process.argv[i + 2]!) as AuditBenchSettings);
    process.stdout.write(JSON.stringify(result));
  } else {
    process.stdout.write(formatAudit(await measureAudit(auditBenchSettings(process.argv.includes('--quick')))));
  }
}
