/**
 * RBAC authorization of the test API server (`authorization: 'rbac'`, issue 15: least privilege checked
 * for real): the bootstrap roles, bindings to users, groups and ServiceAccounts, resourceNames,
 * subresources, non-resource URLs, `system:masters`, ClusterRole aggregation, escalation and bind checks
 * on RBAC writes, impersonation, and the apiserver's 403 texts — with the real kubectl and helm.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../src/log.js';
import { createDeletionWriter } from '../../src/provenance/deletion-writer.js';
import { createNamespaceCache } from '../../src/tenancy/namespace-cache.js';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { createRecorderHarness, PREFIX } from '../support/recorder-harness.js';
import { TEST_KEYRING } from '../support/stamps.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let tools: RealTools;
let server: TestApiServer;
let dir: string;
let admin: string;
let kubeconfigs = 0;

async function kubeconfigFor(opts?: { user?: string; groups?: string[] }): Promise<string> {
  const sub = join(dir, `kc${kubeconfigs++}`);
  await mkdir(sub);
  return server.kubeconfig(sub, opts);
}

async function kubectl(kubeconfig: string, ...args: string[]): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig } });
}

async function ok(kubeconfig: string, ...args: string[]): Promise<ToolResult> {
  const res = await kubectl(kubeconfig, ...args);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

async function applyAsAdmin(docs: unknown[]): Promise<void> {
  const file = join(dir, `apply-${kubeconfigs++}.yaml`);
  await writeFile(file, docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  await ok(admin, 'apply', '-f', file);
}

async function call(token: string | undefined, method: string, path: string, body?: unknown): Promise<{ status: number; body: Any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Any };
}

/** Waits (bounded by attempts, not time) until `check` passes: the aggregation controller runs after the write. */
async function eventually(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check());
}

const deployment = (name: string, namespace: string): Any => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
});

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ controller: false, authorization: 'rbac' });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-rbac-test-'));
  admin = await kubeconfigFor();
  for (const name of ['team-a', 'team-b']) server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  await ok(admin, 'create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice', '-n', 'team-a');
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('bootstrap policy', () => {
  it('creates the bootstrap roles and bindings, and fills the aggregated ones', async () => {
    const names = ['cluster-admin', 'admin', 'edit', 'view', 'system:basic-user', 'system:discovery', 'system:public-info-viewer', 'system:auth-delegator'];
    const res = await ok(admin, 'get', 'clusterroles', ...names, '-o', 'json');
    const roles = (JSON.parse(res.stdout) as Any)['items'] as Any[];
    assert.deepEqual(roles.map((r) => r['metadata']['name']), names);
    for (const r of roles) assert.equal(r['metadata']['labels']['kubernetes.io/bootstrapping'], 'rbac-defaults');
    const byName = new Map(roles.map((r) => [r['metadata']['name'] as string, r]));
    assert.deepEqual(byName.get('view')?.['aggregationRule'], { clusterRoleSelectors: [{ matchLabels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }] });
    assert.equal(byName.get('edit')?.['metadata']['labels']['rbac.authorization.k8s.io/aggregate-to-admin'], 'true');
    assert.equal(byName.get('view')?.['metadata']['labels']['rbac.authorization.k8s.io/aggregate-to-edit'], 'true');
    // Aggregation chains: view's rules are in edit, edit's in admin.
    const ruleCount = (n: string): number => (byName.get(n)?.['rules'] as unknown[]).length;
    assert.ok(ruleCount('view') > 0);
    assert.ok(ruleCount('edit') > ruleCount('view'));
    assert.ok(ruleCount('admin') > ruleCount('edit'));
    const bindings = await ok(admin, 'get', 'clusterrolebinding', 'cluster-admin', 'system:basic-user', 'system:discovery', 'system:public-info-viewer', '-o', 'json');
    const subjects = ((JSON.parse(bindings.stdout) as Any)['items'] as Any[]).map((b) => (b['subjects'] as Any[]).map((s) => s['name']));
    assert.deepEqual(subjects, [['system:masters'], ['system:authenticated'], ['system:authenticated'], ['system:authenticated', 'system:unauthenticated']]);
  });

  it('anonymous requests may read /version and /healthz, nothing else', async () => {
    assert.equal((await call(undefined, 'GET', '/version')).status, 200);
    assert.equal((await call(undefined, 'GET', '/healthz')).status, 200);
    const api = await call(undefined, 'GET', '/api');
    assert.equal(api.status, 403);
    assert.equal(api.body['message'], 'forbidden: User "system:anonymous" cannot get path "/api"');
    const list = await call(undefined, 'GET', '/api/v1/namespaces/default/configmaps');
    assert.equal(list.body['message'], 'configmaps is forbidden: User "system:anonymous" cannot list resource "configmaps" in API group "" in the namespace "default"');
    assert.equal((await call('bogus-token', 'GET', '/version')).status, 401);
  });
});

describe('authorization of requests', () => {
  it('a user bound to edit in one namespace writes there and gets the apiserver 403 elsewhere', async () => {
    const alice = await kubeconfigFor({ user: 'alice', groups: ['dev'] });
    await ok(alice, 'create', 'deployment', 'web', '--image=nginx', '-n', 'team-a');
    const elsewhere = await kubectl(alice, 'create', 'deployment', 'web', '--image=nginx', '-n', 'team-b');
    assert.notEqual(elsewhere.code, 0);
    assert.match(elsewhere.stderr, /deployments\.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" in the namespace "team-b"/);

    server.store.put(deployment('web', 'team-b'));
    const token = server.token('alice', ['dev']);
    const update = await call(token, 'PUT', '/apis/apps/v1/namespaces/team-b/deployments/web', deployment('web', 'team-b'));
    assert.equal(update.status, 403);
    assert.deepEqual(update.body, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps "web" is forbidden: User "alice" cannot update resource "deployments" in API group "apps" in the namespace "team-b"',
      reason: 'Forbidden',
      details: { name: 'web', group: 'apps', kind: 'deployments' },
      code: 403,
    });
    const list = await kubectl(alice, 'get', 'deployments', '-n', 'team-b');
    assert.match(list.stderr, /Error from server \(Forbidden\): deployments\.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "team-b"/);
    const watch = await call(token, 'GET', '/apis/apps/v1/namespaces/team-b/deployments?watch=true');
    assert.equal(watch.body['message'], 'deployments.apps is forbidden: User "alice" cannot watch resource "deployments" in API group "apps" in the namespace "team-b"');
    const all = await call(token, 'GET', '/apis/apps/v1/deployments');
    assert.equal(all.body['message'], 'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" at the cluster scope');
  });

  it('system:masters may do anything without a binding', async () => {
    const root = await kubeconfigFor({ user: 'root', groups: ['system:masters'] });
    await ok(root, 'get', 'secrets', '-A');
    await ok(root, 'create', 'configmap', 'from-root', '-n', 'team-b');
  });

  it('resourceNames limit get/update/delete, not list/watch/create (except a list or watch of one name)', async () => {
    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'one-configmap', namespace: 'team-b' }, rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['allowed'], verbs: ['get', 'list', 'watch', 'create', 'update'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'carol-one-configmap', namespace: 'team-b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'one-configmap' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'carol' }] },
    ]);
    server.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'allowed', namespace: 'team-b' } });
    server.store.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: 'team-b' } });
    const carol = server.token('carol');
    const base = '/api/v1/namespaces/team-b/configmaps';
    assert.equal((await call(carol, 'GET', `${base}/allowed`)).status, 200);
    const other = await call(carol, 'GET', `${base}/other`);
    assert.equal(other.body['message'], 'configmaps "other" is forbidden: User "carol" cannot get resource "configmaps" in API group "" in the namespace "team-b"');
    assert.equal((await call(carol, 'GET', base)).status, 403);
    const one = await call(carol, 'GET', `${base}?fieldSelector=metadata.name%3Dallowed`);
    assert.equal(one.status, 200);
    assert.deepEqual((one.body['items'] as Any[]).map((i) => i['metadata']['name']), ['allowed']);
    const create = await call(carol, 'POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'allowed-2' } });
    assert.equal(create.body['message'], 'configmaps is forbidden: User "carol" cannot create resource "configmaps" in API group "" in the namespace "team-b"');
  });

  it('subresources are separate resources: pods/status is not pods', async () => {
    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'status-reader' }, rules: [{ apiGroups: ['apps'], resources: ['deployments/status'], verbs: ['get'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'dave-status', namespace: 'team-b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'status-reader' }, subjects: [{ kind: 'User', name: 'dave' }] },
    ]);
    const dave = server.token('dave');
    assert.equal((await call(dave, 'GET', '/apis/apps/v1/namespaces/team-b/deployments/web/status')).status, 200);
    const main = await call(dave, 'GET', '/apis/apps/v1/namespaces/team-b/deployments/web');
    assert.equal(main.body['message'], 'deployments.apps "web" is forbidden: User "dave" cannot get resource "deployments" in API group "apps" in the namespace "team-b"');
    const scale = await call(dave, 'GET', '/apis/apps/v1/namespaces/team-b/deployments/web/scale');
    assert.equal(scale.body['message'], 'deployments.apps "web" is forbidden: User "dave" cannot get resource "deployments/scale" in API group "apps" in the namespace "team-b"');
  });

  it('ServiceAccounts are users system:serviceaccount:<ns>:<name> in groups system:serviceaccounts[:<ns>]', async () => {
    await ok(admin, 'create', 'rolebinding', 'deployer-edit', '--clusterrole=edit', '--serviceaccount=team-b:deployer', '-n', 'team-b');
    await ok(admin, 'create', 'rolebinding', 'all-sa-view', '--clusterrole=view', '--group=system:serviceaccounts:team-a', '-n', 'team-b');
    const deployer = await kubeconfigFor({ user: 'system:serviceaccount:team-b:deployer' });
    await ok(deployer, 'create', 'configmap', 'by-deployer', '-n', 'team-b');
    const reader = await kubeconfigFor({ user: 'system:serviceaccount:team-a:reader' });
    await ok(reader, 'get', 'configmaps', '-n', 'team-b');
    const write = await kubectl(reader, 'create', 'configmap', 'by-reader', '-n', 'team-b');
    assert.match(write.stderr, /User "system:serviceaccount:team-a:reader" cannot create resource "configmaps" in API group "" in the namespace "team-b"/);
  });

  it('non-resource URLs and wildcards are matched as RuleAllows does', async () => {
    await applyAsAdmin([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: 'wild' },
        rules: [
          { nonResourceURLs: ['/metrics', '/logs/*'], verbs: ['get'] },
          { apiGroups: ['*'], resources: ['*/scale'], verbs: ['*'] },
        ],
      },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'erin-wild' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'wild' }, subjects: [{ kind: 'User', name: 'erin' }] },
    ]);
    const sar = async (spec: Any): Promise<boolean> => {
      const res = await call(server.token(), 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'erin', ...spec } });
      assert.equal(res.status, 201);
      return res.body['status']['allowed'] as boolean;
    };
    assert.equal(await sar({ nonResourceAttributes: { path: '/metrics', verb: 'get' } }), true);
    assert.equal(await sar({ nonResourceAttributes: { path: '/metrics/extra', verb: 'get' } }), false);
    assert.equal(await sar({ nonResourceAttributes: { path: '/logs/kubelet', verb: 'get' } }), true);
    assert.equal(await sar({ nonResourceAttributes: { path: '/logs/kubelet', verb: 'post' } }), false);
    assert.equal(await sar({ resourceAttributes: { namespace: 'x', verb: 'update', group: 'apps', resource: 'statefulsets', subresource: 'scale' } }), true);
    assert.equal(await sar({ resourceAttributes: { namespace: 'x', verb: 'update', group: 'apps', resource: 'statefulsets' } }), false);
  });
});

describe('ClusterRole aggregation', () => {
  it('the trail-viewer ClusterRole aggregates into view (and so edit and admin): a view user reads ChangeTrails', async () => {
    await ok(admin, 'apply', '-f', join(process.cwd(), 'manifests/crds/changetrail.yaml'));
    await eventually(() => server.store.list('customresourcedefinitions').some((c) => (c as Any)['status']?.['conditions']?.some((x: Any) => x['type'] === 'Established' && x['status'] === 'True')));
    await ok(admin, 'create', 'rolebinding', 'frank-view', '--clusterrole=view', '--user=frank', '-n', 'team-a');
    const frank = await kubeconfigFor({ user: 'frank' });
    const before = await kubectl(frank, 'get', 'changetrails', '-n', 'team-a');
    assert.match(before.stderr, /changetrails\.tracegate\.io is forbidden: User "frank" cannot list resource "changetrails" in API group "tracegate\.io" in the namespace "team-a"/);

    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tracegate' } });
    await ok(admin, 'apply', '-f', join(process.cwd(), 'manifests/recorder/rbac.yaml'));
    const hasTrails = (role: string): boolean => JSON.stringify((server.store.get('clusterroles', '', role) as Any)['rules']).includes('changetrails');
    await eventually(() => hasTrails('view') && hasTrails('edit') && hasTrails('admin'));
    await ok(frank, 'get', 'changetrails', '-n', 'team-a');
    const managers = ((server.store.get('clusterroles', '', 'view') as Any)['metadata']['managedFields'] as Any[]).map((m) => m['manager']);
    assert.ok(managers.includes('clusterrole-aggregation-controller'), managers.join());
  });

  it('setting an aggregationRule needs cluster-admin rights, or escalate', async () => {
    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'cluster-role-writer' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['create'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'gina-roles' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-role-writer' }, subjects: [{ kind: 'User', name: 'gina' }] },
    ]);
    const aggregating = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'gina-aggregate' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] } };
    const refused = await call(server.token('gina'), 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', aggregating);
    assert.equal(refused.status, 403);
    assert.equal(refused.body['message'], 'clusterroles.rbac.authorization.k8s.io "gina-aggregate" is forbidden: must have cluster-admin privileges to use the aggregationRule');
    // With escalate the policy-based storage skips every comparison, the aggregationRule's included.
    await applyAsAdmin([{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'cluster-role-writer' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['create', 'escalate'] }] }]);
    const allowed = await call(server.token('gina'), 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', aggregating);
    assert.equal(allowed.status, 201, JSON.stringify(allowed.body));
  });
});

describe('escalation prevention', () => {
  const ROLES = '/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles';
  const BINDINGS = '/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings';
  const role = (name: string, rules: Any[]): Any => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules });
  const binding = (name: string, kind: string, ref: string, user: string): Any => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: ref },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  });

  before(async () => {
    await ok(admin, 'create', 'rolebinding', 'hank-admin', '--clusterrole=admin', '--user=hank', '-n', 'team-a');
  });

  it('a namespace admin may create a Role with rules they hold', async () => {
    const res = await call(server.token('hank', ['dev']), 'POST', ROLES, role('secret-reader', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }]));
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });

  it('a Role granting more than the writer holds is the apiserver 403, listing the missing rules', async () => {
    const res = await call(server.token('hank', ['dev']), 'POST', ROLES, role('too-much', [
      { apiGroups: [''], resources: ['nodes', 'secrets'], verbs: ['get', 'list'] },
      { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/approval'], verbs: ['update'] },
    ]));
    assert.equal(res.status, 403);
    assert.equal(
      res.body['message'],
      'roles.rbac.authorization.k8s.io "too-much" is forbidden: user "hank" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n' +
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}\n' +
        '{APIGroups:["certificates.k8s.io"], Resources:["certificatesigningrequests/approval"], Verbs:["update"]}',
    );
    assert.deepEqual(res.body['details'], { name: 'too-much', group: 'rbac.authorization.k8s.io', kind: 'roles' });
    assert.equal(server.store.get('roles', 'team-a', 'too-much'), undefined);
  });

  it('the escalate verb lifts the check', async () => {
    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'role-escalator' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'hank-escalate', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'role-escalator' }, subjects: [{ kind: 'User', name: 'hank' }] },
    ]);
    const res = await call(server.token('hank', ['dev']), 'POST', ROLES, role('node-reader', [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }]));
    assert.equal(res.status, 201, JSON.stringify(res.body));
  });

  it('binding a role the writer does not hold is refused; the bind verb on that role allows it; a missing role is a 404', async () => {
    const hank = server.token('hank', ['dev']);
    const refused = await call(hank, 'POST', BINDINGS, binding('ivan-admin', 'ClusterRole', 'cluster-admin', 'ivan'));
    assert.equal(refused.status, 403);
    assert.match(String(refused.body['message']), /^rolebindings\.rbac\.authorization\.k8s\.io "ivan-admin" is forbidden: user "hank" \(groups=\["dev" "system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\["\*"\], Resources:\["\*"\], Verbs:\["\*"\]\}/);
    // hank holds admin in team-a, so binding admin or edit there is fine.
    assert.equal((await call(hank, 'POST', BINDINGS, binding('ivan-edit', 'ClusterRole', 'edit', 'ivan'))).status, 201);
    const missing = await call(hank, 'POST', BINDINGS, binding('ivan-ghost', 'Role', 'ghost', 'ivan'));
    assert.equal(missing.status, 404);
    assert.equal(missing.body['message'], 'roles.rbac.authorization.k8s.io "ghost" not found');

    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'bind-cluster-admin' }, rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], resourceNames: ['cluster-admin'], verbs: ['bind'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'hank-bind', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'bind-cluster-admin' }, subjects: [{ kind: 'User', name: 'hank' }] },
    ]);
    assert.equal((await call(hank, 'POST', BINDINGS, binding('ivan-admin', 'ClusterRole', 'cluster-admin', 'ivan'))).status, 201);
  });

  it('kubectl create role by a user without the rights prints the apiserver text', async () => {
    const hank = await kubeconfigFor({ user: 'hank', groups: ['dev'] });
    const res = await kubectl(hank, 'create', 'clusterrole', 'hank-cluster', '--verb=get', '--resource=secrets');
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /clusterroles\.rbac\.authorization\.k8s\.io is forbidden: User "hank" cannot create resource "clusterroles" in API group "rbac\.authorization\.k8s\.io" at the cluster scope/);
  });
});

describe('impersonation', () => {
  it('needs the impersonate verb on users, groups and serviceaccounts', async () => {
    const jo = await kubeconfigFor({ user: 'jo' });
    const refused = await kubectl(jo, 'auth', 'whoami', '--as=alice');
    assert.notEqual(refused.code, 0);
    const direct = await fetch(`${server.url}/api/v1/namespaces/team-a/configmaps`, { headers: { authorization: `Bearer ${server.token('jo')}`, 'impersonate-user': 'alice' } });
    assert.equal(direct.status, 403);
    assert.equal(((await direct.json()) as Any)['message'], 'users "alice" is forbidden: User "jo" cannot impersonate resource "users" in API group "" at the cluster scope');

    await applyAsAdmin([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'impersonate-alice' }, rules: [{ apiGroups: [''], resources: ['users'], resourceNames: ['alice'], verbs: ['impersonate'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'jo-impersonate' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonate-alice' }, subjects: [{ kind: 'User', name: 'jo' }] },
    ]);
    const asAlice = await ok(jo, 'auth', 'whoami', '--as=alice', '-o', 'json');
    assert.deepEqual((JSON.parse(asAlice.stdout) as Any)['status']['userInfo'], { username: 'alice', groups: ['system:authenticated'] });
    // Acting as alice: alice's rights, not jo's.
    await ok(jo, 'get', 'deployments', '-n', 'team-a', '--as=alice');
    const group = await fetch(`${server.url}/api/v1/namespaces/team-a/configmaps`, { headers: { authorization: `Bearer ${server.token('jo')}`, 'impersonate-user': 'alice', 'impersonate-group': 'system:masters' } });
    assert.equal(((await group.json()) as Any)['message'], 'groups "system:masters" is forbidden: User "jo" cannot impersonate resource "groups" in API group "" at the cluster scope');

    // edit lets alice impersonate ServiceAccounts of her namespace (system:aggregate-to-edit), not others.
    const alice = await kubeconfigFor({ user: 'alice' });
    const sa = await ok(alice, 'auth', 'whoami', '--as=system:serviceaccount:team-a:builder', '-o', 'json');
    assert.deepEqual((JSON.parse(sa.stdout) as Any)['status']['userInfo']['groups'], ['system:serviceaccounts', 'system:serviceaccounts:team-a', 'system:authenticated']);
    const other = await fetch(`${server.url}/api`, { headers: { authorization: `Bearer ${server.token('alice')}`, 'impersonate-user': 'system:serviceaccount:team-b:builder' } });
    assert.equal(((await other.json()) as Any)['message'], 'serviceaccounts "builder" is forbidden: User "alice" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "team-b"');
  });
});

describe('helm under RBAC', () => {
  it('a user bound to edit in one namespace can helm install there and not elsewhere', async () => {
    const chart = join(dir, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
    await writeFile(join(chart, 'templates', 'all.yaml'), [
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  a: "1"',
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx',
    ].join('\n---\n'));
    const alice = await kubeconfigFor({ user: 'alice' });
    for (const [label, bin] of [['helm 4', tools.helm], ['helm 3', tools.helm3]] as const) {
      const release = label === 'helm 4' ? 'four' : 'three';
      const there = await runTool(bin, ['install', release, chart, '-n', 'team-a'], { env: { KUBECONFIG: alice } });
      assert.equal(there.code, 0, `${label}: ${there.stdout}${there.stderr}`);
      assert.ok(server.store.get('deployments', 'team-a', release), label);
      const elsewhere = await runTool(bin, ['install', release, chart, '-n', 'team-b'], { env: { KUBECONFIG: alice } });
      assert.notEqual(elsewhere.code, 0, label);
      assert.match(elsewhere.stderr, /is forbidden: User "alice" cannot (list|get|create|patch) resource "(secrets|configmaps|deployments)" in API group "(apps)?" in the namespace "team-b"/, label);
      assert.equal(server.store.get('deployments', 'team-b', release), undefined, label);
      const uninstall = await runTool(bin, ['uninstall', release, '-n', 'team-a'], { env: { KUBECONFIG: alice } });
      assert.equal(uninstall.code, 0, `${label}: ${uninstall.stderr}`);
    }
  });
});

describe('manifests/ RBAC on an RBAC-enforcing server', () => {
  it('the real recorder and the gate, as their ServiceAccounts, are never forbidden in the basic flow', async () => {
    const repo = fileURLToPath(new URL('../..', import.meta.url));
    const h = await createRecorderHarness({ authorization: 'rbac' });
    try {
      h.namespace('shop');
      await h.ok(h.tools.kubectl, ['apply', '-f', join(repo, 'manifests/rbac.yaml'), '-f', join(repo, 'manifests/recorder/rbac.yaml')]);
      const recorderUser = 'system:serviceaccount:tracegate:tracegate-recorder';
      const gateUser = 'system:serviceaccount:tracegate:tracegate';
      const logs: string[] = [];
      const log = createLogger({ level: 'warn', destination: { write: (line: string) => void logs.push(line) } });

      // The gate: its namespace informer (tenants) and its deletion note, on its one CoreV1Api.
      const gateKc = new KubeConfig();
      gateKc.loadFromFile(await h.kubeconfig(gateUser));
      const core = gateKc.makeApiClient(CoreV1Api);
      const namespaces = createNamespaceCache({ kubeConfig: gateKc, core, log });
      await namespaces.start();

      const rec = await h.startRecorder({ namespaces: [], identity: 'tracegate-recorder-0', user: recorderUser, leaseName: 'tracegate-recorder', historyMax: 2 });
      await h.ok(h.tools.kubectl, ['create', 'deployment', 'web', '--image=nginx:1.25', '-n', 'shop']);
      await rec.settled('shop', 'web');
      await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', 'nginx=nginx:1.26', '-n', 'shop']);
      await rec.settled('shop', 'web');

      const deleter = 'alice@example.com';
      const writer = createDeletionWriter({
        createEvent: async (namespace, body) => void (await core.createNamespacedEvent({ namespace, body: body as never })),
        keyring: TEST_KEYRING,
        prefix: PREFIX,
        instance: 'tracegate-0',
        log,
      });
      const web = h.deployment('shop', 'web');
      writer.write({ kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'shop', name: 'web', uid: web.metadata.uid, user: deleter, requestUid: 'deletion-1' });
      await writer.flush();
      await h.ok(h.tools.kubectl, ['delete', 'deployment', 'web', '-n', 'shop', '--wait=false'], { kubeconfig: await h.kubeconfig(deleter, ['system:masters']) });
      await h.waitFor('the deletion to be recorded', () => rec.processed.some((e) => e.key === 'Deployment/shop/web' && e.deletion?.status === 'done' && e.deletion.entry?.user === deleter));
      await rec.stop();
      await namespaces.stop();

      const theirs = h.server.requests.filter((r) => r.user === recorderUser || r.user === gateUser);
      assert.deepEqual(theirs.filter((r) => r.status === 401 || r.status === 403).map((r) => `${r.user} ${r.method} ${r.path} ${r.status}`), []);
      assert.ok(theirs.some((r) => r.user === gateUser && r.path === '/api/v1/namespaces'), 'the gate listed namespaces');
      assert.ok(theirs.some((r) => r.user === gateUser && r.path === '/api/v1/namespaces/shop/events' && r.status === 201), 'the gate wrote its note');
      assert.ok(theirs.some((r) => r.user === recorderUser && r.path.includes('/changetrails') && r.status === 201), 'the recorder wrote a trail');
      assert.deepEqual(logs, []);
    } finally {
      await h.close();
    }
  });
});
