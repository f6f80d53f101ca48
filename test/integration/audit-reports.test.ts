/**
 * The background audit end to end: a real recorder (src/recorder/run.ts, audit on, a short interval)
 * against the test API server, workloads written with the real kubectl, and the PolicyReport CRDs
 * (manifests/crds/wgpolicyk8s-policyreports.yaml) applied after the recorder started — so it first
 * finds them missing and looks again. Then: one report per namespace with the right results, the
 * cluster summary, `kubectl get policyreports -A` / `kubectl get polr -o yaml`, a fixed workload's
 * result flipping in one namespace report write, a deleted workload's results gone, and the last
 * deletion taking the report along.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { REPORT_NAME } from '../../src/audit/report.js';
import { createLogger } from '../../src/log.js';
import { policySchemaPath } from '../../src/paths.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import { startRecorder, type RunningRecorder } from '../../src/recorder/run.js';
import { LEASE_NAMESPACE, PREFIX, createRecorderHarness, type Any, type RecorderHarness } from '../support/recorder-harness.js';
import { TEST_KEYRING } from '../support/stamps.js';

const CRDS = fileURLToPath(new URL('../../manifests/crds/wgpolicyk8s-policyreports.yaml', import.meta.url));
const TENANT_LABEL = `${PREFIX}tenant`;

const POLICIES = `
apiVersion: tracegate.io/v1alpha1
kind: Policy
metadata: { name: images, version: "1.0.0" }
spec:
  rules:
    - id: no-latest
      action: deny
      fix: pin a version tag
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
`;

let h: RecorderHarness;
let running: RunningRecorder;
const lines: string[] = [];
const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
const set = loader.toSet(loader.parse(POLICIES, 'audit-policies.yaml'));

function deployment(namespace: string, name: string, image: string, labels: Record<string, string> = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name, ...labels } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } } },
  });
}

/** The stored report; undefined also while the resource is not served (the store refuses unknown resources). */
function report(ns: string): Any | undefined {
  try {
    return h.server.store.get('policyreports', ns, REPORT_NAME) as Any | undefined;
  } catch {
    return undefined;
  }
}
/** `name policy/rule result` of a stored report, sorted. */
const results = (ns: string): string[] => ((report(ns)?.['results'] ?? []) as Any[]).map((r) => `${r['resources'][0]['name']} ${r['policy']}/${r['rule']} ${r['result']}`).sort();
/** Writes to the namespace's PolicyReports since request `from`. */
const reportWrites = (ns: string, from: number): string[] =>
  h.server.requests
    .slice(from)
    .filter((r) => r.path.startsWith(`/apis/wgpolicyk8s.io/v1alpha2/namespaces/${ns}/policyreports`) && r.method !== 'GET' && r.status < 300)
    .map((r) => r.method);

async function kubectl(args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await h.ok(h.tools.kubectl, args)).stdout;
  const file = `${h.dir}/input-${Math.random().toString(36).slice(2)}.json`;
  await (await import('node:fs/promises')).writeFile(file, input);
  return (await h.ok(h.tools.kubectl, [...args, '-f', file])).stdout;
}

before(async () => {
  h = await createRecorderHarness();
  h.server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { [TENANT_LABEL]: 'team-a' } } });
  h.server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
  await kubectl(['apply'], deployment('team-a', 'web', 'registry.example.com/team-a/web:1.0', { owner: 'alice' }));
  await kubectl(['apply'], deployment('team-a', 'api', 'registry.example.com/team-a/api:latest'));
  await kubectl(['apply'], deployment('team-b', 'db', 'registry.example.com/team-b/db'));
  const kc = new KubeConfig();
  kc.loadFromFile(await h.kubeconfig('system:serviceaccount:tracegate:recorder'));
  running = await startRecorder({
    kubeConfig: kc,
    log: createLogger({ level: 'debug', name: 'recorder', destination: { write: (s: string) => void lines.push(s) } }),
    keyring: TEST_KEYRING,
    config: {
      namespaces: [],
      prefix: PREFIX,
      historyMax: 10,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      lease: { namespace: LEASE_NAMESPACE, name: 'recorder', identity: 'recorder-0', leaseDurationMs: 2_000, renewIntervalMs: 200 },
      // Passes every 2 s and a missing CRD looked for again every 100 ms: the test never waits long.
      audit: { policies: set, intervalMs: 2_000, flushDelayMs: 50, unavailableRetryMs: 100, tenancy: { tenantLabel: TENANT_LABEL } },
    },
  });
  await h.waitFor('the recorder to lead', () => running.isLeader());
});

after(async () => {
  await running?.stop();
  await h?.close();
});

describe('background audit against the test API server', () => {
  it('finds the PolicyReport CRDs missing, says so, and writes the reports once they are applied', async () => {
    await h.waitFor('the missing-CRD warning', () => lines.some((l) => /PolicyReport CRDs .* are not installed/.test(l)));
    assert.equal(report('team-a'), undefined);
    assert.match(await kubectl(['apply', '-f', CRDS]), /policyreports\.wgpolicyk8s\.io created/);
    await h.waitFor('both namespace reports', () => report('team-a') !== undefined && report('team-b') !== undefined);
    await running.auditor!.idle();
  });

  it('has one result per workload × rule, with severity, message, policy digests and the workload named', () => {
    assert.deepEqual(results('team-a'), ['api images/no-latest fail', 'api owners/owner fail', 'web images/no-latest pass', 'web owners/owner pass']);
    assert.deepEqual(results('team-b'), ['db images/no-latest fail']);
    const a = report('team-a')!;
    assert.deepEqual(a['summary'], { pass: 2, fail: 2, warn: 0, error: 0, skip: 0 });
    const latest = (a['results'] as Any[]).find((r) => r['resources'][0]['name'] === 'api' && r['rule'] === 'no-latest')!;
    const live = h.deployment('team-a', 'api');
    assert.deepEqual(latest['resources'], [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'api', namespace: 'team-a', uid: live['metadata']['uid'] }]);
    assert.equal(latest['severity'], 'high');
    assert.equal(latest['source'], 'tracegate');
    assert.match(latest['message'], /registry\.example\.com\/team-a\/api:latest/);
    assert.equal(latest['properties']['policySetDigest'], set.digest);
    assert.equal(latest['properties']['fix'], 'pin a version tag');
    const owner = (a['results'] as Any[]).find((r) => r['resources'][0]['name'] === 'api' && r['rule'] === 'owner')!;
    assert.equal(owner['severity'], 'low');
    // A Deployment's ReplicaSets and Pods are covered by its own result.
    assert.ok(h.server.store.list('replicasets', 'team-a').length > 0);
    assert.ok((a['results'] as Any[]).every((r) => r['resources'][0]['kind'] === 'Deployment'));
    const cluster = h.server.store.get('clusterpolicyreports', '', REPORT_NAME) as Any;
    assert.deepEqual((cluster['results'] as Any[]).map((r) => `${r['policy']}/${r['rule']} ${r['result']}`), ['images/no-latest fail', 'owners/owner fail']);
  });

  it('kubectl lists and prints them', async () => {
    const table = await kubectl(['get', 'policyreports', '-A']);
    const rows = table.trimEnd().split('\n');
    assert.match(rows[0]!, /^NAMESPACE\s+NAME\s+KIND\s+NAME\s+PASS\s+FAIL\s+WARN\s+ERROR\s+SKIP\s+AGE$/);
    assert.match(table, /team-a\s+tracegate-audit\s+Namespace\s+team-a\s+2\s+2\s+0\s+0\s+0\s/);
    assert.match(table, /team-b\s+tracegate-audit\s+Namespace\s+team-b\s+0\s+1\s+0\s+0\s+0\s/);
    const yaml = parse(await kubectl(['get', 'polr', '-n', 'team-b', REPORT_NAME, '-o', 'yaml'])) as Any;
    assert.equal(yaml['apiVersion'], 'wgpolicyk8s.io/v1alpha2');
    assert.equal(yaml['results'][0]['result'], 'fail');
    assert.match(await kubectl(['get', 'cpolr']), /tracegate-audit/);
  });

  it('a fixed workload flips its result in one write of its namespace report', async () => {
    const from = h.server.requests.length;
    await kubectl(['set', 'image', 'deployment/api', 'api=registry.example.com/team-a/api:2.0', '-n', 'team-a']);
    await h.waitFor('the api result to pass', () => results('team-a').includes('api images/no-latest pass'));
    await running.auditor!.idle();
    assert.deepEqual(results('team-a'), ['api images/no-latest pass', 'api owners/owner fail', 'web images/no-latest pass', 'web owners/owner pass']);
    assert.deepEqual(reportWrites('team-a', from), ['PUT']);
    assert.deepEqual(reportWrites('team-b', from), [], 'other namespaces untouched');
  });

  it('a namespace created since the last pass is judged with its tenant at once', async () => {
    await kubectl(['apply'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a-dev', labels: { [TENANT_LABEL]: 'team-a' } } }));
    await kubectl(['apply'], deployment('team-a-dev', 'try', 'registry.example.com/team-a/try:0.1'));
    await h.waitFor('the team-a-dev report', () => report('team-a-dev') !== undefined);
    await running.auditor!.idle();
    assert.deepEqual(results('team-a-dev'), ['try images/no-latest pass', 'try owners/owner fail']);
  });

  it('a deleted workload loses its results; the last one takes the report along', async () => {
    let from = h.server.requests.length;
    await kubectl(['delete', 'deployment/api', '-n', 'team-a']);
    await h.waitFor('the api results to go', () => !results('team-a').some((r) => r.startsWith('api ')));
    await running.auditor!.idle();
    assert.deepEqual(results('team-a'), ['web images/no-latest pass', 'web owners/owner pass']);
    assert.deepEqual(reportWrites('team-a', from), ['PUT']);
    from = h.server.requests.length;
    await kubectl(['delete', 'deployment/web', '-n', 'team-a']);
    await h.waitFor('the team-a report to go', () => report('team-a') === undefined);
    await running.auditor!.idle();
    assert.deepEqual(reportWrites('team-a', from), ['DELETE']);
    const table = await kubectl(['get', 'policyreports', '-A']);
    assert.doesNotMatch(table, /team-a\s/);
    assert.match(table, /team-b\s+tracegate-audit/);
  });
});
