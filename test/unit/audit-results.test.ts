/**
 * The audit's pure core: a workload judged by the gate's engine (results.ts) and turned into
 * PolicyReport results (report.ts) — which workloads are audited at all, pass/fail/warn/skip per rule,
 * severities, messages, and the tenant a policy may select by.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resultsOf } from '../../src/audit/report.js';
import { auditResults, isAuditedWorkload, sameAudit } from '../../src/audit/results.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';

const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });

const POLICIES = `
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: images, version: "2.0.0" }
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
metadata: { name: labels, version: "1.0.0" }
spec:
  match: { tenants: [team-a] }
  rules:
    - id: owner
      action: audit
      metadata: { labels: [{ key: owner }] }
---
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: provenance, version: "1.0.0" }
spec:
  match: { kinds: [Deployment] }
  rules:
    - id: commit
      action: deny
      provenance: { requireCommit: true }
`;
const set = loader.toSet(loader.parse(POLICIES, 'inline.yaml'));

function deployment(images: string[], extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'shop', uid: 'uid-web', ...extra },
    spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } } },
  };
}

const byRule = (rs: ReturnType<typeof resultsOf>) => Object.fromEntries(rs.map((r) => [`${r.policy}/${r.rule}`, r]));

describe('auditResults', () => {
  it('a compliant workload passes every rule of the policies that select it; provenance is skipped', () => {
    const audit = auditResults(deployment(['registry.example/web:1.2']), set, { now: 100 })!;
    assert.deepEqual(audit.applied.map((p) => p.name), ['images', 'provenance']);
    const rs = byRule(resultsOf(audit));
    assert.deepEqual(Object.keys(rs).sort(), ['images/no-latest', 'images/registry', 'provenance/commit']);
    assert.equal(rs['images/no-latest']!.result, 'pass');
    assert.equal(rs['images/registry']!.result, 'pass');
    assert.equal(rs['provenance/commit']!.result, 'skip');
    assert.match(rs['provenance/commit']!.message!, /judged at admission/);
  });

  it('maps actions to results and severities: deny → fail/high, warn → warn/medium, audit → fail/low', () => {
    const obj = deployment(['docker.io/web:latest']);
    const audit = auditResults(obj, set, { now: 100, tenant: 'team-a' })!;
    const rs = byRule(resultsOf(audit));
    assert.equal(rs['images/no-latest']!.result, 'fail');
    assert.equal(rs['images/no-latest']!.severity, 'high');
    assert.equal(rs['images/no-latest']!.scored, true);
    assert.equal(rs['images/no-latest']!.properties!.fix, 'pin a version');
    assert.equal(rs['images/no-latest']!.properties!.path, 'spec.template.spec.containers[0].image');
    assert.equal(rs['images/registry']!.result, 'warn');
    assert.equal(rs['images/registry']!.severity, 'medium');
    assert.equal(rs['images/registry']!.scored, false);
    assert.equal(rs['labels/owner']!.result, 'fail');
    assert.equal(rs['labels/owner']!.severity, 'low');
  });

  it('selects tenant policies only when the namespace has that tenant', () => {
    const obj = deployment(['registry.example/web:1.2']);
    assert.ok(!auditResults(obj, set, { now: 1 })!.applied.some((p) => p.name === 'labels'));
    assert.ok(!auditResults(obj, set, { now: 1, tenant: 'team-b' })!.applied.some((p) => p.name === 'labels'));
    assert.ok(auditResults(obj, set, { now: 1, tenant: 'team-a' })!.applied.some((p) => p.name === 'labels'));
  });

  it('puts every violation of one rule into its one result', () => {
    const rs = byRule(resultsOf(auditResults(deployment(['a:latest', 'b:latest', 'registry.example/c:1']), set, { now: 1 })!));
    const msg = rs['images/no-latest']!.message!;
    assert.match(msg, /c0/);
    assert.match(msg, /c1/);
    assert.doesNotMatch(msg, /container c2/);
  });

  it('names the workload in each result, with the set and policy digests and the time found', () => {
    const audit = auditResults(deployment(['registry.example/web:1.2']), set, { now: 1234 })!;
    const r = resultsOf(audit)[0]!;
    assert.deepEqual(r.resources, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'shop', uid: 'uid-web' }]);
    assert.deepEqual(r.timestamp, { seconds: 1234, nanos: 0 });
    assert.equal(r.source, 'tracegate');
    assert.equal(r.properties!.policySetDigest, set.digest);
    assert.equal(r.properties!.version, '2.0.0');
    assert.match(r.properties!.digest!, /^sha256:/);
  });

  it('sameAudit ignores the time found but not a changed result', () => {
    const a = auditResults(deployment(['registry.example/web:1.2']), set, { now: 1 })!;
    assert.ok(sameAudit(a, auditResults(deployment(['registry.example/web:1.2']), set, { now: 2 })!));
    assert.ok(!sameAudit(a, auditResults(deployment(['registry.example/web:latest']), set, { now: 2 })!));
  });

  it('has nothing to say about an object without a uid', () => {
    const obj = deployment(['x:1']);
    delete obj.metadata!.uid;
    assert.equal(auditResults(obj, set, { now: 1 }), undefined);
  });
});

describe('isAuditedWorkload', () => {
  const owned = (kind: string, ownerKind: string, controller = true): KubeObject => ({
    apiVersion: 'v1',
    kind,
    metadata: { name: 'x', namespace: 'n', uid: 'u', ownerReferences: [{ kind: ownerKind, name: 'o', uid: 'o', controller }] },
  });
  it('audits the objects people write, not what controllers make from them', () => {
    assert.equal(isAuditedWorkload(deployment(['x:1'])), true);
    assert.equal(isAuditedWorkload(owned('ReplicaSet', 'Deployment')), false);
    assert.equal(isAuditedWorkload(owned('ReplicaSet', 'SomethingElse')), true);
    assert.equal(isAuditedWorkload(owned('Job', 'CronJob')), false);
    assert.equal(isAuditedWorkload(owned('Job', 'Workflow')), true);
    assert.equal(isAuditedWorkload(owned('Pod', 'ReplicaSet')), false);
    assert.equal(isAuditedWorkload(owned('Pod', 'ReplicaSet', false)), true, 'an owner that is not its controller');
    assert.equal(isAuditedWorkload({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: 'n', uid: 'u' } }), true);
    assert.equal(isAuditedWorkload({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', uid: 'u' } }), false);
    assert.equal(isAuditedWorkload(deployment(['x:1'], { deletionTimestamp: '2026-01-01T00:00:00Z' })), false);
  });
});
