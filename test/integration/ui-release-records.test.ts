/**
 * What the web view reads of Helm's release records (regressions of the security review):
 * - finding 1: a team-a member must not read team-b's Helm release history or manifest through the
 *   view (which reads Secrets cluster-wide with its own ServiceAccount) or the exports by pointing their
 *   own Deployment's `meta.helm.sh/release-namespace` at team-b — also when a trail was already written
 *   with team-b's release in `spec.release`; a revision's manifest is shown only when it holds the
 *   workload the URL names;
 * - finding 2: release Secrets a tenant writes as gzip bombs give a 413 page, not a crashed view.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { KubeConfig, KubernetesObjectApi, CoreV1Api, CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { createLogger } from '../../src/log.js';
import { packageRoot } from '../../src/paths.js';
import { toSecret } from '../../src/recorder/codec.js';
import { createSecretDriver, READER_LIMITS } from '../../src/recorder/secret-driver.js';
import { exportDigest, renderCsv, renderJson } from '../../src/report/export.js';
import { trailLabels } from '../../src/recorder/trail.js';
import { createChangeSource } from '../../src/report/query.js';
import { startUi, type RunningUi } from '../../src/ui/start.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';

process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
type Any = Record<string, any>;
let server: TestApiServer; let ui: RunningUi; let dir: string;
const PREFIX = 'tracegate.io/';
const UI_USER = 'system:serviceaccount:tracegate:tracegate-ui';

async function kcFor(user?: string, groups?: string[]) {
  const sub = await mkdtemp(join(dir, 'kc-'));
  const kc = new KubeConfig();
  kc.loadFromFile(await server.kubeconfig(sub, user ? { user, groups: groups ?? [] } : undefined));
  return kc;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poc-'));
  server = await startTestApiServer({ authorization: 'rbac', controller: false });
  const admin = KubernetesObjectApi.makeApiClient(await kcFor());
  const create = (o: Any) => admin.create(o as KubernetesObject);
  await create(parse(await readFile(join(packageRoot, 'manifests', 'crds', 'changetrail.yaml'), 'utf8')));
  for (const ns of ['team-a', 'team-b']) await create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [`${PREFIX}tenant`]: ns } } });
  await create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tracegate' } });
  // team-b's Helm release, whose chart renders a Secret.
  const manifest = '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: payments-db\nstringData:\n  password: TEAM-B-DB-PASSWORD-hunter2\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/team-b/payments:9.9-internal\n';
  await create(toSecret({ name: 'payments', namespace: 'team-b', version: 1, manifest, info: { status: 'deployed', first_deployed: new Date().toISOString(), last_deployed: new Date().toISOString(), description: 'Install complete' }, chart: { metadata: { name: 'pay', version: '1' } } } as any, { labels: {}, createdAt: new Date() }) as any);
  // team-a's own release `shop`, whose revision 1 renders only Deployment `cart`.
  const cart = '---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: cart\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/team-a/cart:1.0\n';
  await create(toSecret({ name: 'shop', namespace: 'team-a', version: 1, manifest: cart, info: { status: 'deployed', first_deployed: new Date().toISOString(), last_deployed: new Date().toISOString(), description: 'Install complete' }, chart: { metadata: { name: 'shop', version: '1' } } } as any, { labels: {}, createdAt: new Date() }) as any);
  const rbac = 'rbac.authorization.k8s.io/v1';
  // alice: an ordinary tenant member of team-a (workloads, secrets, trails in team-a only).
  await create({ apiVersion: rbac, kind: 'Role', metadata: { name: 'member', namespace: 'team-a' }, rules: [
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'create', 'update', 'patch'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create'] },
    { apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] } ] });
  await create({ apiVersion: rbac, kind: 'RoleBinding', metadata: { name: 'member', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'member' }, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-a' }] });
  // The chart's UI RBAC (tracegate-ui-records bound cluster-wide, system:auth-delegator).
  await create({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: 'tracegate-ui-records' }, rules: [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] },
    { apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] } ] });
  for (const role of ['tracegate-ui-records', 'system:auth-delegator'])
    await create({ apiVersion: rbac, kind: 'ClusterRoleBinding', metadata: { name: `ui-${role.replace(':', '-')}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'tracegate-ui', namespace: 'tracegate' }] });

  // alice, with her own credentials, creates a Deployment in team-a claiming team-b's release.
  const alice = KubernetesObjectApi.makeApiClient(await kcFor('alice', ['team-a']));
  await alice.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a', annotations: { 'meta.helm.sh/release-name': 'payments', 'meta.helm.sh/release-namespace': 'team-b' } },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } } as any);
  // alice's Deployment `front` claims team-a's release `shop`, whose manifest does not hold it.
  await alice.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'front', namespace: 'team-a', annotations: { 'meta.helm.sh/release-name': 'shop', 'meta.helm.sh/release-namespace': 'team-a' } },
    spec: { selector: { matchLabels: { app: 'front' } }, template: { metadata: { labels: { app: 'front' } }, spec: { containers: [{ name: 'front', image: 'nginx:1.27' }] } } } } as any);
  // alice's Deployment `big` with its own release, whose five records inflate to 7 MiB each.
  await alice.create({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'big', namespace: 'team-a', annotations: { 'meta.helm.sh/release-name': 'big', 'meta.helm.sh/release-namespace': 'team-a' } },
    spec: { selector: { matchLabels: { app: 'big' } }, template: { metadata: { labels: { app: 'big' } }, spec: { containers: [{ name: 'big', image: 'nginx:1.27' }] } } } } as any);
  for (let v = 1; v <= 5; v++) {
    const rel = { name: 'big', namespace: 'team-a', version: v, info: { status: 'superseded' }, chart: { metadata: { name: 'big', version: '1' } }, manifest: 'a'.repeat(7 * 1024 * 1024) };
    await alice.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `sh.helm.release.v1.big.v${v}`, namespace: 'team-a', labels: { name: 'big', owner: 'helm', version: String(v) } }, type: 'helm.sh/release.v1', data: { release: Buffer.from(gzipSync(JSON.stringify(rel)).toString('base64')).toString('base64') } } as any);
  }
  // The trail the recorder writes for alice's Deployment 'payments' in team-a (its release: what the annotations say).
  await create({ apiVersion: 'tracegate.io/v1alpha1', kind: 'ChangeTrail', metadata: { name: 'deployment.payments', namespace: 'team-a', labels: trailLabels({ namespace: 'team-a', kind: 'Deployment', name: 'payments' }, PREFIX, 'team-a') },
    spec: { workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'payments' }, release: { name: 'payments', namespace: 'team-b' },
      entries: [{ seq: 1, event: 'change', uid: 'u-a', time: new Date().toISOString(), verdict: 'verified', user: 'alice', tenant: 'team-a', images: ['app=nginx:1.27'], changes: ['created'] }] } });
  // alice cannot read team-b's Secrets herself.
  await assert.rejects(createSecretDriver({ core: (await kcFor('alice', ['team-a'])).makeApiClient(CoreV1Api) }).history('team-b', 'payments'));

  const kc = await kcFor(UI_USER, ['system:serviceaccounts', 'system:serviceaccounts:tracegate']);
  const storage = createSecretDriver({ core: kc.makeApiClient(CoreV1Api), limits: READER_LIMITS });
  ui = await startUi({ host: '127.0.0.1', port: 0, certDir: join(dir, 'certs'), tlsMinVersion: 'TLSv1.2', kubeConfig: kc, prefix: PREFIX, tenantLabel: `${PREFIX}tenant`, policies: [], policySource: 'files',
    changes: createChangeSource({ trails: kc.makeApiClient(CustomObjectsApi), prefix: PREFIX, releases: (ns, name) => storage.history(ns, name).catch(() => undefined) }),
    exporter: { csv: renderCsv, json: renderJson, digest: exportDigest }, log: createLogger({ level: 'silent' }), env: {}, cwd: dir });
});
after(async () => { await ui?.close(); await server?.close(); if (dir) await rm(dir, { recursive: true, force: true }); });

it('never shows another namespace\'s release: not on the trail page, not its manifest under this namespace\'s URL', async () => {
  const h = { authorization: `Bearer ${server.token('alice', ['team-a'])}` };
  assert.equal((await fetch(`${ui.url}/workloads/team-b/deployment/payments/revisions/1/manifest`, { headers: h })).status, 403);
  const trail = await fetch(`${ui.url}/workloads/team-a/deployment/web`, { headers: h });
  const page = await trail.text();
  assert.equal(trail.status, 200);
  // The page may say what the annotation claims (alice wrote it); never what team-b's records hold.
  assert.doesNotMatch(page, /Helm release <code>team-b|9\.9-internal|TEAM-B|revisions\/1/);
  for (const what of ['manifest', 'diff']) {
    const r = await fetch(`${ui.url}/workloads/team-a/deployment/web/revisions/1/${what}`, { headers: h });
    const body = await r.text();
    assert.equal(r.status, 404, what);
    assert.doesNotMatch(body, /TEAM-B-DB-PASSWORD|payments-db/);
  }
  // A trail written earlier with team-b's release in spec.release (the workload `payments` is not live).
  const old = await fetch(`${ui.url}/workloads/team-a/deployment/payments`, { headers: h });
  const oldPage = await old.text();
  assert.equal(old.status, 200);
  assert.doesNotMatch(oldPage, /Helm release <code>team-b|9\.9-internal|revisions\/1/);
  assert.equal((await fetch(`${ui.url}/workloads/team-a/deployment/payments/revisions/1/manifest`, { headers: h })).status, 404);
});

it('shows a same-namespace revision only when its manifest holds the workload the URL names', async () => {
  const h = { authorization: `Bearer ${server.token('alice', ['team-a'])}` };
  const r = await fetch(`${ui.url}/workloads/team-a/deployment/front/revisions/1/manifest`, { headers: h });
  assert.equal(r.status, 404);
  assert.doesNotMatch(await r.text(), /cart:1\.0/);
});

it('never joins another namespace\'s Helm records into this tenant\'s rows or exports', async () => {
  const h = { authorization: `Bearer ${server.token('alice', ['team-a'])}` };
  for (const format of ['csv', 'json']) {
    const r = await fetch(`${ui.url}/tenants/team-a/export.${format}`, { headers: h });
    const body = await r.text();
    assert.equal(r.status, 200);
    assert.doesNotMatch(body, /team-b|9\.9-internal/, format);
    assert.match(body, /nginx:1\.27/, 'the trail\'s own row is there');
  }
});

it('answers 413 for release records a tenant made gzip bombs, and keeps serving', async () => {
  const h = { authorization: `Bearer ${server.token('alice', ['team-a'])}` };
  const r = await fetch(`${ui.url}/workloads/team-a/deployment/big`, { headers: h });
  assert.equal(r.status, 413);
  assert.match(await r.text(), /release records of team-a\/big inflate to more than 33554432 bytes/);
  assert.equal((await fetch(`${ui.url}/workloads/team-a/deployment/web`, { headers: h })).status, 200);
});
