/**
 * The PolicyReports the audit writes (src/audit/report.ts), pure: their shape against the
 * wgpolicyk8s.io/v1alpha2 CRD the repository ships (every field written is one the schema declares, so
 * an apiserver prunes nothing; enums respected), the summary, the order of results, the cluster summary,
 * what counts as a change (timestamps do not), the etcd size bound, and bounded messages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { addToTotals, buildClusterReport, buildReport, reportContent, reportDigest, type PolicyReport, type RuleTotals } from '../../src/audit/report.js';
import { auditResults, boundedMessage, type WorkloadAudit } from '../../src/audit/results.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { canonicalJson } from '../../src/policy/digest.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; enum?: string[]; required?: string[]; additionalProperties?: Schema | boolean };

const crds = parseAllDocuments(readFileSync(new URL('../../manifests/crds/wgpolicyk8s-policyreports.yaml', import.meta.url), 'utf8')).map((d) => d.toJS());
const schemaOf = (kind: string): Schema => crds.find((c) => c.spec.names.kind === kind).spec.versions[0].schema.openAPIV3Schema;

/**
 * The fields of `value` the schema does not declare, and enum or type mismatches: what a structural
 * schema would prune or refuse (metadata aside: the apiserver owns it).
 */
function schemaProblems(value: unknown, schema: Schema, path = ''): string[] {
  if (schema.enum && !schema.enum.includes(value as string)) return [`${path}: ${String(value)} not in ${schema.enum.join(',')}`];
  if (schema.type === 'array') return Array.isArray(value) ? value.flatMap((v, i) => schemaProblems(v, schema.items!, `${path}[${i}]`)) : [`${path}: not an array`];
  if (schema.type === 'string') return typeof value === 'string' ? [] : [`${path}: not a string`];
  if (schema.type === 'integer') return Number.isInteger(value) ? [] : [`${path}: not an integer`];
  if (schema.type === 'boolean') return typeof value === 'boolean' ? [] : [`${path}: not a boolean`];
  if (schema.type !== 'object' || typeof value !== 'object' || value === null) return schema.type === 'object' ? [`${path}: not an object`] : [];
  const out: string[] = [];
  for (const k of schema.required ?? []) if (!(k in value)) out.push(`${path}.${k}: required`);
  for (const [k, v] of Object.entries(value)) {
    if (path === '' && k === 'metadata') continue;
    const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (!sub) out.push(`${path}.${k}: not in the schema (pruned)`);
    else out.push(...schemaProblems(v, sub, `${path}.${k}`));
  }
  return out;
}

const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const set = loader.toSet(
  loader.parse(
    `
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: images, version: "1.0.0" }
spec:
  rules:
    - id: no-latest
      action: deny
      fix: pin a version
      images: { disallowedTags: [latest], requireTag: true }
    - id: registry
      action: warn
      images: { allowed: ["registry.example/**"] }
---
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: provenance, version: "1.0.0" }
spec:
  rules:
    - id: commit
      action: deny
      provenance: { requireCommit: true }
`,
    'inline.yaml',
  ),
);

function audit(name: string, image: string, kind = 'Deployment', now = 100): WorkloadAudit {
  const obj: KubeObject = {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name, namespace: 'shop', uid: `uid-${kind}-${name}` },
    spec: { template: { spec: { containers: [{ name: 'c', image }] } } },
  };
  return auditResults(obj, set, { now })!;
}

const META = { prefix: 'tracegate.io/' };

describe('buildReport', () => {
  const report = buildReport('shop', [audit('web', 'registry.example/web:1'), audit('api', 'docker.io/api:latest'), audit('api', 'registry.example/api:2', 'StatefulSet')], META);

  it('is a wgpolicyk8s.io/v1alpha2 PolicyReport the CRD schema keeps whole', () => {
    assert.equal(report.apiVersion, 'wgpolicyk8s.io/v1alpha2');
    assert.equal(report.kind, 'PolicyReport');
    assert.deepEqual(report.metadata, { name: 'tracegate-audit', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'tracegate', 'app.kubernetes.io/part-of': 'tracegate' } });
    assert.deepEqual(report.scope, { apiVersion: 'v1', kind: 'Namespace', name: 'shop' });
    assert.deepEqual(schemaProblems(report, schemaOf('PolicyReport')), []);
    for (const r of report.results!) {
      assert.deepEqual(Object.keys(r).sort(), ['message', 'policy', 'properties', 'resources', 'result', 'rule', 'scored', 'severity', 'source', 'timestamp']);
      assert.ok(Object.values(r.properties!).every((v) => typeof v === 'string'));
    }
  });

  it('has one result per workload × rule, ordered by kind, name and uid, and a summary counting them', () => {
    assert.deepEqual(
      report.results!.map((r) => `${r.resources![0]!.kind}/${r.resources![0]!.name} ${r.policy}/${r.rule} ${r.result}`),
      [
        'Deployment/api images/no-latest fail',
        'Deployment/api images/registry warn',
        'Deployment/api provenance/commit skip',
        'Deployment/web images/no-latest pass',
        'Deployment/web images/registry pass',
        'Deployment/web provenance/commit skip',
        'StatefulSet/api images/no-latest pass',
        'StatefulSet/api images/registry pass',
        'StatefulSet/api provenance/commit skip',
      ],
    );
    assert.deepEqual(report.summary, { pass: 4, fail: 1, warn: 1, error: 0, skip: 3 });
  });

  it('keeps a report over the etcd bound below it: passes dropped first, the summary still whole', () => {
    const many = Array.from({ length: 3000 }, (_, i) => audit(`w${String(i).padStart(4, '0')}`, i % 10 ? 'registry.example/x:1' : 'x:latest'));
    const big = buildReport('shop', many, META);
    assert.ok(JSON.stringify(big).length <= 1_000_000);
    assert.ok(big.results!.every((r) => r.result !== 'pass'));
    // Failures before skips: what needs attention is what is kept.
    assert.equal(big.results!.filter((r) => r.result === 'fail').length, 300);
    assert.equal(big.results![0]!.result, 'fail');
    const s = big.summary as Record<string, number>;
    assert.equal(s.pass! + s.fail! + s.warn! + s.skip!, 3000 * 3);
    assert.match(big.metadata.annotations!['tracegate.io/audit-truncated']!, /would exceed 1000000 bytes; summary counts them/);
  });
});

describe('reportContent and reportDigest', () => {
  it('are the canonical (sorted-key) JSON whatever order a report lists its keys in', () => {
    const ours = buildReport('shop', [audit('web', 'x:latest'), audit('api', 'registry.example/api:1')], META);
    // As a client reading it back may order keys: reversed at every level.
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    assert.equal(reportContent(reversed(ours) as PolicyReport), reportContent(ours));
    assert.equal(reportContent(ours), canonicalJson(JSON.parse(reportContent(ours))));
  });

  it('ignore when a result was found, and the apiserver-owned metadata', () => {
    const a = buildReport('shop', [audit('web', 'x:latest', 'Deployment', 100)], META);
    const b = buildReport('shop', [audit('web', 'x:latest', 'Deployment', 999)], META);
    const stored: PolicyReport = { ...b, metadata: { ...b.metadata, resourceVersion: '42', uid: 'u', creationTimestamp: '2026-12-01T00:00:00Z' } };
    assert.equal(reportContent(a), reportContent(stored));
    assert.equal(reportDigest(a), reportDigest(stored));
    assert.match(reportDigest(a), /^[0-9a-f]{64}$/);
  });

  it('see a changed result', () => {
    const a = buildReport('shop', [audit('web', 'x:latest')], META);
    const b = buildReport('shop', [audit('web', 'registry.example/x:1')], META);
    assert.notEqual(reportDigest(a), reportDigest(b));
  });
});

describe('buildClusterReport', () => {
  it('has one result per policy × rule, the worst result anywhere, and the counts in properties', () => {
    const totals: RuleTotals = new Map();
    for (const a of [audit('web', 'registry.example/web:1'), audit('api', 'x:latest'), audit('db', 'registry.example/db:1')]) addToTotals(totals, a);
    const r = buildClusterReport(totals, set.digest, 1234);
    assert.equal(r.kind, 'ClusterPolicyReport');
    assert.equal(r.metadata.namespace, undefined);
    assert.deepEqual(schemaProblems(r, schemaOf('ClusterPolicyReport')), []);
    const byRule = Object.fromEntries(r.results!.map((x) => [`${x.policy}/${x.rule}`, x]));
    assert.equal(byRule['images/no-latest']!.result, 'fail');
    assert.equal(byRule['images/no-latest']!.message, '1 of 3 workloads do not comply, in 1 namespace');
    assert.equal(byRule['images/no-latest']!.properties!['workloads.pass'], '2');
    assert.equal(byRule['images/registry']!.result, 'warn');
    assert.equal(byRule['provenance/commit']!.result, 'skip');
    assert.equal(byRule['provenance/commit']!.properties!['policySetDigest'], set.digest);
    assert.deepEqual(r.summary, { pass: 0, fail: 1, warn: 1, error: 0, skip: 1 });
  });
});

describe('messages', () => {
  it('never carry an unbounded request value', () => {
    const huge = `registry.example/${'a'.repeat(200_000)}:latest`;
    const r = buildReport('shop', [audit('web', huge)], META).results!.find((x) => x.rule === 'no-latest')!;
    assert.equal(r.result, 'fail');
    assert.ok(r.message!.length < 1100, `message is ${r.message!.length} characters`);
    assert.match(r.message!, /…\(200024 characters\)/);
    assert.ok(JSON.stringify(r).length < 3000);
  });

  it('cut a quoted value and escape invisible characters', () => {
    assert.equal(boundedMessage({ message: 'image "x" is bad' }), 'image "x" is bad');
    const m = boundedMessage({ message: `image "${'b'.repeat(500)}" is bad`, value: 'b'.repeat(500) });
    assert.match(m, /^image "b{200}…\(500 characters\)" is bad$/);
    assert.equal(boundedMessage({ message: 'a\u202eb' }), 'a\\u202eb');
  });
});
