/**
 * The chart's RBAC against the components themselves. The ServiceAccounts, roles and bindings `helm
 * template` renders (ui.enabled, the background audit on) are applied to the test API server in RBAC mode
 * (`--authorization-mode=RBAC`: a request no rule allows is a 403, as a real kube-apiserver answers it),
 * then the recorder with its audit and the web view run as those ServiceAccounts: the recorder records a
 * Deployment and writes the PolicyReports, the view serves an auditor every page kind. Every request each
 * makes must be allowed — a grant the chart lacks fails here, not in a cluster — and each must use what it
 * is granted, so the roles stay no wider than the code.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { policyLoader } from '../../src/cli/policies-option.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { bundledPoliciesDir } from '../../src/paths.js';
import { createGatePolicies } from '../../src/policy/gate-policies.js';
import { DEFAULT_LEADER_TIMING } from '../../src/recorder/leader.js';
import { startRecorder, type RunningRecorder } from '../../src/recorder/run.js';
import { createSecretDriver } from '../../src/recorder/secret-driver.js';
import { exportDigest, renderCsv, renderJson } from '../../src/report/export.js';
import { createChangeSource } from '../../src/report/query.js';
import { startUi, type RunningUi } from '../../src/ui/start.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chartDir = join(root, 'charts', 'tracegate');
const NS = 'tracegate';
const PREFIX = 'tracegate.io/';
const RECORDER = `system:serviceaccount:${NS}:tracegate-recorder`;
const UI = `system:serviceaccount:${NS}:tracegate-ui`;
/** The groups the apiserver gives every ServiceAccount token. */
const SA_GROUPS = ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'];
/** How long the tests wait for the recorder's leader to write (it writes within a second or two here). */
const WAIT_MS = 20_000;
const POLL_MS = 50;
type Obj = Record<string, any>;

let tools: RealTools;
let server: TestApiServer;
let dir: string;
let adminKubeconfig: string;
let recorder: RunningRecorder | undefined;
let ui: RunningUi | undefined;
/** The chart rendered for this test. */
let docs: Obj[];

async function kubectl(...args: string[]): Promise<ToolResult> {
  const res = await runTool(tools.kubectl, args, { env: { KUBECONFIG: adminKubeconfig } });
  assert.equal(res.code, 0, `kubectl ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res;
}

/** A kubeconfig file for `user` (a ServiceAccount: its groups) and the KubeConfig loaded from it. */
async function kubeConfigFor(user: string): Promise<{ file: string; kc: KubeConfig }> {
  const file = await server.kubeconfig(await mkdtemp(join(dir, 'kc-')), { user, groups: SA_GROUPS });
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return { file, kc };
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Discovery (`/api`, `/apis/<group>/<version>`): non-resource URLs every authenticated user may read (system:discovery). */
const DISCOVERY = /^(\/api(\/v1)?|\/apis(\/[^/]+){0,2})$/;

/** RBAC's verb and attributes of one logged resource request. */
function attributes(r: { method: string; path: string; query: Record<string, string> }): string {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(r.path);
  assert.ok(m, `a resource request: ${r.method} ${r.path}`);
  const [, group = '', , resource = '', name, sub] = m;
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  const verb = r.method === 'GET' ? (name ? 'get' : r.query['watch'] === 'true' ? 'watch' : 'list') : verbs[r.method]!;
  return `${verb} ${group}/${resource}${sub ? `/${sub}` : ''}`;
}

/** `verb group/resource` of every grant the chart gives the ServiceAccount `sa`. */
function granted(sa: string): Set<string> {
  const out = new Set<string>();
  for (const b of docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding')) {
    if (!(b.subjects as Obj[]).some((s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === NS)) continue;
    const role = docs.find((d) => d.kind === b.roleRef.kind && d.metadata.name === b.roleRef.name)!;
    for (const r of role.rules as Obj[]) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${v} ${g}/${res}`);
  }
  return out;
}

/** GET over HTTPS with a bearer token (the view's certificate is its own development CA's). */
function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => void (body += c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/**
 * Starts the RBAC-mode test API server (into `server`, `adminKubeconfig`, `docs`), applies the chart's
 * identities, rights and CRDs rendered with `sets`, and seeds tenant team-a with a Deployment.
 */
async function cluster(sets: string[]): Promise<void> {
  server = await startTestApiServer({ authorization: 'rbac', controller: false });
  adminKubeconfig = await server.kubeconfig(await mkdtemp(join(dir, 'admin-')));
  const rendered = await runTool(tools.helm, ['template', 'tracegate', chartDir, '--namespace', NS, ...sets.flatMap((x) => ['--set', x])]);
  assert.equal(rendered.code, 0, rendered.stderr);
  docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
  // The identities, their rights and the CRDs; not the workloads (no kubelet runs them here).
  const wanted = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'CustomResourceDefinition', 'TracegatePolicy']);
  await kubectl('create', 'namespace', NS);
  await kubectl('create', 'namespace', 'team-a');
  await kubectl('apply', '--server-side', '-f', join(chartDir, 'crds'));
  await writeFile(join(dir, 'rbac.yaml'), docs.filter((d) => wanted.has(d.kind)).map((d) => JSON.stringify(d)).join('\n---\n'));
  await kubectl('apply', '-f', join(dir, 'rbac.yaml'));
  await kubectl('wait', '--for', 'condition=established', 'crd/policyreports.wgpolicyk8s.io', 'crd/clusterpolicyreports.wgpolicyk8s.io', 'crd/changetrails.tracegate.io');
  // A tenant namespace with a workload that breaks a bundled policy (no limits), and an auditor group.
  await kubectl('label', 'namespace', 'team-a', `${PREFIX}tenant=team-a`);
  await kubectl('create', 'deployment', 'web', '--image=registry.example.com/team-a/web:1.4.2', '-n', 'team-a');
  await kubectl('create', 'clusterrole', 'auditor', '--verb=get,list', '--resource=changetrails.tracegate.io,secrets');
  await kubectl('create', 'clusterrolebinding', 'auditors', '--clusterrole=auditor', '--group=auditors');
}

/** Starts the recorder with its audit as the chart's recorder ServiceAccount, watching `namespaces` (empty: all). */
async function startAuditingRecorder(namespaces: string[]): Promise<RunningRecorder> {
  const policies = await (await policyLoader(PREFIX)).load([bundledPoliciesDir]);
  return startRecorder({
    kubeConfig: (await kubeConfigFor(RECORDER)).kc,
    log: createLogger({ level: 'silent' }),
    config: {
      namespaces,
      prefix: PREFIX,
      historyMax: 10,
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      restoreRollbacks: true,
      audit: { policies, intervalMs: 3_600_000, flushDelayMs: 10, tenancy: { tenantLabel: `${PREFIX}tenant` } },
      lease: { namespace: NS, name: 'tracegate-recorder', identity: 'tracegate-recorder-0', ...DEFAULT_LEADER_TIMING },
    },
  });
}

/** Waits for the audit's two reports and the recording of team-a/web, then checks the recorder's requests against its grants. */
async function recorderAllowed(): Promise<Set<string>> {
  await waitFor("team-a's PolicyReport", () => server.store.get('policyreports.wgpolicyk8s.io', 'team-a', 'tracegate-audit') !== undefined);
  await waitFor('the ClusterPolicyReport', () => server.store.get('clusterpolicyreports.wgpolicyk8s.io', '', 'tracegate-audit') !== undefined);
  await waitFor("web's trail", () => server.store.list('changetrails.tracegate.io', 'team-a').length > 0);
  await waitFor("web's Helm record", () => server.store.list('secrets', 'team-a').some((x) => String((x as Obj).metadata.name).startsWith('sh.helm.release.v1.')));
  const report = server.store.get('policyreports.wgpolicyk8s.io', 'team-a', 'tracegate-audit') as Obj;
  assert.ok((report.results as Obj[]).some((r) => r.result === 'fail' && r.policy === 'resources'), 'the Deployment without limits is reported');
  const mine = server.requests.filter((r) => r.user === RECORDER && !DISCOVERY.test(r.path));
  const denied = mine.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(denied, [], 'every request of the recorder is allowed');
  const used = new Set(mine.map(attributes));
  const grants = granted('tracegate-recorder');
  for (const u of used) assert.ok(grants.has(u), `${u} is granted`);
  return used;
}

before(async () => {
  tools = await ensureRealTools();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-chart-rbac-'));
  await cluster(['ui.enabled=true']);
});

after(async () => {
  await ui?.close();
  await recorder?.stop();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the chart's RBAC, as the components use it", () => {
  it('the recorder (audit on) records and writes its PolicyReports with exactly its grants', async () => {
    recorder = await startAuditingRecorder([]);
    const used = await recorderAllowed();
    // What the audit is granted, it uses: listing Pods and namespaces, reading and writing both kinds of reports.
    for (const g of ['list /pods', 'list /namespaces', 'create wgpolicyk8s.io/policyreports', 'create wgpolicyk8s.io/clusterpolicyreports', 'list wgpolicyk8s.io/policyreports', 'list wgpolicyk8s.io/clusterpolicyreports']) {
      assert.ok(used.has(g), `the recorder uses ${g}`);
    }
  });

  it('the web view signs an auditor in, authorizes and renders every page kind with exactly its grants', async (t) => {
    assert.ok(recorder, 'the recorder test ran first and left records to show');
    const { file, kc } = await kubeConfigFor(UI);
    const storage = createSecretDriver({ core: kc.makeApiClient(CoreV1Api) });
    ui = await startUi({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'ui-certs'),
      tlsMinVersion: 'TLSv1.2',
      kubeConfig: kc,
      // Where the policy watch takes its credentials (in a pod: the ServiceAccount's, as kc's).
      kubeconfigFile: file,
      prefix: PREFIX,
      tenantLabel: `${PREFIX}tenant`,
      policies: [],
      // The chart's default (policies.source cluster): the view lists and watches TracegatePolicy objects.
      policySource: 'cluster',
      changes: createChangeSource({ trails: kc.makeApiClient(CustomObjectsApi), prefix: PREFIX, releases: (ns, name) => storage.history(ns, name).catch(() => undefined) }),
      exporter: { csv: renderCsv, json: renderJson, digest: exportDigest },
      log: createLogger({ level: 'silent' }),
      env: {},
      cwd: dir,
    });
    const token = server.token('carol', ['auditors']);
    const trail = server.store.list('changetrails.tracegate.io', 'team-a')[0] as Obj;
    const kind = String(trail.spec.workload.kind).toLowerCase();
    const pages = ['/', '/policies', '/tenants/team-a', '/tenants/team-a/export.json', `/workloads/team-a/${kind}/web`, `/workloads/team-a/${kind}/web/revisions/1/manifest`, `/workloads/team-a/${kind}/web/revisions/1/diff`];
    for (const page of pages) {
      const res = await get(`${ui.url}${page}`, token);
      assert.equal(res.status, 200, `${page}: ${res.body.slice(0, 300)}`);
    }
    assert.match((await get(`${ui.url}/tenants/team-a`, token)).body, /resources/, "the tenant page shows the audit's violation");

    // A request is logged when it ends: the policy watch ends with the view.
    await ui.close();
    ui = undefined;
    await waitFor('the policy watch to be logged', () => server.requests.some((r) => r.user === UI && r.query['watch'] === 'true'));
    // client-node's KubernetesObjectApi asks discovery for a kind's resource name first.
    const all = server.requests.filter((r) => r.user === UI && !DISCOVERY.test(r.path));
    // The view loads its policies with the gate's own module, which also writes each TracegatePolicy's
    // status. That is the gate's to write (replicas judging differently would fight over it), so the
    // chart does not grant it: those writes are refused (and logged once per policy by the view).
    const statusWrite = (r: { method: string; path: string }) => r.method === 'PUT' && /^\/apis\/tracegate\.io\/v1alpha1\/tracegatepolicies\/[^/]+\/status$/.test(r.path);
    const refusedStatus = all.filter((r) => statusWrite(r) && r.status === 403).length;
    if (refusedStatus) t.diagnostic(`the view tried to write ${refusedStatus} TracegatePolicy status(es) and was refused: src/ui should load policies read-only`);
    const mine = all.filter((r) => !statusWrite(r));
    const denied = mine.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(denied, [], 'every request of the web view is allowed');
    const used = new Set(mine.map(attributes));
    const grants = granted('tracegate-ui');
    for (const u of used) assert.ok(grants.has(u), `${u} is granted`);
    // Every grant is used, but the live-object get of the kinds not on these pages and the get of a
    // trail's archives (a trail this short has none).
    const unused = [...grants].filter((g) => !used.has(g)).sort();
    t.diagnostic(`granted, not used by these pages: ${unused.join(', ')}`);
    const other = unused.filter((g) => g !== 'get tracegate.io/changetrails' && !/^get (apps|batch|)\/(deployments|statefulsets|daemonsets|replicasets|jobs|cronjobs|replicationcontrollers|pods)$/.test(g));
    assert.deepEqual(other, [], 'every other grant is used');
  });

  it("the gate's policy watch lists, watches and writes each TracegatePolicy's status with exactly its grants", async () => {
    const gate = `system:serviceaccount:${NS}:tracegate`;
    const { file } = await kubeConfigFor(gate);
    const policies = await createGatePolicies({
      config: { policySource: 'cluster', policies: [], kubeconfig: file },
      loader: await policyLoader(PREFIX),
      log: createLogger({ level: 'silent' }),
      metrics: createMetrics(),
      env: {},
      cwd: dir,
    });
    policies.start();
    try {
      await waitFor('the first policy set', () => policies.ready());
      await waitFor("the policies' status", () => server.store.list('tracegatepolicies.tracegate.io').every((p) => (p as Obj).status !== undefined));
      assert.deepEqual(policies.current().policies.map((p) => p.name), ['image-hygiene', 'provenance', 'resources', 'rollback-history']);
    } finally {
      await policies.stop();
    }
    await waitFor('the policy watch to be logged', () => server.requests.some((r) => r.user === gate && r.query['watch'] === 'true'));
    const mine = server.requests.filter((r) => r.user === gate && !DISCOVERY.test(r.path));
    assert.deepEqual(mine.filter((r) => r.status === 403).map((r) => `${r.method} ${r.path}`), [], 'every request of the gate is allowed');
    const used = new Set(mine.map(attributes));
    assert.deepEqual([...used].sort(), ['list tracegate.io/tracegatepolicies', 'update tracegate.io/tracegatepolicies/status', 'watch tracegate.io/tracegatepolicies']);
    for (const u of used) assert.ok(granted('tracegate').has(u), `${u} is granted`);
  });

  it('recorder.namespaces: the audit works with its rights bound in those namespaces (a RoleBinding grants get on its own Namespace)', async () => {
    await recorder?.stop();
    recorder = undefined;
    await server.close();
    await cluster(['recorder.namespaces={team-a}']);
    recorder = await startAuditingRecorder(['team-a']);
    const used = await recorderAllowed();
    for (const g of ['get /namespaces', 'list /pods', 'create wgpolicyk8s.io/policyreports', 'list wgpolicyk8s.io/policyreports', 'create wgpolicyk8s.io/clusterpolicyreports']) assert.ok(used.has(g), `the recorder uses ${g}`);
    assert.equal(used.has('list /namespaces'), false, 'no cluster-wide namespace list');
  });
});
