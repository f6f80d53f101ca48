/**
 * The background auditor (src/audit/auditor.ts) over an in-memory workload source and the real report
 * store on an in-memory PolicyReport API: a full pass, an incremental change costing one namespace
 * write, deletions (a namespace left empty loses its report), a policy change judging everything
 * again, unchanged reports never rewritten, a report changed by someone else (409, re-read), the
 * CRDs missing (logged once, retried, then written), a namespace created since the pass looked up once
 * for its tenant, and a follower writing nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAuditor, type AuditorDeps } from '../../src/audit/auditor.js';
import { createMemoryReportApi, type MemoryReportApi } from '../../src/audit/memory-report-api.js';
import { REPORT_NAME, type PolicyReport } from '../../src/audit/report.js';
import { createReportStore } from '../../src/audit/report-store.js';
import type { WorkloadSource } from '../../src/audit/workload-source.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import type { PolicySet } from '../../src/policy/types.js';

const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const policies = (extra = '') =>
  loader.toSet(
    loader.parse(
      `
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: images, version: "1.0.0" }
spec:
  rules:
    - id: no-latest
      action: deny
      images: { disallowedTags: [latest], requireTag: true }
---
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: owners, version: "1.0.0" }
spec:
  match: { tenants: [team-a] }
  rules:
    - id: owner
      action: audit
      metadata: { labels: [{ key: owner }] }
${extra}`,
      'inline.yaml',
    ),
  );
const SET = policies();

function deployment(namespace: string, name: string, image: string, labels: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, labels },
    spec: { template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } } },
  };
}

/** A cluster in memory: namespaces (with labels) and their workloads, listed as the real source lists. */
function memorySource() {
  const namespaces = new Map<string, { labels: Record<string, string>; objects: Map<string, KubeObject> }>();
  const source: WorkloadSource = {
    async *namespaces() {
      for (const [name, n] of namespaces) yield { name, labels: n.labels };
    },
    async *workloads(ns) {
      for (const o of namespaces.get(ns)?.objects.values() ?? []) yield structuredClone(o);
    },
    async namespace(name) {
      lookups.push(name);
      const n = namespaces.get(name);
      return n && { name, labels: n.labels };
    },
  };
  const lookups: string[] = [];
  return {
    source,
    lookups,
    namespace(name: string, labels: Record<string, string> = {}) {
      namespaces.set(name, { labels, objects: new Map() });
    },
    put(obj: KubeObject) {
      namespaces.get(obj.metadata!.namespace!)!.objects.set(obj.metadata!.name!, obj);
      return structuredClone(obj);
    },
    remove(obj: KubeObject) {
      namespaces.get(obj.metadata!.namespace!)!.objects.delete(obj.metadata!.name!);
      return structuredClone(obj);
    },
  };
}

function setup(opts: { served?: boolean; leader?: () => boolean; policies?: PolicySet } = {}) {
  const cluster = memorySource();
  const mem: MemoryReportApi = createMemoryReportApi({ served: opts.served ?? true });
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', name: 'audit-test', destination: { write: (s: string) => void lines.push(s) } });
  const deps: AuditorDeps = {
    source: cluster.source,
    store: createReportStore({ api: mem.api }),
    log,
    policies: opts.policies ?? SET,
    tenancy: { tenantLabel: 'tracegate.io/tenant' },
    canWrite: opts.leader ?? (() => true),
    // A day: passes in these tests are the ones they ask for.
    config: { intervalMs: 86_400_000, prefix: 'tracegate.io/', flushDelayMs: 1, unavailableRetryMs: 5 },
    now: () => new Date('2026-12-01T10:00:00Z'),
  };
  const auditor = createAuditor(deps);
  const report = (ns: string) => mem.get(ns, REPORT_NAME);
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { cluster, mem, auditor, report, records, deps };
}

/** `kind/name policy/rule → result` of a report, sorted. */
function resultsOf(r: PolicyReport | undefined): string[] {
  return (r?.results ?? []).map((x) => `${x.resources![0]!.name} ${x.policy}/${x.rule} ${x.result}`).sort();
}

/** Waits for `check` to hold; the limit only bounds a hang, a passing test never gets near it. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Starts leading and waits for the first pass. */
async function lead(t: ReturnType<typeof setup>): Promise<void> {
  t.auditor.setActive(true);
  await t.auditor.idle();
}

describe('auditor', () => {
  it('a full pass writes one report per namespace with one result per workload × rule, and the cluster summary', async () => {
    const t = setup();
    t.cluster.namespace('team-a', { 'tracegate.io/tenant': 'team-a' });
    t.cluster.namespace('team-b');
    t.cluster.namespace('empty');
    t.cluster.put(deployment('team-a', 'web', 'registry.example/web:1.0', { owner: 'alice' }));
    t.cluster.put(deployment('team-a', 'api', 'registry.example/api:latest'));
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db'));
    await lead(t);
    assert.deepEqual(resultsOf(t.report('team-a')), ['api images/no-latest fail', 'api owners/owner fail', 'web images/no-latest pass', 'web owners/owner pass']);
    assert.deepEqual(t.report('team-a')!.summary, { pass: 2, fail: 2, warn: 0, error: 0, skip: 0 });
    // No tenant: the tenant's policy does not select team-b's workloads.
    assert.deepEqual(resultsOf(t.report('team-b')), ['db images/no-latest fail']);
    assert.equal(t.report('empty'), undefined, 'a namespace without workloads has no report');
    const cluster = t.mem.get(undefined, REPORT_NAME)!;
    assert.equal(cluster.kind, 'ClusterPolicyReport');
    assert.deepEqual(cluster.results!.map((r) => `${r.policy}/${r.rule} ${r.result} ${r.properties!['workloads.fail']}/${r.properties!['workloads.pass']}`), ['images/no-latest fail 2/1', 'owners/owner fail 1/1']);
    assert.deepEqual(t.mem.writes.map((w) => `${w.op} ${w.namespace ?? '(cluster)'}`).sort(), ['create (cluster)', 'create team-a', 'create team-b']);
    const done = t.records().find((r) => r['msg'] === 'audit pass done')!;
    assert.equal(done['workloads'], 3);
    assert.equal(done['policySet'], SET.digest);
    t.auditor.stop();
  });

  it('a second pass over an unchanged cluster writes nothing', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest'));
    await lead(t);
    const before = t.mem.writes.length;
    const stats = await t.auditor.fullPass('again');
    assert.equal(stats!.writes.unchanged, 2, 'the namespace report and the cluster summary');
    assert.equal(t.mem.writes.length, before);
    t.auditor.stop();
  });

  it('a workload change rewrites only its namespace report, once', async () => {
    const t = setup();
    t.cluster.namespace('team-a', { 'tracegate.io/tenant': 'team-a' });
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-a', 'web', 'registry.example/web:latest', { owner: 'alice' }));
    t.cluster.put(deployment('team-a', 'api', 'registry.example/api:1'));
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:1'));
    await lead(t);
    const before = t.mem.writes.length;
    // A rollout touches the object several times: one write covers them.
    const fixed = t.cluster.put(deployment('team-a', 'web', 'registry.example/web:2.0', { owner: 'alice' }));
    t.auditor.observe(fixed);
    t.auditor.observe({ ...fixed, status: { observedGeneration: 2 } });
    await t.auditor.idle();
    assert.deepEqual(t.mem.writes.slice(before).map((w) => `${w.op} ${w.namespace}`), ['replace team-a']);
    assert.deepEqual(resultsOf(t.report('team-a')).filter((r) => r.startsWith('web ')), ['web images/no-latest pass', 'web owners/owner pass']);
    // A status-only update changes no result: nothing is written.
    t.auditor.observe({ ...fixed, status: { readyReplicas: 1 } });
    await t.auditor.idle();
    assert.equal(t.mem.writes.length, before + 1);
    t.auditor.stop();
  });

  it('a deleted workload loses its results; the last one takes the report along', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    const a = t.cluster.put(deployment('team-b', 'a', 'registry.example/a:latest'));
    const b = t.cluster.put(deployment('team-b', 'b', 'registry.example/b:1'));
    await lead(t);
    const before = t.mem.writes.length;
    t.auditor.forget(t.cluster.remove(a));
    await t.auditor.idle();
    assert.deepEqual(resultsOf(t.report('team-b')), ['b images/no-latest pass']);
    t.auditor.forget(t.cluster.remove(b));
    await t.auditor.idle();
    assert.equal(t.report('team-b'), undefined);
    assert.deepEqual(t.mem.writes.slice(before).map((w) => `${w.op} ${w.namespace}`), ['replace team-b', 'delete team-b']);
    t.auditor.stop();
  });

  it('a namespace created after the pass is looked up once, so its tenant policies apply at once', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    await lead(t);
    t.cluster.namespace('team-a', { 'tracegate.io/tenant': 'team-a' });
    t.auditor.observe(t.cluster.put(deployment('team-a', 'web', 'registry.example/web:1')));
    t.auditor.observe(t.cluster.put(deployment('team-a', 'api', 'registry.example/api:1', { owner: 'bob' })));
    await t.auditor.idle();
    assert.deepEqual(t.cluster.lookups, ['team-a']);
    assert.deepEqual(resultsOf(t.report('team-a')), ['api images/no-latest pass', 'api owners/owner pass', 'web images/no-latest pass', 'web owners/owner fail']);
    t.auditor.observe(t.cluster.put(deployment('team-a', 'web', 'registry.example/web:1', { owner: 'alice' })));
    await t.auditor.idle();
    assert.deepEqual(t.cluster.lookups, ['team-a'], 'known from then on');
    assert.ok(resultsOf(t.report('team-a')).includes('web owners/owner pass'));
    t.auditor.stop();
  });

  it('a new policy set judges everything again; the same set does nothing', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:1'));
    await lead(t);
    const before = t.mem.writes.length;
    t.auditor.setPolicies(policies());
    await t.auditor.idle();
    assert.equal(t.mem.writes.length, before, 'same digest: no pass');
    const next = policies(`---
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: registries, version: "1.0.0" }
spec:
  rules:
    - id: allowed
      action: warn
      images: { allowed: ["trusted.example/**"] }
`);
    t.auditor.setPolicies(next);
    await t.auditor.idle();
    const r = t.report('team-b')!;
    assert.deepEqual(resultsOf(r), ['db images/no-latest pass', 'db registries/allowed warn']);
    assert.ok(r.results!.every((x) => x.properties!['policySetDigest'] === next.digest));
    assert.deepEqual(r.summary, { pass: 1, fail: 0, warn: 1, error: 0, skip: 0 });
    t.auditor.stop();
  });

  it('a report someone else changed is re-read and written again (409)', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:1'));
    await lead(t);
    t.mem.tamper('team-b', REPORT_NAME, (r) => void (r.results = []));
    t.auditor.observe(t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest')));
    await t.auditor.idle();
    assert.deepEqual(resultsOf(t.report('team-b')), ['db images/no-latest fail']);
    t.auditor.stop();
  });

  it('without the PolicyReport CRDs: says so once, looks again, and writes once they are served', async () => {
    const t = setup({ served: false });
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest'));
    t.auditor.setActive(true);
    const warned = () => t.records().filter((r) => (r['level'] === 40 || r['level'] === 'warn') && /CRDs .* are not installed/.test(String(r['msg'])));
    // Looks again every unavailableRetryMs: wait for a few looks.
    await until('three looks', () => t.records().filter((r) => /are not installed/.test(String(r['msg']))).length >= 3);
    assert.equal(warned().length, 1, 'one warning, then debug lines');
    assert.equal(t.mem.writes.length, 0);
    // Changes seen meanwhile wait for the pass that finds the API.
    t.auditor.observe(t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest')));
    t.mem.served = true;
    await until('the report', () => t.report('team-b') !== undefined);
    await t.auditor.idle();
    assert.deepEqual(resultsOf(t.report('team-b')), ['db images/no-latest fail']);
    t.auditor.stop();
  });

  it('a follower writes nothing, and a leader that loses the Lease stops writing', async () => {
    let leading = false;
    const t = setup({ leader: () => leading });
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest'));
    await lead(t);
    assert.equal(t.mem.writes.length, 0);
    leading = true;
    assert.ok(await t.auditor.fullPass());
    const before = t.mem.writes.length;
    leading = false;
    t.auditor.observe(t.cluster.put(deployment('team-b', 'db', 'registry.example/db:1')));
    await t.auditor.idle();
    assert.equal(t.mem.writes.length, before);
    t.auditor.stop();
  });

  it('forgets its state when it stops leading: the next leader starts afresh', async () => {
    const t = setup();
    t.cluster.namespace('team-b');
    t.cluster.put(deployment('team-b', 'db', 'registry.example/db:latest'));
    await lead(t);
    t.auditor.setActive(false);
    // A follower ignores changes: the next leader's pass covers them.
    t.auditor.observe(t.cluster.put(deployment('team-b', 'db', 'registry.example/db:1')));
    await t.auditor.idle();
    assert.deepEqual(resultsOf(t.report('team-b')), ['db images/no-latest fail']);
    await lead(t);
    assert.deepEqual(resultsOf(t.report('team-b')), ['db images/no-latest pass']);
    t.auditor.stop();
  });
});
