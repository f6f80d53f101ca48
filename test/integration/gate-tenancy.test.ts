/**
 * Tenancy in a cluster: the gate keeps namespaces in a client-node list + watch cache against the test
 * API server, so no API call sits in the admission path. Readiness waits for the first sync; label
 * changes and new namespaces reach decisions; a dropped watch restarts. Without a cluster the gate never
 * loads client-node (tens of MB of memory), checked in a child process that refuses to resolve it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { KubeObject } from '../../src/k8s/types.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { REPO_ROOT, reviewFor, startGateHarness, type GateHarness } from '../support/gate-harness.js';

const run = promisify(execFile);

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

describe('a kubeconfig the gate cannot use', { timeout: DEADLINE_MS }, () => {
  it('is a startup error naming the file, not a cache that never syncs', async () => {
    const bad = join(dir, 'bad-kubeconfig');
    const cluster = { server: 'https://127.0.0.1:1', 'certificate-authority': 'missing-ca.pem' };
    await writeFile(bad, JSON.stringify({ clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user: { token: 't' } }], contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }], 'current-context': 'x' }));
    await assert.rejects(startGateHarness({ config: { tenancy: 'cluster', kubeconfig: bad } }), /cannot read .*missing-ca\.pem \(certificate-authority of cluster "c"\): ENOENT/);
  });
});

describe('without a cluster', { timeout: DEADLINE_MS * 2 }, () => {
  /** Runs `node --import tsx` with a resolve hook that fails any import of @kubernetes/client-node. */
  async function withoutClientNode(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const d = await mkdtemp(join(dir, 'no-client-node-'));
    await writeFile(
      join(d, 'hooks.mjs'),
      `export async function resolve(specifier, context, next) {
  if (specifier === '@kubernetes/client-node' || specifier.startsWith('@kubernetes/client-node/')) throw new Error('client-node imported from ' + context.parentURL);
  return next(specifier, context);
}\n`,
    );
    await writeFile(join(d, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
    try {
      const r = await run(process.execPath, ['--import', 'tsx', '--import', join(d, 'register.mjs'), ...args], { cwd: REPO_ROOT, timeout: DEADLINE_MS });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  it('the gate loads without client-node, which only a cluster connection imports', async () => {
    const serve = await withoutClientNode(['src/main.ts', 'serve', '--help']);
    assert.equal(serve.code, 0, serve.stderr);
    assert.match(serve.stdout, /^Usage: tracegate serve/);
    const gate = await withoutClientNode(['--input-type=module', '-e', "const g = await import('./src/server/gate.ts'); console.log(typeof g.startGate);"]);
    assert.equal(gate.code, 0, gate.stderr);
    assert.equal(gate.stdout.trim(), 'function');
  });

  it('while `tracegate history` does load it (the hook works)', async () => {
    const history = await withoutClientNode(['src/main.ts', 'history', '--help']);
    assert.notEqual(history.code, 0);
    assert.match(history.stderr, /client-node imported from/);
  });
});
