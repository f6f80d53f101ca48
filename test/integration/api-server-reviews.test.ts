/**
 * The review APIs of the test API server (authentication.k8s.io/v1 SelfSubjectReview and TokenReview;
 * authorization.k8s.io/v1 SubjectAccessReview, SelfSubjectAccessReview, LocalSubjectAccessReview,
 * SelfSubjectRulesReview): the real kubectl's `auth whoami` and `auth can-i` (issue 13: break-glass asks
 * the apiserver who the user is), and the TokenReview + SubjectAccessReview pair a web view authenticates
 * and authorizes with (issue 16), including who may create them under RBAC (`system:auth-delegator`).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let tools: RealTools;
let dir: string;

before(async () => {
  tools = await ensureRealTools();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-reviews-test-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let kubeconfigs = 0;
async function kubeconfigFor(server: TestApiServer, opts?: { user?: string; groups?: string[] }): Promise<string> {
  const sub = join(dir, String(kubeconfigs++));
  await mkdir(sub);
  return server.kubeconfig(sub, opts);
}

async function kubectl(kubeconfig: string, ...args: string[]): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig } });
}

async function post(server: TestApiServer, token: string, path: string, body: unknown): Promise<{ status: number; body: Any }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Any };
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const SARS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

describe('review APIs without RBAC (the default server)', () => {
  let server: TestApiServer;
  before(async () => {
    server = await startTestApiServer({ controller: false });
  });
  after(async () => server.close());

  it('kubectl auth whoami shows the caller, and a ServiceAccount its groups', async () => {
    const admin = await kubectl(await kubeconfigFor(server), 'auth', 'whoami');
    assert.equal(admin.code, 0, admin.stderr);
    assert.match(admin.stdout, /Username\s+admin\n/);
    assert.match(admin.stdout, /Groups\s+\[system:masters system:authenticated\]/);

    const sa = await kubectl(await kubeconfigFor(server, { user: 'system:serviceaccount:tracegate:recorder' }), 'auth', 'whoami', '-o', 'json');
    assert.equal(sa.code, 0, sa.stderr);
    const review = JSON.parse(sa.stdout) as Any;
    assert.equal(review['kind'], 'SelfSubjectReview');
    assert.equal(review['apiVersion'], 'authentication.k8s.io/v1');
    assert.deepEqual(review['status'], {
      userInfo: { username: 'system:serviceaccount:tracegate:recorder', groups: ['system:serviceaccounts', 'system:serviceaccounts:tracegate', 'system:authenticated'] },
    });
  });

  it('kubectl auth whoami --as shows the impersonated user (system:masters may impersonate)', async () => {
    const res = await kubectl(await kubeconfigFor(server), 'auth', 'whoami', '--as=bob', '--as-group=ops', '-o', 'json');
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual((JSON.parse(res.stdout) as Any)['status'], { userInfo: { username: 'bob', groups: ['ops', 'system:authenticated'] } });
    const refused = await kubectl(await kubeconfigFor(server, { user: 'alice' }), 'auth', 'whoami', '--as=bob');
    assert.notEqual(refused.code, 0);
  });

  it('discovery lists both groups, create only', async () => {
    const res = await kubectl(await kubeconfigFor(server), 'api-resources', '--api-group=authentication.k8s.io', '-o', 'wide', '--no-headers');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^selfsubjectreviews\s+authentication\.k8s\.io\/v1\s+false\s+SelfSubjectReview\s+create\s*$/m);
    assert.match(res.stdout, /^tokenreviews\s+authentication\.k8s\.io\/v1\s+false\s+TokenReview\s+create\s*$/m);
    const authz = await kubectl(await kubeconfigFor(server), 'api-resources', '--api-group=authorization.k8s.io', '--no-headers');
    assert.equal(authz.code, 0, authz.stderr);
    for (const r of ['localsubjectaccessreviews', 'selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'subjectaccessreviews']) assert.match(authz.stdout, new RegExp(`^${r}\\s`, 'm'));
    assert.match(authz.stdout, /^localsubjectaccessreviews\s+authorization\.k8s\.io\/v1\s+true\s/m);
  });

  it('a TokenReview authenticates a token for its audiences; an unknown token is not authenticated, and not an error', async () => {
    const admin = server.token();
    const web = server.token('tenant-a-user', ['tenant-a']);
    const ok = await post(server, admin, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: web } });
    assert.equal(ok.status, 201);
    assert.equal(ok.body['kind'], 'TokenReview');
    assert.deepEqual(ok.body['status'], {
      authenticated: true,
      user: { username: 'tenant-a-user', groups: ['tenant-a', 'system:authenticated'] },
      audiences: ['https://kubernetes.default.svc.cluster.local'],
    });

    const unknown = await post(server, admin, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'not-a-token' } });
    assert.equal(unknown.status, 201);
    assert.notEqual(unknown.body['status']['authenticated'], true);
    assert.deepEqual(unknown.body['status']['user'], {});

    // A token bound to the web view's audience: valid for a review asking for it, not for another, not for the API.
    const bound = server.token('tenant-b-user', ['tenant-b'], ['tracegate-web']);
    const forWeb = await post(server, admin, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: bound, audiences: ['tracegate-web'] } });
    assert.equal(forWeb.body['status']['authenticated'], true);
    assert.deepEqual(forWeb.body['status']['audiences'], ['tracegate-web']);
    const forOther = await post(server, admin, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: bound, audiences: ['other'] } });
    assert.notEqual(forOther.body['status']['authenticated'], true);
    const asApi = await fetch(`${server.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${bound}` } });
    assert.equal(asApi.status, 401);

    const empty = await post(server, admin, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {} });
    assert.equal(empty.status, 400);
    assert.equal(empty.body['message'], 'token is required for TokenReview in authentication');
  });

  it('reviews are never stored: GET is not allowed', async () => {
    const res = await fetch(`${server.url}${TOKEN_REVIEWS}`, { headers: { authorization: `Bearer ${server.token()}` } });
    assert.equal(res.status, 405);
  });

  it('kubectl auth can-i answers yes to everything (AlwaysAllow)', async () => {
    const res = await kubectl(await kubeconfigFor(server, { user: 'alice' }), 'auth', 'can-i', 'delete', 'secrets', '-n', 'kube-system');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), 'yes');
  });
});

describe('review APIs with RBAC', () => {
  let server: TestApiServer;
  let admin: string;
  before(async () => {
    server = await startTestApiServer({ controller: false, authorization: 'rbac' });
    admin = await kubeconfigFor(server);
    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-b' } });
    const bind = await kubectl(admin, 'create', 'rolebinding', 'alice-edit', '--clusterrole=edit', '--user=alice', '-n', 'team-a');
    assert.equal(bind.code, 0, bind.stderr);
  });
  after(async () => server.close());

  it('every authenticated user may ask who they are (system:basic-user)', async () => {
    const res = await kubectl(await kubeconfigFor(server, { user: 'nobody' }), 'auth', 'whoami', '-o', 'json');
    assert.equal(res.code, 0, res.stderr);
    assert.equal((JSON.parse(res.stdout) as Any)['status']['userInfo']['username'], 'nobody');
  });

  it('kubectl auth can-i follows the RBAC bindings, with its exit code', async () => {
    const alice = await kubeconfigFor(server, { user: 'alice' });
    const yes = await kubectl(alice, 'auth', 'can-i', 'create', 'deployments.apps', '-n', 'team-a');
    assert.equal(yes.code, 0, yes.stderr);
    assert.equal(yes.stdout.trim(), 'yes');
    const no = await kubectl(alice, 'auth', 'can-i', 'create', 'deployments.apps', '-n', 'team-b');
    assert.equal(no.code, 1);
    assert.equal(no.stdout.trim(), 'no');
    // edit cannot write roles (that is admin's): no escalation through the namespace.
    const roles = await kubectl(alice, 'auth', 'can-i', 'create', 'roles.rbac.authorization.k8s.io', '-n', 'team-a');
    assert.equal(roles.stdout.trim(), 'no');
    const asAlice = await kubectl(admin, 'auth', 'can-i', 'get', 'secrets', '-n', 'team-a', '--as=alice');
    assert.equal(asAlice.stdout.trim(), 'yes');
    const list = await kubectl(alice, 'auth', 'can-i', '--list', '-n', 'team-a');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^deployments\.apps\s+\[\]\s+\[\]\s+\[.*create.*\]/m);
    assert.match(list.stdout, /selfsubjectreviews\.authentication\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]/);
  });

  it('TokenReview and SubjectAccessReview need system:auth-delegator; with it a web view authenticates and authorizes its users', async () => {
    const web = server.token('system:serviceaccount:tracegate:web');
    const tenant = server.token('tenant-a-user', ['tenant-a']);
    const refused = await post(server, web, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tenant } });
    assert.equal(refused.status, 403);
    assert.equal(
      refused.body['message'],
      'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:tracegate:web" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope',
    );
    const sarRefused = await post(server, web, SARS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'x', resourceAttributes: { verb: 'get', resource: 'pods' } } });
    assert.equal(sarRefused.status, 403);

    const grant = await kubectl(admin, 'create', 'clusterrolebinding', 'tracegate-web-auth', '--clusterrole=system:auth-delegator', '--serviceaccount=tracegate:web');
    assert.equal(grant.code, 0, grant.stderr);
    const tenantRole = await kubectl(admin, 'create', 'rolebinding', 'tenant-a-view', '--clusterrole=view', '--group=tenant-a', '-n', 'team-a');
    assert.equal(tenantRole.code, 0, tenantRole.stderr);

    const who = await post(server, web, TOKEN_REVIEWS, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tenant } });
    assert.equal(who.status, 201);
    const user = who.body['status']['user'] as Any;
    assert.deepEqual(user, { username: 'tenant-a-user', groups: ['tenant-a', 'system:authenticated'] });

    const ask = async (namespace: string): Promise<Any> => {
      const res = await post(server, web, SARS, {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user['username'], groups: user['groups'], resourceAttributes: { namespace, verb: 'list', group: 'apps', resource: 'deployments' } },
      });
      assert.equal(res.status, 201);
      return res.body['status'] as Any;
    };
    assert.deepEqual(await ask('team-a'), { allowed: true, reason: 'RBAC: allowed by RoleBinding "tenant-a-view/team-a" of ClusterRole "view" to Group "tenant-a"' });
    assert.deepEqual(await ask('team-b'), { allowed: false });
  });

  it('SubjectAccessReviews are validated as the apiserver does', async () => {
    const token = server.token();
    const neither = await post(server, token, SARS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'alice' } });
    assert.equal(neither.status, 422);
    assert.match(String(neither.body['message']), /exactly one of nonResourceAttributes or resourceAttributes must be specified/);
    const nobody = await post(server, token, SARS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { resourceAttributes: { verb: 'get', resource: 'pods' } } });
    assert.equal(nobody.status, 422);
    assert.match(String(nobody.body['message']), /at least one of user or group must be specified/);

    const nonResource = await post(server, token, SARS, { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: 'someone', groups: ['system:authenticated'], nonResourceAttributes: { verb: 'get', path: '/apis/apps' } } });
    assert.equal(nonResource.status, 201);
    assert.deepEqual(nonResource.body['status'], { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' });
  });

  it('a LocalSubjectAccessReview is namespaced, and its resourceAttributes must name the same namespace', async () => {
    const token = server.token();
    const path = '/apis/authorization.k8s.io/v1/namespaces/team-a/localsubjectaccessreviews';
    const ok = await post(server, token, path, { apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview', spec: { user: 'alice', resourceAttributes: { namespace: 'team-a', verb: 'update', group: 'apps', resource: 'deployments' } } });
    assert.equal(ok.status, 201);
    assert.equal(ok.body['metadata']['namespace'], 'team-a');
    assert.equal(ok.body['status']['allowed'], true);
    const other = await post(server, token, path, { apiVersion: 'authorization.k8s.io/v1', kind: 'LocalSubjectAccessReview', spec: { user: 'alice', resourceAttributes: { namespace: 'team-b', verb: 'update', group: 'apps', resource: 'deployments' } } });
    assert.equal(other.status, 422);
    assert.match(String(other.body['message']), /spec\.resourceAttributes\.namespace: Invalid value: "team-b": must match metadata\.namespace/);
  });
});
