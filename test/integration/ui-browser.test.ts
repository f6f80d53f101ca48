/**
 * The reviewer's web view in real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against the test API server with RBAC: the UI runs with the recorder's
 * ServiceAccount (its own reads, system:auth-delegator for the reviews); alice may read team-a only;
 * carol's group is bound cluster-wide. Screenshots go to test-artifacts/ui/ (CI keeps them); with
 * UPDATE_DOCS_SCREENSHOT=1 the tenant page's also replaces docs/ui-tenant.png, the README's (a test
 * run never changes a committed file otherwise).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { parse } from 'yaml';
import { createLogger } from '../../src/log.js';
import { packageRoot } from '../../src/paths.js';
import { toSecret } from '../../src/recorder/codec.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import { trailLabels, type TrailEntry } from '../../src/recorder/trail.js';
import { createSecretDriver } from '../../src/recorder/secret-driver.js';
import { exportDigest, renderCsv, renderJson } from '../../src/report/export.js';
import { createChangeSource } from '../../src/report/query.js';
import { startUi, type RunningUi } from '../../src/ui/start.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';

const CHROMIUM = '/usr/bin/chromium';
/** The machine has no internet: without these Chromium hangs on network lookups and updates. */
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = join(packageRoot, 'test-artifacts', 'ui');
const PREFIX = 'tracegate.io/';
const UI_USER = 'system:serviceaccount:tracegate:tracegate-recorder';
/** The README's screenshot: small enough to commit. */
const SHOT_VIEWPORT = { width: 1200, height: 800 };

type Any = Record<string, any>;

let server: TestApiServer;
let ui: RunningUi;
let context: BrowserContext;
let dir: string;

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000).toISOString();

function trail(namespace: string, name: string, tenant: string, entries: Partial<TrailEntry>[]): Any {
  const ref = { namespace, kind: 'Deployment', name };
  return {
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'ChangeTrail',
    metadata: { name: `deployment.${name}`, namespace, labels: trailLabels(ref, PREFIX, tenant) },
    spec: {
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      release: { name, namespace },
      entries: entries.map((e, i) => ({ seq: i + 1, event: 'change', uid: `${namespace}-${name}-uid`, revisionBy: 'tracegate', tenant, ...e })),
    },
  };
}

function manifest(name: string, image: string): string {
  return `---\n# Source: story/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: ${name}\n          image: ${image}\n`;
}

function release(namespace: string, name: string, version: number, image: string, status: string, at: string): Any {
  const rel: HelmRelease = { name, namespace, version, manifest: manifest(name, image), info: { status, first_deployed: hoursAgo(50), last_deployed: at, description: version === 1 ? 'Install complete' : 'Upgrade complete' } as HelmRelease['info'], chart: { metadata: { name: 'story', version: '0.1.0' } } as HelmRelease['chart'] };
  return toSecret(rel, { labels: {}, createdAt: new Date(at) }) as unknown as Any;
}

async function seed(admin: KubernetesObjectApi): Promise<void> {
  const create = (o: Any) => admin.create(o as KubernetesObject);
  const crd = parse(await readFile(join(packageRoot, 'manifests', 'crds', 'changetrail.yaml'), 'utf8')) as Any;
  await create(crd);
  for (const [ns, tenant] of [['team-a', 'team-a'], ['team-b', 'team-b'], ['tracegate', undefined]] as const) {
    await create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, ...(tenant ? { labels: { [`${PREFIX}tenant`]: tenant } } : {}) } });
  }
  // The CRD is served once established; the store establishes it at once, but a retry costs nothing.
  for (let i = 0; ; i++) {
    try {
      await create(trail('team-a', 'web', 'team-a', [
        { time: hoursAgo(48), revision: 1, verdict: 'verified', user: 'system:serviceaccount:ci:deployer', tool: 'helm', commit: '3f2a9c1', approver: 'bob', images: ['web=registry.example.com/team-a/web:1.4.0'], changes: ['created'] },
        { time: hoursAgo(24), revision: 2, verdict: 'break-glass', user: 'oncall', tool: 'kubectl-set', reason: 'INC-4711: registry outage, hotfix', images: ['web=registry.example.com/team-a/web:1.5.0-hotfix'], changes: ['image web: registry.example.com/team-a/web:1.4.0 → registry.example.com/team-a/web:1.5.0-hotfix'] },
        { time: hoursAgo(2), revision: 3, verdict: 'unverified', user: 'alice', tool: 'kubectl-edit', images: ['web=registry.example.com/team-a/web:1.5.0'], changes: ['image web: registry.example.com/team-a/web:1.5.0-hotfix → registry.example.com/team-a/web:1.5.0'] },
      ]));
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await create(trail('team-b', 'api', 'team-b', [{ time: hoursAgo(5), revision: 1, verdict: 'verified', user: 'bob', tool: 'helm', commit: '9d4e5f6', approver: 'carol <img src=x onerror=alert(1)>', images: ['api=registry.example.com/team-b/api:2.0.0'], changes: ['created'] }]));
  await create(release('team-a', 'web', 1, 'registry.example.com/team-a/web:1.4.0', 'superseded', hoursAgo(48)));
  await create(release('team-a', 'web', 2, 'registry.example.com/team-a/web:1.5.0-hotfix', 'superseded', hoursAgo(24)));
  await create(release('team-a', 'web', 3, 'registry.example.com/team-a/web:1.5.0', 'deployed', hoursAgo(2)));
  await create(release('team-b', 'api', 1, 'registry.example.com/team-b/api:2.0.0', 'deployed', hoursAgo(5)));
  const rbac = 'rbac.authorization.k8s.io/v1';
  // alice (group team-a) reviews team-a: trails and the release Secrets (what `helm history` needs).
  await create({ apiVersion: rbac, kind: 'Role', metadata: { name: 'reviewer', namespace: 'team-a' }, rules: [{ apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] }, { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] });
  await create({ apiVersion: rbac, kind: 'RoleBinding', metadata: { name: 'reviewers', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reviewer' }, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'team-a' }] });
  // The auditors: the same, cluster-wide.
  await create({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: 'tracegate-auditor' }, rules: [{ apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] }, { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }] });
  await create({ apiVersion: rbac, kind: 'ClusterRoleBinding', metadata: { name: 'tracegate-auditors' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tracegate-auditor' }, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'auditors' }] });
  // The UI's own identity (the recorder's ServiceAccount): what it reads, and the two reviews.
  await create({ apiVersion: rbac, kind: 'ClusterRole', metadata: { name: 'tracegate-ui' }, rules: [
    { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] },
    { apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
    { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['list'] },
  ] });
  for (const role of ['tracegate-ui', 'system:auth-delegator']) {
    await create({ apiVersion: rbac, kind: 'ClusterRoleBinding', metadata: { name: `ui-${role.replace(':', '-')}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'tracegate-recorder', namespace: 'tracegate' }] });
  }
}

async function kubeConfigFor(user?: string, groups?: string[]): Promise<KubeConfig> {
  const sub = await mkdtemp(join(dir, 'kc-'));
  const kc = new KubeConfig();
  kc.loadFromFile(await server.kubeconfig(sub, user ? { user, groups: groups ?? [] } : undefined));
  return kc;
}

before(async () => {
  // Never skipped: CI installs Chromium, and a missing browser must be a visible failure.
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install it with \`apt-get install chromium\` (CI's .ci/run does)`);
  dir = await mkdtemp(join(tmpdir(), 'tracegate-ui-browser-'));
  await mkdir(ARTIFACTS, { recursive: true });
  server = await startTestApiServer({ authorization: 'rbac', controller: false });
  await seed(KubernetesObjectApi.makeApiClient(await kubeConfigFor()));
  const kc = await kubeConfigFor(UI_USER, ['system:serviceaccounts', 'system:serviceaccounts:tracegate']);
  const storage = createSecretDriver({ core: kc.makeApiClient(CoreV1Api) });
  ui = await startUi({
    host: '127.0.0.1',
    port: 0,
    certDir: join(dir, 'certs'),
    tlsMinVersion: 'TLSv1.2',
    kubeConfig: kc,
    prefix: PREFIX,
    tenantLabel: `${PREFIX}tenant`,
    policies: [],
    policySource: 'files',
    changes: createChangeSource({ trails: kc.makeApiClient(CustomObjectsApi), prefix: PREFIX, releases: (ns, name) => storage.history(ns, name).catch(() => undefined) }),
    exporter: { csv: renderCsv, json: renderJson, digest: exportDigest },
    log: createLogger({ level: 'silent' }),
    env: {},
    cwd: dir,
  });
  context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true,
    viewport: SHOT_VIEWPORT,
  });
});

after(async () => {
  await context?.close();
  await ui?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${ui.url}/`);
  assert.match(page.url(), /\/login$/);
  await page.getByLabel('Bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/\/login$/);
}

describe('the web view in Chromium', () => {
  it('shows alice team-a with the break-glass change highlighted, and 403 for team-b', async () => {
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => m.type() === 'error' && blocked.push(m.text()));
    await signIn(page, server.token('alice', ['team-a']));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Tenants');
    assert.equal(await page.getByRole('link', { name: 'team-a' }).count(), 1);
    assert.equal(await page.getByRole('link', { name: 'team-b' }).count(), 0);

    await page.getByRole('link', { name: 'team-a' }).click();
    await page.waitForURL(/\/tenants\/team-a$/);
    const breakGlass = page.locator('tr.row-break-glass');
    assert.equal(await breakGlass.count(), 1);
    const text = (await breakGlass.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /BREAK-GLASS/);
    assert.match(text, /oncall/);
    assert.match(text, /INC-4711: registry outage, hotfix/);
    assert.equal(await page.locator('tr.row-unverified').count(), 1);
    // Highlighted by the stylesheet, not only by the text marker.
    const bg = await breakGlass.locator('td').first().evaluate((td) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(td).backgroundColor);
    assert.notEqual(bg, 'rgba(0, 0, 0, 0)');
    assert.match(await page.locator('.exports').innerText(), /sha256:[0-9a-f]{64}/);
    assert.deepEqual(blocked, [], 'no resource was blocked by the Content-Security-Policy');
    await page.screenshot({ path: join(ARTIFACTS, 'alice-team-a.png'), fullPage: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-tenant.png') });
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await page.screenshot({ path: join(packageRoot, 'docs', 'ui-tenant.png') });

    // The filter form works without script: only the break-glass change.
    await page.getByLabel('Verdict').selectOption('break-glass');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/verdict=break-glass/);
    assert.equal(await page.locator('table.changes tbody tr').count(), 1);

    const other = await page.goto(`${ui.url}/tenants/team-b`);
    assert.equal(other?.status(), 403);
    assert.match(await page.locator('main').innerText(), /You may not see tenant team-b/);
    await page.screenshot({ path: join(ARTIFACTS, 'alice-team-b-403.png') });
    await page.close();
  });

  it('opens the trail of a workload, a revision manifest and its diff', async () => {
    const page = await context.newPage();
    await page.goto(`${ui.url}/workloads/team-a/deployment/web`);
    assert.equal(await page.locator('table.history tbody tr').count(), 3);
    assert.equal(await page.locator('table.history tr.row-break-glass').count(), 1);
    await page.locator('a[href="/workloads/team-a/deployment/web/revisions/2/diff"]').click();
    const diff = await page.locator('pre.diff').innerText();
    assert.match(diff, /^- +image: registry.example.com\/team-a\/web:1.4.0$/m);
    assert.match(diff, /^\+ +image: registry.example.com\/team-a\/web:1.5.0-hotfix$/m);
    await page.screenshot({ path: join(ARTIFACTS, 'alice-diff.png'), fullPage: true });
    await page.getByRole('link', { name: 'manifest' }).click();
    assert.match(await page.locator('pre.manifest').innerText(), /image: registry.example.com\/team-a\/web:1.5.0-hotfix/);
    assert.equal((await page.goto(`${ui.url}/workloads/team-b/deployment/api`))?.status(), 403);
    await signOut(page);
    // Logged out: the pages send the browser back to the login form.
    await page.goto(`${ui.url}/tenants/team-a`);
    assert.match(page.url(), /\/login$/);
    await page.close();
  });

  it('lets the auditor see both tenants', async () => {
    const page = await context.newPage();
    await signIn(page, server.token('carol', ['auditors']));
    assert.equal(await page.getByRole('link', { name: 'team-a' }).count(), 1);
    assert.equal(await page.getByRole('link', { name: 'team-b' }).count(), 1);
    const b = await page.goto(`${ui.url}/tenants/team-b`);
    assert.equal(b?.status(), 200);
    const changes = page.locator('table.changes');
    assert.match(await changes.innerText(), /registry.example.com\/team-b\/api:2.0.0/);
    // A tenant-written value with markup is shown as text; no element came of it.
    assert.match(await changes.innerText(), /carol <img src=x onerror=alert\(1\)>/);
    assert.equal(await changes.locator('img').count(), 0);
    await page.screenshot({ path: join(ARTIFACTS, 'auditor-team-b.png'), fullPage: true });
    await page.goto(`${ui.url}/policies`);
    assert.match(await page.locator('main').innerText(), /allowed/);
    await signOut(page);
    await page.close();
  });

  it('answers an invalid token with the login page and an error', async () => {
    const page = await context.newPage();
    await signIn(page, 'not-a-valid-token');
    assert.match(page.url(), /\/login$/);
    assert.match(await page.getByRole('alert').innerText(), /did not accept this token/);
    assert.equal(await page.getByLabel('Bearer token').inputValue(), '');
    await page.screenshot({ path: join(ARTIFACTS, 'invalid-token.png') });
    await page.close();
  });
});
