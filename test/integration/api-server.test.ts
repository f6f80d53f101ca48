/**
 * The test API server against the real clients: kubectl v1.35, helm v4 and v3, and client-node
 * informers. What each command sends is checked against admission-protocol.md §8 and
 * helm-release-storage.md §6; what ends up stored is checked through the server's store.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoordinationV1Api, KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { V1Deployment } from '@kubernetes/client-node';
import { startTestApiServer } from '../support/api-server/index.js';
import type { AdmissionHook, AdmissionHookRequest, JsonObject, TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let adminConfig: string;
const calls: AdmissionHookRequest[] = [];
const allowAll: AdmissionHook = async (req) => ({ allowed: true, object: req.object });
let decide: AdmissionHook = allowAll;

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-apiserver-test-'));
  adminConfig = await server.kubeconfig(await mkdtemp(join(dir, 'admin-')));
  server.setAdmission(async (req) => {
    calls.push(req);
    return decide(req);
  });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(bin: string, args: string[], kubeconfig = adminConfig): Promise<ToolResult> {
  return runTool(bin, args, { env: { KUBECONFIG: kubeconfig } });
}

/** Runs a tool and fails with its output unless it exits 0. */
async function ok(bin: string, args: string[], kubeconfig = adminConfig): Promise<ToolResult> {
  const res = await run(bin, args, kubeconfig);
  assert.equal(res.code, 0, `${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

const kubectl = (...args: string[]): Promise<ToolResult> => ok(tools.kubectl, args);

function stored(resource: string, namespace: string, name: string): Any {
  const obj = server.store.get(resource, namespace, name);
  assert.ok(obj, `${resource} ${namespace}/${name} is stored`);
  return obj as Any;
}

function lastCall(): AdmissionHookRequest {
  const call = calls[calls.length - 1];
  assert.ok(call, 'the admission hook was called');
  return call;
}

function managers(obj: Any): string[] {
  return (obj['metadata']['managedFields'] as Any[]).map((m) => `${m['manager']}/${m['operation']}${m['subresource'] ? `/${m['subresource']}` : ''}`);
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  // Generous: only bounds a hang, never decides the outcome of a passing test.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function createNamespace(name: string): Promise<void> {
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

async function writeChart(name: string): Promise<string> {
  const chart = join(dir, `chart-${name}`);
  await mkdir(join(chart, 'templates'), { recursive: true });
  await writeFile(join(chart, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: 0.1.0\nappVersion: "1.25"\n`);
  await writeFile(join(chart, 'values.yaml'), 'image:\n  repository: nginx\n  tag: "1.25"\nreplicaCount: 1\n');
  await writeFile(
    join(chart, 'templates', 'deployment.yaml'),
    [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: {{ .Release.Name }}',
      'spec:',
      '  replicas: {{ .Values.replicaCount }}',
      '  selector:',
      '    matchLabels: {app: {{ .Release.Name }}}',
      '  template:',
      '    metadata:',
      '      labels: {app: {{ .Release.Name }}}',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
      '          ports: [{containerPort: 80}]',
      '',
    ].join('\n'),
  );
  return chart;
}

function image(obj: Any): string {
  return obj['spec']['template']['spec']['containers'][0]['image'];
}

describe('kubectl against the test API server', () => {
  const ns = 'kubectl';
  before(() => createNamespace(ns));

  it('create deployment: protobuf body, apiserver defaults, system metadata, CREATE review', async () => {
    await kubectl('create', 'deployment', 'web', '--image=nginx:1.25', '--port=80', '-n', ns);
    const post = server.requests.find((r) => r.method === 'POST' && r.path === `/apis/apps/v1/namespaces/${ns}/deployments`);
    assert.equal(post?.contentType, 'application/vnd.kubernetes.protobuf');
    const d = stored('deployments', ns, 'web');
    assert.match(d['metadata']['uid'], /^[0-9a-f-]{36}$/);
    assert.match(d['metadata']['resourceVersion'], /^\d+$/);
    assert.match(d['metadata']['creationTimestamp'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(d['metadata']['generation'], 1);
    assert.deepEqual(d['spec']['strategy'], { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
    assert.equal(d['spec']['revisionHistoryLimit'], 10);
    assert.equal(d['spec']['progressDeadlineSeconds'], 600);
    const pod = d['spec']['template']['spec'];
    assert.deepEqual(
      [pod['restartPolicy'], pod['terminationGracePeriodSeconds'], pod['dnsPolicy'], pod['schedulerName'], pod['securityContext']],
      ['Always', 30, 'ClusterFirst', 'default-scheduler', {}],
    );
    assert.deepEqual(pod['containers'][0], {
      name: 'nginx',
      image: 'nginx:1.25',
      ports: [{ containerPort: 80, protocol: 'TCP' }],
      resources: {},
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      imagePullPolicy: 'IfNotPresent',
    });
    assert.ok(managers(d).includes('kubectl-create/Update'));
    const call = lastCall();
    assert.equal(call.operation, 'CREATE');
    assert.deepEqual(call.kind, { group: 'apps', version: 'v1', kind: 'Deployment' });
    assert.deepEqual(call.options, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-create', fieldValidation: 'Strict' });
    assert.equal(call.oldObject, null);
    assert.equal(call.object.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent', 'the hook sees the defaulted object');
    assert.deepEqual(call.userInfo, { username: 'admin', groups: ['system:masters', 'system:authenticated'] });
  });

  it('get -o json returns the stored object, rolled out by the simulated controller', async () => {
    const res = await kubectl('get', 'deploy', 'web', '-n', ns, '-o', 'json');
    const got = JSON.parse(res.stdout) as Any;
    assert.equal(got['metadata']['uid'], stored('deployments', ns, 'web')['metadata']['uid']);
    assert.equal(got['status']['observedGeneration'], got['metadata']['generation']);
    assert.equal(got['status']['availableReplicas'], 1);
    const progressing = (got['status']['conditions'] as Any[]).find((c) => c['type'] === 'Progressing');
    assert.equal(progressing?.['reason'], 'NewReplicaSetAvailable');
    assert.equal(got['metadata']['annotations']['deployment.kubernetes.io/revision'], '1');
    const table = await kubectl('get', 'deploy', '-n', ns);
    assert.match(table.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\nweb\s+1\/1\s+1\s+1\s+\d+s\n$/);
    const rs = await kubectl('get', 'rs', '-n', ns, '-o', 'json');
    const items = (JSON.parse(rs.stdout) as Any)['items'] as Any[];
    assert.equal(items.length, 1);
    assert.equal(items[0]?.['metadata']['ownerReferences'][0]['uid'], got['metadata']['uid']);
  });

  it('set image: strategic merge by container name, generation bumped, UPDATE by kubectl-set', async () => {
    const before = stored('deployments', ns, 'web');
    await kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.26', '-n', ns);
    const d = stored('deployments', ns, 'web');
    assert.equal(image(d), 'nginx:1.26');
    assert.deepEqual(d['spec']['template']['spec']['containers'][0]['ports'], before['spec']['template']['spec']['containers'][0]['ports']);
    assert.equal(d['metadata']['generation'], before['metadata']['generation'] + 1);
    assert.ok(managers(d).includes('kubectl-set/Update'));
    const call = lastCall();
    assert.equal(call.operation, 'UPDATE');
    assert.deepEqual(call.options, { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-set' });
    assert.equal(call.oldObject.spec.template.spec.containers[0].image, 'nginx:1.25');
    assert.equal(call.object.spec.template.spec.containers[0].image, 'nginx:1.26');
  });

  it('scale: the hook sees an autoscaling/v1 Scale on deployments/scale with no fieldManager', async () => {
    await kubectl('scale', 'deployment/web', '--replicas=3', '-n', ns);
    const d = stored('deployments', ns, 'web');
    assert.equal(d['spec']['replicas'], 3);
    assert.ok(managers(d).includes('kubectl/Update/scale'));
    const call = lastCall();
    assert.equal(call.subResource, 'scale');
    assert.deepEqual(call.kind, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    assert.deepEqual(call.resource, { group: 'apps', version: 'v1', resource: 'deployments' });
    assert.deepEqual(call.options, { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' });
    assert.equal(call.object.spec.replicas, 3);
    assert.equal(call.oldObject.spec.replicas, 1);
    assert.equal(call.object.status.selector, 'app=web');
    assert.equal(call.object.metadata.labels, undefined, 'Scale carries no labels');
  });

  it('patch: strategic, merge and json patches all apply and name kubectl-patch', async () => {
    await kubectl('patch', 'deployment/web', '-n', ns, '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}');
    let d = stored('deployments', ns, 'web');
    assert.deepEqual(d['spec']['template']['spec']['containers'][0]['env'], [{ name: 'A', value: '1' }]);
    assert.equal(image(d), 'nginx:1.26', 'the strategic patch merged into the named container');
    assert.equal(lastCall().options?.fieldManager, 'kubectl-patch');
    await kubectl('patch', 'deployment/web', '-n', ns, '--type=merge', '-p', '{"metadata":{"labels":{"tier":"frontend"}}}');
    d = stored('deployments', ns, 'web');
    assert.deepEqual(d['metadata']['labels'], { app: 'web', tier: 'frontend' });
    await kubectl('patch', 'deployment/web', '-n', ns, '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":2}]');
    d = stored('deployments', ns, 'web');
    assert.equal(d['spec']['replicas'], 2);
    const patches = server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/web') && r.query['fieldManager'] === 'kubectl-patch');
    assert.deepEqual(
      patches.map((r) => r.contentType),
      ['application/strategic-merge-patch+json', 'application/merge-patch+json', 'application/json-patch+json'],
    );
  });

  it('annotate bumps the generation (annotations are copied to ReplicaSets); the hook sees kubectl-annotate', async () => {
    const before = stored('deployments', ns, 'web');
    await kubectl('annotate', 'deployment/web', '-n', ns, 'team=blue');
    const d = stored('deployments', ns, 'web');
    assert.equal(d['metadata']['annotations']['team'], 'blue');
    assert.equal(d['metadata']['generation'], before['metadata']['generation'] + 1);
    assert.equal(lastCall().options?.fieldManager, 'kubectl-annotate');
  });

  it('rollout restart sets the template annotation through kubectl-rollout', async () => {
    await kubectl('rollout', 'restart', 'deployment/web', '-n', ns);
    const d = stored('deployments', ns, 'web');
    assert.match(d['spec']['template']['metadata']['annotations']['kubectl.kubernetes.io/restartedAt'], /^\d{4}-/);
    assert.equal(lastCall().options?.fieldManager, 'kubectl-rollout');
    assert.equal(lastCall().operation, 'UPDATE');
  });

  it('delete: DELETE review with the old object and DeleteOptions; owned ReplicaSets go too', async () => {
    const uid = stored('deployments', ns, 'web')['metadata']['uid'];
    await kubectl('delete', 'deployment', 'web', '-n', ns);
    assert.equal(server.store.get('deployments', ns, 'web'), undefined);
    assert.deepEqual(server.store.list('replicasets', ns), []);
    const call = lastCall();
    assert.equal(call.operation, 'DELETE');
    assert.equal(call.object, null);
    assert.equal(call.oldObject.metadata.uid, uid);
    assert.deepEqual(call.options, { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1', propagationPolicy: 'Background' });
  });
});

describe('kubectl apply', () => {
  const ns = 'apply';
  const manifest = (img: string, env: string[]): string =>
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'api', namespace: ns },
      spec: {
        selector: { matchLabels: { app: 'api' } },
        template: {
          metadata: { labels: { app: 'api' } },
          spec: { containers: [{ name: 'api', image: img, env: env.map((name) => ({ name, value: 'x' })) }] },
        },
      },
    });
  before(() => createNamespace(ns));

  it('client-side: POST then a 3-way strategic patch, both as kubectl-client-side-apply with Strict validation', async () => {
    const file = join(dir, 'csa.json');
    await writeFile(file, manifest('registry.example.com/api:1.0', ['A']));
    await kubectl('apply', '-f', file);
    assert.equal(lastCall().operation, 'CREATE');
    await writeFile(file, manifest('registry.example.com/api:1.1', ['A']));
    await kubectl('apply', '-f', file);
    const call = lastCall();
    assert.equal(call.operation, 'UPDATE');
    assert.deepEqual(call.options, { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', fieldValidation: 'Strict' });
    const d = stored('deployments', ns, 'api');
    assert.equal(image(d), 'registry.example.com/api:1.1');
    assert.match(d['metadata']['annotations']['kubectl.kubernetes.io/last-applied-configuration'], /api:1\.1/);
  });

  it('--server-side: migrates client-side ownership, applies as kubectl/Apply and prunes fields it stops applying', async () => {
    const file = join(dir, 'ssa.json');
    await writeFile(file, manifest('registry.example.com/api:1.1', ['A', 'B']));
    await kubectl('apply', '--server-side', '-f', file);
    let d = stored('deployments', ns, 'api');
    assert.ok(managers(d).includes('kubectl/Apply'));
    assert.deepEqual(d['spec']['template']['spec']['containers'][0]['env'].map((e: Any) => e['name']), ['A', 'B']);
    const apply = server.requests.filter((r) => r.contentType === 'application/apply-patch+yaml').at(-1);
    assert.deepEqual([apply?.query['fieldManager'], apply?.query['force']], ['kubectl', 'false']);
    await writeFile(file, manifest('registry.example.com/api:1.1', ['A']));
    await kubectl('apply', '--server-side', '-f', file);
    d = stored('deployments', ns, 'api');
    assert.deepEqual(d['spec']['template']['spec']['containers'][0]['env'], [{ name: 'A', value: 'x' }]);
    assert.deepEqual(lastCall().options, { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl', fieldValidation: 'Strict' });
  });

  it('--server-side reports a conflict with another manager unless --force-conflicts', async () => {
    await kubectl('set', 'image', 'deployment/api', 'api=registry.example.com/api:2.0', '-n', ns);
    const res = await run(tools.kubectl, ['apply', '--server-side', '-f', join(dir, 'ssa.json')]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Apply failed with 1 conflict: conflict with "kubectl-set" using apps\/v1: \.spec\.template\.spec\.containers\[name="api"\]\.image/);
    await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(dir, 'ssa.json'));
    assert.equal(image(stored('deployments', ns, 'api')), 'registry.example.com/api:1.1');
  });

  it('--server-side creates a missing object: the hook sees CREATE', async () => {
    const file = join(dir, 'ssa-new.json');
    await writeFile(file, manifest('registry.example.com/api:1.0', []).replace(/"api"/g, '"fresh"'));
    await kubectl('apply', '--server-side', '-f', file);
    assert.equal(lastCall().operation, 'CREATE');
    assert.deepEqual(managers(stored('deployments', ns, 'fresh')).filter((m) => m.startsWith('kubectl')), ['kubectl/Apply']);
  });
});

describe('admission through the hook', () => {
  const ns = 'admission';
  let alice: string;
  before(async () => {
    await createNamespace(ns);
    alice = await server.kubeconfig(await mkdtemp(join(dir, 'alice-')), { user: 'alice', groups: ['dev'] });
    await kubectl('create', 'deployment', 'web', '--image=nginx:1.25', '-n', ns);
  });
  after(() => {
    decide = allowAll;
  });

  it('a denial is printed by kubectl as the apiserver error and stores nothing; warnings are printed too', async () => {
    const before = stored('deployments', ns, 'web');
    decide = async () => ({
      allowed: false,
      status: { code: 403, message: 'admission webhook "validate.tracegate.dev" denied the request: image nginx:1.26 is not allowed' },
      warnings: ['policy "images" v3 applies'],
    });
    const res = await run(tools.kubectl, ['set', 'image', 'deployment/web', 'nginx=nginx:1.26', '-n', ns]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /admission webhook "validate\.tracegate\.dev" denied the request: image nginx:1\.26 is not allowed/);
    assert.match(res.stderr, /Warning: policy "images" v3 applies/);
    const annotate = await run(tools.kubectl, ['annotate', 'deployment/web', 'a=b', '-n', ns]);
    assert.match(annotate.stderr, /^Error from server \(Forbidden\): admission webhook "validate\.tracegate\.dev" denied the request/m);
    assert.equal(stored('deployments', ns, 'web')['metadata']['resourceVersion'], before['metadata']['resourceVersion']);
  });

  it('the identity from the kubeconfig becomes userInfo', async () => {
    decide = allowAll;
    await ok(tools.kubectl, ['annotate', 'deployment/web', 'owner=alice', '-n', ns], alice);
    assert.deepEqual(lastCall().userInfo, { username: 'alice', groups: ['dev', 'system:authenticated'] });
    await kubectl('annotate', 'deployment/web', 'owner=bob', '--overwrite', '--as=bob', '--as-group=ops', '-n', ns);
    assert.deepEqual(lastCall().userInfo, { username: 'bob', groups: ['ops', 'system:authenticated'] });
  });

  it('what the hook returns is stored (mutation), re-defaulted, and cannot rename the object', async () => {
    decide = async (req) => {
      const obj = req.object;
      obj.metadata.name = 'renamed';
      obj.metadata.annotations = { ...obj.metadata.annotations, 'tracegate.dev/change-id': 'c-1' };
      obj.spec.template.spec.containers[0].imagePullPolicy = undefined;
      return { allowed: true, object: JSON.parse(JSON.stringify(obj)) };
    };
    await kubectl('set', 'image', 'deployment/web', 'nginx=nginx:1.27', '-n', ns);
    const d = stored('deployments', ns, 'web');
    assert.equal(d['metadata']['annotations']['tracegate.dev/change-id'], 'c-1');
    assert.equal(d['spec']['template']['spec']['containers'][0]['imagePullPolicy'], 'IfNotPresent');
    assert.equal(server.store.get('deployments', ns, 'renamed'), undefined);
  });

  it('--dry-run=server runs admission with dryRun and stores nothing', async () => {
    decide = allowAll;
    const before = stored('deployments', ns, 'web');
    const res = await kubectl('set', 'image', 'deployment/web', 'nginx=nginx:9.9', '-n', ns, '--dry-run=server');
    assert.match(res.stdout, /server dry run/);
    assert.equal(lastCall().dryRun, true);
    assert.deepEqual(lastCall().options?.dryRun, ['All']);
    assert.deepEqual(stored('deployments', ns, 'web'), before);
  });
});

describe('helm against the test API server', () => {
  const ns = 'helm';
  let chart: string;
  before(async () => {
    await createNamespace(ns);
    chart = await writeChart('web');
  });

  it('helm 4 install (server-side apply by default) writes a protobuf release Secret and the Deployment', async () => {
    const res = await ok(tools.helm, ['install', 'web', chart, '-n', ns]);
    assert.match(res.stdout, /STATUS: deployed/);
    const apply = server.requests.find((r) => r.method === 'PATCH' && r.path === `/apis/apps/v1/namespaces/${ns}/deployments/web`);
    assert.equal(apply?.contentType, 'application/apply-patch+yaml');
    assert.deepEqual(lastCall().options, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'helm', fieldValidation: 'Strict' });
    const d = stored('deployments', ns, 'web');
    assert.ok(managers(d).includes('helm/Apply'));
    assert.equal(d['metadata']['annotations']['meta.helm.sh/release-name'], 'web');
    const secret = stored('secrets', ns, 'sh.helm.release.v1.web.v1');
    assert.equal(secret['type'], 'helm.sh/release.v1');
    assert.equal(secret['metadata']['labels']['status'], 'deployed');
    assert.match(secret['data']['release'], /^SDRzSUFB/, 'JSON-wire Secret data is base64 of the base64 gzip');
    const post = server.requests.find((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/${ns}/secrets`);
    assert.equal(post?.contentType, 'application/vnd.kubernetes.protobuf');
  });

  it('upgrade, history, get manifest and rollback', async () => {
    await ok(tools.helm, ['upgrade', 'web', chart, '-n', ns, '--set', 'image.tag=1.26']);
    assert.equal(image(stored('deployments', ns, 'web')), 'nginx:1.26');
    const manifest = await ok(tools.helm, ['get', 'manifest', 'web', '-n', ns]);
    assert.match(manifest.stdout, /image: "nginx:1\.26"/);
    await ok(tools.helm, ['rollback', 'web', '1', '-n', ns]);
    assert.equal(image(stored('deployments', ns, 'web')), 'nginx:1.25');
    const history = await ok(tools.helm, ['history', 'web', '-n', ns]);
    assert.match(history.stdout, /1\s.*superseded.*Install complete/);
    assert.match(history.stdout, /2\s.*superseded.*Upgrade complete/);
    assert.match(history.stdout, /3\s.*deployed.*Rollback to 1/);
  });

  it('a server-side rollback after kubectl set image conflicts, and --force-conflicts wins (helm-release-storage.md §5.3)', async () => {
    await kubectl('set', 'image', 'deployment/web', 'web=nginx:1.30', '-n', ns);
    const res = await run(tools.helm, ['rollback', 'web', '1', '-n', ns]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /conflict occurred while applying object helm\/web apps\/v1, Kind=Deployment: Apply failed with 1 conflict: conflict with "kubectl-set"/);
    await ok(tools.helm, ['rollback', 'web', '1', '-n', ns, '--force-conflicts']);
    assert.equal(image(stored('deployments', ns, 'web')), 'nginx:1.25');
  });

  it('helm 4 --server-side=false creates with POST ?fieldManager=helm and no fieldValidation', async () => {
    const csaChart = await writeChart('csa');
    await ok(tools.helm, ['install', 'csa', csaChart, '-n', ns, '--server-side=false']);
    assert.deepEqual(lastCall().options, { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'helm' });
    assert.ok(managers(stored('deployments', ns, 'csa')).includes('helm/Update'));
  });

  it('helm 3 installs, upgrades with a strategic merge patch (--wait) and rolls back', async () => {
    const v3Chart = await writeChart('legacy');
    await ok(tools.helm3, ['install', 'legacy', v3Chart, '-n', ns]);
    await ok(tools.helm3, ['upgrade', 'legacy', v3Chart, '-n', ns, '--set', 'image.tag=1.27', '--wait']);
    const patch = server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/deployments/legacy')).at(-1);
    assert.equal(patch?.contentType, 'application/strategic-merge-patch+json');
    assert.deepEqual(patch?.body, { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }], containers: [{ image: 'nginx:1.27', name: 'web' }] } } } });
    assert.equal(image(stored('deployments', ns, 'legacy')), 'nginx:1.27');
    await ok(tools.helm3, ['rollback', 'legacy', '1', '-n', ns]);
    assert.equal(image(stored('deployments', ns, 'legacy')), 'nginx:1.25');
    const history = await ok(tools.helm, ['history', 'legacy', '-n', ns]);
    assert.match(history.stdout, /3\s.*deployed.*Rollback to 1/, 'helm 4 reads what helm 3 wrote');
  });

  it('helm 4 --wait is satisfied through watch-list (sendInitialEvents + initial-events-end bookmark)', async () => {
    await ok(tools.helm, ['upgrade', 'csa', join(dir, 'chart-csa'), '-n', ns, '--set', 'replicaCount=2', '--wait', '--timeout', '30s']);
    const watch = server.requests.find((r) => r.query['watch'] === 'true' && r.query['sendInitialEvents'] === 'true');
    assert.equal(watch?.query['allowWatchBookmarks'], 'true');
    assert.equal(stored('deployments', ns, 'csa')['status']['readyReplicas'], 2);
  });
});

describe('client-node informers and leases', () => {
  const ns = 'informer';
  let kc: KubeConfig;
  before(async () => {
    await createNamespace(ns);
    kc = new KubeConfig();
    kc.loadFromFile(await server.kubeconfig(await mkdtemp(join(dir, 'node-'))));
  });

  it('an informer lists, sees ADDED/MODIFIED/DELETED, and recovers from dropped and expired watches', async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const informer = makeInformer(kc, `/apis/apps/v1/namespaces/${ns}/deployments`, () => apps.listNamespacedDeployment({ namespace: ns }));
    const seen: string[] = [];
    const imageOf = (d: V1Deployment): string => d.spec?.template.spec?.containers[0]?.image ?? '';
    informer.on('add', (d) => seen.push(`add ${d.metadata?.name}`));
    informer.on('update', (d) => seen.push(`update ${d.metadata?.name} ${imageOf(d)}`));
    informer.on('delete', (d) => seen.push(`delete ${d.metadata?.name}`));
    let stopped = false;
    // client-node stops on errors; restarting is the documented pattern.
    informer.on('error', () => {
      if (!stopped) setTimeout(() => void informer.start(), 10);
    });
    server.store.put({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'pre', namespace: ns },
      spec: { selector: { matchLabels: { app: 'pre' } }, template: { metadata: { labels: { app: 'pre' } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } },
    });
    await informer.start();
    try {
      assert.ok(seen.includes('add pre'), 'the initial list');
      await kubectl('create', 'deployment', 'live', '--image=nginx:1', '-n', ns);
      await waitFor('ADDED live', () => seen.includes('add live'));
      assert.ok(server.faults.dropWatches() >= 1);
      await kubectl('set', 'image', 'deployment/live', 'nginx=nginx:2', '-n', ns);
      await waitFor('MODIFIED after a dropped watch', () => seen.includes('update live nginx:2'));
      server.faults.expireWatches();
      server.faults.dropWatches();
      await kubectl('set', 'image', 'deployment/live', 'nginx=nginx:3', '-n', ns);
      await waitFor('MODIFIED after 410 Gone and a relist', () => seen.includes('update live nginx:3'));
      server.faults.dropWatches({ abrupt: true });
      await kubectl('delete', 'deployment', 'live', '-n', ns);
      await waitFor('DELETED after an abrupt drop', () => seen.includes('delete live'));
      const relists = server.requests.filter((r) => r.method === 'GET' && r.path === `/apis/apps/v1/namespaces/${ns}/deployments` && r.query['watch'] === undefined);
      assert.ok(relists.length >= 2, 'the expired watch made the informer list again');
    } finally {
      stopped = true;
      await informer.stop();
    }
  });

  it('a Lease update with a stale resourceVersion gets 409 Conflict; without one it is unconditional', async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const lease = await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const stale = lease.metadata?.resourceVersion;
    const renewed = await coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, spec: { holderIdentity: 'a', leaseDurationSeconds: 15, renewTime: new Date() } } });
    assert.notEqual(renewed.metadata?.resourceVersion, stale);
    await assert.rejects(
      coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, metadata: { ...lease.metadata, resourceVersion: stale }, spec: { holderIdentity: 'b' } } }),
      (err: Any) => err.code === 409 && /the object has been modified/.test(err.body),
    );
    const { resourceVersion: _rv, ...withoutRv } = lease.metadata ?? {};
    const forced = await coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, metadata: withoutRv, spec: { holderIdentity: 'c' } } });
    assert.equal(forced.spec?.holderIdentity, 'c');
    await assert.rejects(coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: {} } }), (err: Any) => err.code === 409 && /AlreadyExists/.test(err.body));
  });
});

/** Opens a watch and collects its events until `close()` or the server ends it. */
function openWatch(path: string): { events: any[]; ended: Promise<void>; close(): void } {
  const events: any[] = [];
  const url = new URL(path, server.url);
  let close = (): void => {};
  const ended = new Promise<void>((resolve, reject) => {
    const req = request(url, { headers: { Authorization: `Bearer ${server.token()}` } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', reject);
    req.end();
    close = () => {
      req.destroy();
      resolve();
    };
  });
  return { events, ended, close: () => close() };
}

async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; headers: Headers; json: Any }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': contentType },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Any };
}

describe('watch, selectors, patches and faults over HTTP', () => {
  const ns = 'wire';
  const cm = (name: string, labels: Record<string, string>): JsonObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels }, data: { k: 'v' } });
  before(async () => {
    await createNamespace(ns);
    server.store.put(cm('a', { tier: 'web', env: 'prod' }));
    server.store.put(cm('b', { tier: 'db', env: 'prod' }));
    server.store.put(cm('c', { tier: 'web' }));
  });

  it('label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors, through kubectl', async () => {
    const names = async (...args: string[]): Promise<string> => (await kubectl('get', 'cm', '-n', ns, '-o', 'name', ...args)).stdout.replace(/configmap\//g, '').trim().split('\n').join(',');
    assert.equal(await names('-l', 'tier=web'), 'a,c');
    assert.equal(await names('-l', 'tier==db'), 'b');
    assert.equal(await names('-l', 'tier!=web'), 'b');
    assert.equal(await names('-l', 'tier in (db,cache)'), 'b');
    assert.equal(await names('-l', 'tier notin (db),env'), 'a');
    assert.equal(await names('-l', '!env'), 'c');
    assert.equal(await names('--field-selector', 'metadata.name=b'), 'b');
    const all = await kubectl('get', 'cm', '-A', '-l', 'env=prod', '-o', 'name');
    assert.equal(all.stdout, 'configmap/a\nconfigmap/b\n');
  });

  it('a watch replays from a resourceVersion, turns selector transitions into ADDED/DELETED, and honours timeoutSeconds', async () => {
    const from = server.store.resourceVersion();
    await api('PATCH', `/api/v1/namespaces/${ns}/configmaps/b`, { metadata: { labels: { tier: 'web' } } }, 'application/merge-patch+json');
    await api('PATCH', `/api/v1/namespaces/${ns}/configmaps/b`, { data: { k: 'w' } }, 'application/merge-patch+json');
    await api('PATCH', `/api/v1/namespaces/${ns}/configmaps/a`, { metadata: { labels: { tier: null } } }, 'application/merge-patch+json');
    await api('DELETE', `/api/v1/namespaces/${ns}/configmaps/c`);
    // Everything is replayed from `from`; the stream then stays open until timeoutSeconds ends it.
    const w = openWatch(`/api/v1/namespaces/${ns}/configmaps?watch=true&labelSelector=tier%3Dweb&resourceVersion=${from}&timeoutSeconds=1`);
    await w.ended;
    assert.deepEqual(
      w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ['ADDED b', 'MODIFIED b', 'DELETED a', 'DELETED c'],
    );
    assert.ok(w.events.every((e, i) => i === 0 || Number(e.object.metadata.resourceVersion) > Number(w.events[i - 1].object.metadata.resourceVersion)));
  });

  it('sendInitialEvents=true sends the state then the k8s.io/initial-events-end bookmark; an expired resourceVersion gets a 410 ERROR event', async () => {
    const w = openWatch(`/api/v1/namespaces/${ns}/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
    await waitFor('the initial events', () => w.events.some((e) => e.type === 'BOOKMARK'));
    w.close();
    assert.deepEqual(w.events.map((e) => e.type), ['ADDED', 'ADDED', 'BOOKMARK']);
    assert.equal(w.events[2].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
    const newest = Math.max(...w.events.slice(0, 2).map((e) => Number(e.object.metadata.resourceVersion)));
    assert.ok(Number(w.events[2].object.metadata.resourceVersion) >= newest);

    const old = server.store.resourceVersion();
    server.store.put(cm('d', {}));
    server.faults.expireWatches();
    const gone = openWatch(`/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${old}`);
    await gone.ended;
    assert.equal(gone.events.length, 1);
    assert.equal(gone.events[0].type, 'ERROR');
    assert.deepEqual([gone.events[0].object.code, gone.events[0].object.reason], [410, 'Expired']);
  });

  it('strategic merge directives: $patch delete/replace, $retainKeys, $deleteFromPrimitiveList, null', async () => {
    const body = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'smp', finalizers: ['a.example/x', 'b.example/y'] },
      spec: {
        selector: { matchLabels: { app: 'smp' } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
        template: {
          metadata: { labels: { app: 'smp' } },
          spec: {
            containers: [
              { name: 'main', image: 'nginx:1', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], ports: [{ containerPort: 80 }, { containerPort: 443 }] },
              { name: 'side', image: 'busybox:1' },
            ],
          },
        },
      },
    };
    assert.equal((await api('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, body)).status, 201);
    const patch = {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a.example/x'] },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null },
        template: {
          spec: {
            containers: [
              { name: 'side', $patch: 'delete' },
              { name: 'main', env: [{ name: 'A', $patch: 'delete' }], ports: [{ containerPort: 443, name: 'https' }] },
            ],
          },
        },
      },
    };
    const res = await api('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/smp`, patch, 'application/strategic-merge-patch+json');
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const d = stored('deployments', ns, 'smp');
    assert.deepEqual(d['metadata']['finalizers'], ['b.example/y']);
    assert.deepEqual(d['spec']['strategy'], { type: 'Recreate' });
    const containers = d['spec']['template']['spec']['containers'] as Any[];
    assert.deepEqual(containers.map((c) => c['name']), ['main']);
    assert.deepEqual(containers[0]?.['env'], [{ name: 'B', value: '2' }]);
    assert.deepEqual(containers[0]?.['ports'], [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443, name: 'https', protocol: 'TCP' }]);
    const replaced = await api('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/smp`, { spec: { template: { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'nginx:2' }] } } } }, 'application/strategic-merge-patch+json');
    assert.equal(replaced.status, 200);
    assert.deepEqual((stored('deployments', ns, 'smp')['spec']['template']['spec']['containers'] as Any[]).map((c) => c['name']), ['only']);
  });

  it('Kubernetes Status errors: 404 NotFound, 409 AlreadyExists, 422 Invalid, 401 without credentials', async () => {
    const missing = await api('GET', `/api/v1/namespaces/${ns}/secrets/nope`);
    assert.deepEqual([missing.status, missing.json['kind'], missing.json['reason'], missing.json['message']], [404, 'Status', 'NotFound', 'secrets "nope" not found']);
    const dup = await api('POST', `/api/v1/namespaces/${ns}/configmaps`, cm('a', {}));
    assert.deepEqual([dup.status, dup.json['reason']], [409, 'AlreadyExists']);
    const bad = await api('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bad' }, spec: { selector: { matchLabels: { app: 'x' } }, template: { metadata: { labels: { app: 'y' } }, spec: { containers: [{ name: 'c' }] } } } });
    assert.equal(bad.status, 422);
    assert.match(bad.json['message'], /^Deployment\.apps "bad" is invalid: \[spec\.template\.metadata\.labels: .*selector.*, spec\.template\.spec\.containers\[0\]\.image: Required value\]$/);
    const anonymous = await fetch(new URL('/api/v1/namespaces', server.url));
    assert.equal(anonymous.status, 401);
  });

  it('injected 429s carry Retry-After and kubectl retries through them; 503 and delays apply to matching requests only', async () => {
    server.faults.inject({ method: 'GET', path: /\/configmaps\/a$/, status: 429, retryAfterSeconds: 7 });
    const limited = await api('GET', `/api/v1/namespaces/${ns}/configmaps/a`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '7');
    assert.deepEqual([limited.json['reason'], limited.json['details']['retryAfterSeconds']], ['TooManyRequests', 7]);
    assert.equal((await api('GET', `/api/v1/namespaces/${ns}/configmaps/a`)).status, 200, 'count defaults to one');

    // Retry-After 0 keeps the test fast; client-go waits as long as the header says.
    server.faults.inject({ method: 'GET', path: new RegExp(`/namespaces/${ns}/configmaps/b`), status: 429, retryAfterSeconds: 0, count: 2 });
    const start = server.requests.length;
    await kubectl('get', 'cm', 'b', '-n', ns);
    const statuses = server.requests.slice(start).filter((r) => r.path.endsWith('/configmaps/b')).map((r) => r.status);
    assert.deepEqual(statuses, [429, 429, 200]);

    server.faults.inject({ method: 'POST', path: /\/configmaps/, status: 503 });
    const unavailable = await run(tools.kubectl, ['create', 'configmap', 'e', '-n', ns]);
    assert.match(unavailable.stderr, /ServiceUnavailable|injected fault/);
    assert.equal(server.store.get('configmaps', ns, 'e'), undefined);
    assert.equal(server.faults.pending(), 0);

    server.faults.delay({ method: 'GET', path: /\/configmaps\/a$/, ms: 50, count: 1 });
    assert.equal((await api('GET', `/api/v1/namespaces/${ns}/configmaps/a`)).status, 200);
    const entry = server.requests.filter((r) => r.path.endsWith('/configmaps/a')).at(-1);
    assert.deepEqual([entry?.method, entry?.user, entry?.status], ['GET', 'admin', 200]);
  });

  it('Secret data from protobuf bodies is stored base64, as the JSON API shows it', async () => {
    await kubectl('create', 'secret', 'generic', 'creds', '--from-literal=password=s3cr3t', '-n', ns);
    assert.equal(stored('secrets', ns, 'creds')['data']['password'], Buffer.from('s3cr3t').toString('base64'));
    const post = server.requests.filter((r) => r.path.endsWith('/secrets') && r.method === 'POST').at(-1);
    assert.equal(post?.contentType, 'application/vnd.kubernetes.protobuf');
  });
});

describe('HTTPS', () => {
  it('serves kubectl and helm with a self-signed CA in the kubeconfig and bearer tokens', async () => {
    const secure = await startTestApiServer({ https: true, controller: false });
    try {
      assert.match(secure.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const config = await secure.kubeconfig(await mkdtemp(join(dir, 'https-')), { user: 'carol', groups: ['ops'] });
      const res = await ok(tools.kubectl, ['get', 'ns', '-o', 'name'], config);
      assert.match(res.stdout, /namespace\/kube-system/);
      await ok(tools.helm, ['list', '-A'], config);
      assert.ok(secure.requests.every((r) => r.path === '/version' || r.user === 'carol'));
    } finally {
      await secure.close();
    }
  });
});
