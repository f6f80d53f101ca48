/**
 * Controller-created Pods on the test API server with the real kubectl v1.35 and helm v4 / v3: the
 * controllers' identity and ownerReferences as the admission hook sees them, a denied Pod creation
 * recorded (request log, FailedCreate event, ReplicaFailure) and recovered from, persisted Events
 * with their field selectors, and the `kinds` chart (StatefulSet, DaemonSet, Job, CronJob) installed
 * and upgraded with `--wait` — with Pods (helm 4) and without (helm 3).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { TEST_NODE_NAME, startTestApiServer } from '../support/api-server/index.js';
import type { AdmissionHook, AdmissionHookRequest, TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

const CHART = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'charts', 'kinds');
const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'];

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
const calls: AdmissionHookRequest[] = [];
const allowAll: AdmissionHook = async (req) => ({ allowed: true, object: req.object });
let decide: AdmissionHook = allowAll;

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ pods: true });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-pods-test-'));
  kubeconfig = await server.kubeconfig(dir);
  server.setAdmission(async (req) => {
    calls.push(req);
    return decide(req);
  });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function ok(bin: string, args: string[], config = kubeconfig): Promise<ToolResult> {
  const res = await runTool(bin, args, { env: { KUBECONFIG: config } });
  assert.equal(res.code, 0, `${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

const kubectl = (...args: string[]): Promise<ToolResult> => ok(tools.kubectl, args);

function stored(resource: string, namespace: string, name: string): Any {
  const obj = server.store.get(resource, namespace, name);
  assert.ok(obj, `${resource} ${namespace}/${name} is stored`);
  return obj as Any;
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  // Generous: only bounds a hang, never decides the outcome of a passing test.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function createNamespace(name: string): void {
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

function podsIn(namespace: string): Any[] {
  return server.store.list('pods', namespace) as Any[];
}

describe('pods created by the Deployment → ReplicaSet controllers', () => {
  const ns = 'owners';
  before(() => createNamespace(ns));
  after(() => {
    decide = allowAll;
  });

  it('carry a controller ownerReference and pass the hook as the replicaset-controller', async () => {
    await kubectl('create', 'deployment', 'web', '--image=nginx:1.25', '--replicas=2', '-n', ns);
    await kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=10s');
    const rs = (server.store.list('replicasets', ns) as Any[])[0] as Any;
    const pods = podsIn(ns);
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      assert.deepEqual(pod['metadata']['ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs['metadata']['name'], uid: rs['metadata']['uid'], controller: true, blockOwnerDeletion: true }]);
      assert.equal(pod['metadata']['labels']['pod-template-hash'], rs['metadata']['labels']['pod-template-hash']);
      assert.ok(pod['metadata']['managedFields'].some((m: Any) => m['manager'] === 'kube-controller-manager'));
    }
    const creates = calls.filter((c) => c.namespace === ns && c.resource.resource === 'pods' && c.operation === 'CREATE');
    assert.equal(creates.length, 2);
    assert.deepEqual(creates[0]?.userInfo, { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: SA_GROUPS });
    assert.deepEqual(creates[0]?.kind, { group: '', version: 'v1', kind: 'Pod' });
    assert.equal(creates[0]?.object.metadata.ownerReferences[0].kind, 'ReplicaSet');
    const d = stored('deployments', ns, 'web');
    assert.deepEqual([d['status']['readyReplicas'], d['status']['availableReplicas']], [2, 2], 'the Deployment counts its ReplicaSet\'s ready pods');
    const all = await kubectl('get', 'all', '-n', ns, '-o', 'name');
    assert.deepEqual(all.stdout.trim().split('\n').map((l) => l.split('/')[0]).sort(), ['deployment.apps', 'pod', 'pod', 'replicaset.apps']);
  });

  it('a denied creation is recorded and retried a bounded number of times; a later change recovers', async () => {
    decide = async (req) =>
      req.resource.resource === 'pods' && req.operation === 'CREATE' && req.userInfo.username.endsWith(':replicaset-controller')
        ? { allowed: false, status: { code: 403, message: 'admission webhook "pods.tracegate.dev" denied the request: no controller pods' } }
        : { allowed: true, object: req.object };
    await kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.26', '-n', ns);
    const denied = (): typeof server.requests => server.requests.filter((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/${ns}/pods` && r.status === 403);
    await waitFor('a denied pod creation in the request log', () => denied().length > 0);
    assert.equal(denied()[0]?.user, 'system:serviceaccount:kube-system:replicaset-controller');
    assert.match(denied()[0]?.userAgent ?? '', /^kube-controller-manager\/v1\.35\.\d+ .*\/system:serviceaccount:kube-system:replicaset-controller$/);
    const newRs = (): Any => (server.store.list('replicasets', ns) as Any[]).find((rs) => rs['spec']['template']['spec']['containers'][0]['image'] === 'nginx:1.26') as Any;
    await waitFor('the ReplicaFailure condition', () => (newRs()?.['status']?.['conditions'] ?? []).some((c: Any) => c['type'] === 'ReplicaFailure'));
    assert.match(newRs()['status']['conditions'][0]['message'], /denied the request: no controller pods/);
    const events = JSON.parse((await kubectl('get', 'events', '-n', ns, '--field-selector', 'reason=FailedCreate,type=Warning', '-o', 'json')).stdout) as Any;
    assert.ok(events['items'].length > 0);
    assert.match(events['items'][0]['message'], /^Error creating: admission webhook "pods\.tracegate\.dev" denied the request: no controller pods$/);
    assert.deepEqual([events['items'][0]['involvedObject']['kind'], events['items'][0]['source']['component']], ['ReplicaSet', 'replicaset-controller']);
    await waitFor('the Deployment to report the failure', () => (stored('deployments', ns, 'web')['status']['conditions'] as Any[]).some((c) => c['type'] === 'ReplicaFailure'));

    decide = allowAll;
    await kubectl('scale', 'deployment/web', '--replicas=1', '-n', ns);
    await kubectl('rollout', 'status', 'deployment/web', '-n', ns, '--timeout=10s');
    await waitFor('one pod of the new template', () => podsIn(ns).length === 1 && podsIn(ns)[0]?.['spec']['containers'][0]['image'] === 'nginx:1.26');
    assert.equal((newRs()['status']['conditions'] ?? []).length, 0, 'the failure condition is gone once pods are created');
  });

  it('deleting the Deployment deletes its ReplicaSets and their pods', async () => {
    await kubectl('delete', 'deployment', 'web', '-n', ns);
    assert.deepEqual([server.store.list('replicasets', ns), podsIn(ns)], [[], []]);
  });
});

describe('events', () => {
  const ns = 'events';
  before(() => createNamespace(ns));

  it('are stored and selectable by the apiserver\'s event field selectors', async () => {
    const event = (name: string, reason: string, component: string): Any => ({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: ns, name: 'web', uid: 'u-1' },
      reason,
      message: `${reason} happened`,
      type: 'Normal',
      source: { component },
      firstTimestamp: '2026-01-01T00:00:00Z',
      lastTimestamp: '2026-01-01T00:00:00Z',
      count: 1,
    });
    // Two documents, not a v1 List: kubectl validates a List against OpenAPI v2, which is not served.
    const file = join(dir, 'events.yaml');
    await writeFile(file, `${JSON.stringify(event('a', 'ChangeRecorded', 'tracegate'))}\n---\n${JSON.stringify(event('b', 'Other', 'someone'))}\n`);
    await kubectl('create', '-f', file);
    const names = async (selector: string): Promise<string> => (await kubectl('get', 'events', '-n', ns, '-o', 'name', '--field-selector', selector)).stdout.trim();
    assert.equal(await names('source=tracegate'), 'event/a');
    assert.equal(await names('involvedObject.kind=Deployment,involvedObject.name=web,reason=Other'), 'event/b');
    const table = await kubectl('get', 'events', '-n', ns, '--field-selector', 'involvedObject.uid=u-1,reason=ChangeRecorded');
    assert.match(table.stdout, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n\S+\s+Normal\s+ChangeRecorded\s+deployment\/web\s+ChangeRecorded happened\n$/);
    const bad = await runTool(tools.kubectl, ['get', 'events', '-n', ns, '--field-selector', 'message=x'], { env: { KUBECONFIG: kubeconfig } });
    assert.match(bad.stderr, /field label not supported: message/);
    const generated = { ...event('', 'Deleted', 'tracegate'), metadata: { generateName: 'web.', namespace: ns }, firstTimestamp: '2026-01-01T00:00:00.123Z' };
    const res = await fetch(new URL(`/api/v1/namespaces/${ns}/events`, server.url), {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(generated),
    });
    const created = (await res.json()) as Any;
    assert.equal(res.status, 201);
    assert.match(created['metadata']['name'], /^web\.[a-z0-9]{5}$/);
    assert.equal(created['firstTimestamp'], '2026-01-01T00:00:00Z', 'metav1.Time keeps seconds');
    const elsewhere = event('c', 'Other', 'someone');
    elsewhere['involvedObject']['namespace'] = 'default';
    await writeFile(file, JSON.stringify(elsewhere));
    const mismatch = await runTool(tools.kubectl, ['create', '-f', file], { env: { KUBECONFIG: kubeconfig } });
    assert.match(mismatch.stderr, /The Event "c" is invalid: involvedObject\.namespace: Invalid value: "default": does not match event\.namespace/);
  });
});

describe('the kinds chart with helm --wait', () => {
  const ns = 'chart';
  before(() => createNamespace(ns));

  it('helm 4: install and upgrade wait for the controllers; the hook sees every write and every controller pod', async () => {
    await ok(tools.helm, ['install', 'k', CHART, '-n', ns, '--wait', '--timeout', '30s']);
    const writes = (op: string): string[] => calls.filter((c) => c.namespace === ns && c.operation === op && c.userInfo.username === 'admin').map((c) => `${c.kind.kind}/${c.resource.resource}`);
    assert.deepEqual(writes('CREATE').sort(), ['CronJob/cronjobs', 'DaemonSet/daemonsets', 'Job/jobs', 'StatefulSet/statefulsets']);
    const owners = new Map<string, string>();
    for (const pod of podsIn(ns)) owners.set(pod['metadata']['ownerReferences'][0]['kind'], pod['metadata']['name']);
    assert.deepEqual([...owners.keys()].sort(), ['DaemonSet', 'Job', 'StatefulSet']);
    const controllerCreates = calls.filter((c) => c.namespace === ns && c.resource.resource === 'pods' && c.operation === 'CREATE').map((c) => c.userInfo.username.split(':').at(-1));
    assert.deepEqual([...new Set(controllerCreates)].sort(), ['daemon-set-controller', 'job-controller', 'statefulset-controller']);
    assert.ok(podsIn(ns).every((p) => p['spec']['nodeName'] === TEST_NODE_NAME && p['status']['phase'] === 'Running'));

    await ok(tools.helm, ['upgrade', 'k', CHART, '-n', ns, '--wait', '--timeout', '30s', '--set', 'image.tag=1.37']);
    assert.deepEqual(writes('UPDATE').sort(), ['CronJob/cronjobs', 'DaemonSet/daemonsets', 'StatefulSet/statefulsets']);
    assert.deepEqual(writes('DELETE'), ['Job/jobs'], 'the revision-named Job of the first release goes');
    await waitFor('every pod on the new image', () => podsIn(ns).length === 4 && podsIn(ns).every((p) => p['spec']['containers'][0]['image'] === 'busybox:1.37'));
    assert.equal(stored('statefulsets', ns, 'k-db')['status']['currentRevision'], stored('statefulsets', ns, 'k-db')['status']['updateRevision']);
    assert.equal(server.store.get('jobs', ns, 'k-migrate-1'), undefined);
  });

  it('helm 3 on a server without Pods: the statuses report every replica ready, install and upgrade --wait succeed', async () => {
    const bare = await startTestApiServer();
    try {
      bare.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const config = await bare.kubeconfig(await mkdtemp(join(dir, 'bare-')));
      await ok(tools.helm3, ['install', 'k', CHART, '-n', ns, '--wait', '--timeout', '30s'], config);
      await ok(tools.helm3, ['upgrade', 'k', CHART, '-n', ns, '--wait', '--timeout', '30s', '--set', 'replicas=3'], config);
      assert.deepEqual(bare.store.list('pods', ns), []);
      const sts = bare.store.get('statefulsets', ns, 'k-db') as Any;
      assert.deepEqual([sts['status']['readyReplicas'], sts['status']['observedGeneration']], [3, 2]);
      const ds = bare.store.get('daemonsets', ns, 'k-agent') as Any;
      assert.deepEqual([ds['status']['desiredNumberScheduled'], ds['status']['numberReady']], [1, 1]);
      const job = bare.store.get('jobs', ns, 'k-migrate-2') as Any;
      assert.deepEqual([job['status']['active'], typeof job['status']['startTime']], [1, 'string']);
    } finally {
      await bare.close();
    }
  });
});
