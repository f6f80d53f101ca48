/**
 * API Priority and Fairness in the test API server: the apiserver's FlowSchemas and
 * PriorityLevelConfigurations served with the real kubectl, every request classified as the
 * apiserver does (response headers, request log), and APF's 429 injected by flow — tenant writes
 * throttled while a rollback identity with its own FlowSchema and priority level gets through (issue 13).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let admin: string;
const ns = 'team-a';
const ROLLBACK_SA = 'system:serviceaccount:tracegate:tracegate-rollback';
const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:tracegate'];

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-apf-test-'));
  admin = await server.kubeconfig(await mkdtemp(join(dir, 'admin-')));
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function kubectl(kubeconfig: string, ...args: string[]): Promise<ToolResult> {
  const res = await runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig } });
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

async function call(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: { ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }), 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function uid(resource: string, name: string): string {
  const obj = server.store.get(resource, '', name) as Any | undefined;
  assert.ok(obj, `${resource} ${name} exists`);
  return obj['metadata']['uid'];
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  // Generous: only bounds a hang, never decides the outcome of a passing test.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const configMap = (name: string): Any => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } });

describe('FlowSchemas and PriorityLevelConfigurations', () => {
  it("serves the apiserver's mandatory and suggested objects through discovery and kubectl get", async () => {
    const levels = await kubectl(admin, 'get', 'prioritylevelconfigurations');
    assert.match(levels.stdout, /^NAME\s+TYPE\s+NOMINALCONCURRENCYSHARES\s+QUEUES\s+HANDSIZE\s+QUEUELENGTHLIMIT\s+AGE\n/);
    assert.match(levels.stdout, /\ncatch-all\s+Limited\s+5\s+<none>\s+<none>\s+<none>\s+\d+s\n/);
    assert.match(levels.stdout, /\nexempt\s+Exempt\s+<none>\s+<none>\s+<none>\s+<none>\s+\d+s\n/);
    assert.match(levels.stdout, /\nworkload-low\s+Limited\s+100\s+128\s+6\s+50\s+\d+s\n/);
    await waitFor('the Dangling conditions', () => server.store.list('flowschemas').every((fs: Any) => fs['status']?.['conditions']?.length === 1));
    const schemas = await kubectl(admin, 'get', 'flowschemas');
    const rows = schemas.stdout.trim().split('\n');
    assert.match(rows[0] ?? '', /^NAME\s+PRIORITYLEVEL\s+MATCHINGPRECEDENCE\s+DISTINGUISHERMETHOD\s+AGE\s+MISSINGPL$/);
    assert.deepEqual(
      rows.slice(1).map((r) => r.split(/\s+/)[0]).sort(),
      ['catch-all', 'endpoint-controller', 'exempt', 'global-default', 'kube-controller-manager', 'kube-scheduler', 'kube-system-service-accounts', 'probes', 'service-accounts', 'system-leader-election', 'system-node-high', 'system-nodes', 'workload-leader-election'],
    );
    assert.match(schemas.stdout, /\nexempt\s+exempt\s+1\s+<none>\s+\d+s\s+False\n/);
    assert.match(schemas.stdout, /\nservice-accounts\s+workload-low\s+9000\s+ByUser\s+\d+s\s+False\n/);
  });

  it('creates, defaults, validates and deletes them; a dangling FlowSchema says so; a deleted mandatory object comes back', async () => {
    const file = join(dir, 'apf.yaml');
    await writeFile(
      file,
      [
          { apiVersion: 'flowcontrol.apiserver.k8s.io/v1', kind: 'PriorityLevelConfiguration', metadata: { name: 'tracegate-rollback' }, spec: { type: 'Limited', limited: { limitResponse: { type: 'Queue', queuing: {} } } } },
          {
            apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
            kind: 'FlowSchema',
            metadata: { name: 'tracegate-rollback' },
            spec: {
              priorityLevelConfiguration: { name: 'tracegate-rollback' },
              matchingPrecedence: 500,
              distinguisherMethod: { type: 'ByUser' },
              rules: [{ subjects: [{ kind: 'ServiceAccount', serviceAccount: { namespace: 'tracegate', name: 'tracegate-rollback' } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }],
            },
          },
      ]
        .map((doc) => JSON.stringify(doc))
        .join('\n---\n'),
    );
    await kubectl(admin, 'apply', '--server-side', '-f', file);
    const pl = server.store.get('prioritylevelconfigurations', '', 'tracegate-rollback') as Any;
    assert.deepEqual(pl['spec']['limited'], { nominalConcurrencyShares: 30, lendablePercent: 0, limitResponse: { type: 'Queue', queuing: { queues: 64, handSize: 8, queueLengthLimit: 50 } } });
    await waitFor('the Dangling condition', () => (server.store.get('flowschemas', '', 'tracegate-rollback') as Any)?.['status']?.['conditions']?.[0]?.['status'] === 'False');

    const dangling = await call('POST', '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', server.token(), {
      apiVersion: 'flowcontrol.apiserver.k8s.io/v1',
      kind: 'FlowSchema',
      metadata: { name: 'dangling' },
      spec: { priorityLevelConfiguration: { name: 'nope' }, rules: [{ subjects: [{ kind: 'Group', group: { name: '*' } }] }] },
    });
    assert.equal(dangling.status, 201);
    assert.equal((JSON.parse(dangling.text) as Any)['spec']['matchingPrecedence'], 1000);
    await waitFor('dangling', () => (server.store.get('flowschemas', '', 'dangling') as Any)?.['status']?.['conditions']?.[0]?.['status'] === 'True');
    assert.match((await kubectl(admin, 'get', 'flowschema', 'dangling')).stdout, /dangling\s+nope\s+1000\s+<none>\s+\d+s\s+True/);

    const bad = await call('POST', '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', server.token(), { apiVersion: 'flowcontrol.apiserver.k8s.io/v1', kind: 'FlowSchema', metadata: { name: 'first' }, spec: { matchingPrecedence: 1, priorityLevelConfiguration: { name: 'exempt' } } });
    assert.equal(bad.status, 422);
    assert.equal((JSON.parse(bad.text) as Any)['message'], `FlowSchema.flowcontrol.apiserver.k8s.io "first" is invalid: spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matching precedence 1`);

    const before = uid('flowschemas', 'exempt');
    await kubectl(admin, 'delete', 'flowschema', 'exempt');
    await waitFor('the exempt FlowSchema to come back', () => server.store.get('flowschemas', '', 'exempt') !== undefined);
    assert.notEqual(uid('flowschemas', 'exempt'), before);
  });
});

describe('classification', () => {
  it('every request carries the UIDs of its FlowSchema and priority level; the request log names them', async () => {
    const cases: [string | undefined, string, string, string][] = [
      [server.token(), `/api/v1/namespaces/${ns}/configmaps`, 'exempt', 'exempt'],
      [server.token('alice', ['team-a']), `/api/v1/namespaces/${ns}/configmaps`, 'global-default', 'global-default'],
      [server.token('system:serviceaccount:kube-system:deployment-controller', ['system:serviceaccounts', 'system:serviceaccounts:kube-system']), '/apis/apps/v1/deployments', 'kube-system-service-accounts', 'workload-high'],
      [server.token('system:serviceaccount:ci:deployer', ['system:serviceaccounts', 'system:serviceaccounts:ci']), `/api/v1/namespaces/${ns}/configmaps`, 'service-accounts', 'workload-low'],
      [server.token(ROLLBACK_SA, SA_GROUPS), `/api/v1/namespaces/${ns}/configmaps`, 'tracegate-rollback', 'tracegate-rollback'],
      [undefined, '/healthz', 'probes', 'exempt'],
      [undefined, '/version', 'global-default', 'global-default'],
    ];
    for (const [token, path, fs, pl] of cases) {
      const res = await call('GET', path, token);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(res.headers.get('x-kubernetes-pf-flowschema-uid'), uid('flowschemas', fs), `${path} by ${token === undefined ? 'anonymous' : 'token'} is in ${fs}`);
      assert.equal(res.headers.get('x-kubernetes-pf-prioritylevel-uid'), uid('prioritylevelconfigurations', pl));
      const entry = server.requests.filter((r) => r.path === path).at(-1);
      assert.deepEqual([entry?.flowSchema, entry?.priorityLevel], [fs, pl]);
    }
  });
});

describe('throttling by flow', () => {
  it("alice's writes get APF's 429 while the rollback identity's go through; exempt traffic is never throttled", async () => {
    const alice = server.token('alice', ['team-a']);
    const rollback = server.token(ROLLBACK_SA, SA_GROUPS);
    server.faults.throttle({ priorityLevel: 'global-default', retryAfterSeconds: 2 });
    server.faults.throttle({ flowSchema: 'exempt' });
    assert.throws(() => server.faults.throttle({ priorityLevel: 'exempt' }), /never throttled/);

    const refused = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, alice, configMap('from-alice'));
    assert.equal(refused.status, 429);
    assert.equal(refused.text, 'Too many requests, please try again later.\n', 'plain text from http.Error, not a Status');
    assert.equal(refused.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(refused.headers.get('retry-after'), '2');
    assert.equal(refused.headers.get('x-kubernetes-pf-prioritylevel-uid'), uid('prioritylevelconfigurations', 'global-default'));
    assert.equal(server.store.get('configmaps', ns, 'from-alice'), undefined);

    const through = await call('POST', `/api/v1/namespaces/${ns}/configmaps`, rollback, configMap('from-rollback'));
    assert.equal(through.status, 201, through.text);
    assert.equal((await call('POST', `/api/v1/namespaces/${ns}/configmaps`, server.token(), configMap('from-admin'))).status, 201, 'exempt is never throttled, even by FlowSchema name');

    const entry = server.requests.filter((r) => r.method === 'POST' && r.user === 'alice').at(-1);
    assert.deepEqual([entry?.status, entry?.priorityLevel], [429, 'global-default']);
    server.faults.clear();
    assert.equal((await call('POST', `/api/v1/namespaces/${ns}/configmaps`, alice, configMap('from-alice'))).status, 201);
  });

  it('a limited throttle by FlowSchema name: kubectl (client-go) retries through the plain-text 429s after Retry-After', async () => {
    const alice = await server.kubeconfig(await mkdtemp(join(dir, 'alice-')), { user: 'alice', groups: ['team-a'] });
    server.faults.throttle({ flowSchema: 'global-default', retryAfterSeconds: 0, count: 2 });
    const start = server.requests.length;
    await kubectl(alice, 'create', 'configmap', 'retried', '-n', ns);
    const posts = server.requests.slice(start).filter((r) => r.method === 'POST').map((r) => r.status);
    assert.deepEqual(posts, [429, 429, 201]);
    assert.equal(server.faults.pending(), 0);
  });
});
