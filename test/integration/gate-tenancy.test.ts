/**
 * Tenancy in a cluster: the gate keeps namespaces in its own list + watch cache (no client-node) against
 * the test API server, so no API call sits in the admission path. Readiness waits for the first sync; label
 * changes and new namespaces reach decisions; a dropped watch restarts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { reviewFor, startGateHarness, type GateHarness } from '../support/gate-harness.js';

/** A hang guard, not a speed check. */
const DEADLINE_MS = 30_000;
const POLL_MS = 50;

let api: TestApiServer;
let dir: string;
let kubeconfig: string;

function namespace(name: string, tenant?: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(tenant ? { labels: { 'tracegate.io/tenant': tenant } } : {}) } };
}

const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'team-x', annotations: { 'tracegate.io/commit': 'c0ffee1', 'tracegate.io/approver': 'bob' } },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: { containers: [{ name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } }] },
    },
  },
};

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The tenant the gate's mutating webhook stamps for a Deployment in `ns`. */
async function tenantIn(h: GateHarness, ns: string): Promise<string | undefined> {
  const res = await h.review('/mutate', reviewFor({ ...deployment, metadata: { ...deployment.metadata, namespace: ns } }, { namespace: ns, fieldManager: 'helm' }));
  assert.equal(res.status, 200, res.text);
  return res.json.response.auditAnnotations?.tenant;
}

before(async () => {
  api = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-tenancy-'));
  kubeconfig = await api.kubeconfig(dir, { user: 'system:serviceaccount:tracegate:tracegate' });
  api.store.put(namespace('team-x', 'team-x'));
  api.store.put(namespace('plain'));
});

after(async () => {
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('namespace informer', { timeout: DEADLINE_MS * 4 }, () => {
  it('is not ready until the first list completes, then resolves tenants from namespace labels', async () => {
    api.faults.delay({ method: 'GET', path: /\/api\/v1\/namespaces(\?|$)/, ms: 1_500, count: 1 });
    const h = await startGateHarness({ config: { tenancy: 'cluster', kubeconfig } });
    try {
      const first = await h.get('/readyz');
      assert.equal(first.status, 503, 'readiness waits for the namespace cache');
      assert.match(first.text, /namespace cache not synced/);
      await until('readiness', async () => ((await h.get('/readyz')).status === 200 ? true : undefined));
      assert.equal(await tenantIn(h, 'team-x'), 'team-x');
      assert.equal(await tenantIn(h, 'plain'), undefined, 'a namespace without the label has no tenant');
      const lists = api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/namespaces' && r.query.watch !== 'true');
      const before = lists.length;
      for (let i = 0; i < 5; i++) await tenantIn(h, 'team-x');
      assert.equal(api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/namespaces' && r.query.watch !== 'true').length, before, 'no API call in the admission path');
    } finally {
      await h.close();
    }
  });

  it('follows relabelled and new namespaces, and restarts after the watch is dropped', async () => {
    const h = await startGateHarness({ config: { tenancy: 'cluster', kubeconfig } });
    try {
      await until('readiness', async () => ((await h.get('/readyz')).status === 200 ? true : undefined));
      api.store.put(namespace('team-x', 'team-y'));
      await until('the relabelled tenant', async () => ((await tenantIn(h, 'team-x')) === 'team-y' ? true : undefined));
      api.store.put(namespace('team-z', 'team-z'));
      await until('the new namespace', async () => ((await tenantIn(h, 'team-z')) === 'team-z' ? true : undefined));

      assert.ok(api.faults.dropWatches({ abrupt: true }) >= 1, 'a namespace watch was open');
      await until('the watch restart metric', async () => (/^tracegate_namespace_watch_restarts_total [1-9]/m.test((await h.get('/metrics')).text) ? true : undefined));
      api.store.put(namespace('team-x', 'team-x'));
      await until('a change after the restart', async () => ((await tenantIn(h, 'team-x')) === 'team-x' ? true : undefined));
      assert.equal((await h.get('/readyz')).status, 200);
    } finally {
      await h.close();
    }
  });
});
