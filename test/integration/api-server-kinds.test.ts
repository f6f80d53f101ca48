/**
 * The test API server's pod-bearing kinds against the real kubectl v1.35: StatefulSets, DaemonSets,
 * ReplicaSets, ReplicationControllers, Jobs, CronJobs and Pods (with `kubectl debug`) — discovery,
 * create/apply/set image/scale/patch/get/delete/rollout status, the Tables kubectl prints, the
 * apiserver's defaulting and validation wording, and what the admission hook sees for each write.
 * The server runs with `pods: true`, so the controllers' Pods exist and are checked too.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApiServer } from '../support/api-server/index.js';
import type { AdmissionHookRequest, TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
const calls: AdmissionHookRequest[] = [];

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ pods: true });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-kinds-test-'));
  kubeconfig = await server.kubeconfig(dir);
  server.setAdmission(async (req) => {
    calls.push(req);
    return { allowed: true, object: req.object };
  });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(...args: string[]): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig } });
}

/** Runs kubectl and fails with its output unless it exits 0. */
async function kubectl(...args: string[]): Promise<ToolResult> {
  const res = await run(...args);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

async function applyJson(name: string, obj: unknown): Promise<ToolResult> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(obj));
  return kubectl('apply', '-f', file);
}

function stored(resource: string, namespace: string, name: string): Any {
  const obj = server.store.get(resource, namespace, name);
  assert.ok(obj, `${resource} ${namespace}/${name} is stored`);
  return obj as Any;
}

/** The hook calls for a resource (and subresource), optionally of one operation. */
function callsFor(resource: string, subResource?: string, operation?: string): AdmissionHookRequest[] {
  return calls.filter((c) => c.resource.resource === resource && c.subResource === subResource && (operation === undefined || c.operation === operation));
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  // Generous: only bounds a hang, never decides the outcome of a passing test.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function podsOf(namespace: string, ownerUid: string): Any[] {
  return (server.store.list('pods', namespace) as Any[]).filter((p) => (p['metadata']['ownerReferences'] ?? []).some((o: Any) => o['uid'] === ownerUid));
}

function createNamespace(name: string): void {
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

function workload(kind: string, name: string, image: string, extra: Any = {}): Any {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
      ...extra,
    },
  };
}

describe('discovery', () => {
  it('serves every pod-bearing kind with its short names, categories and subresources', async () => {
    const res = await kubectl('api-resources', '--no-headers');
    const rows = res.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const row = (name: string): string[] | undefined => rows.find((r) => r[0] === name);
    assert.deepEqual(row('statefulsets'), ['statefulsets', 'sts', 'apps/v1', 'true', 'StatefulSet']);
    assert.deepEqual(row('daemonsets'), ['daemonsets', 'ds', 'apps/v1', 'true', 'DaemonSet']);
    assert.deepEqual(row('replicationcontrollers'), ['replicationcontrollers', 'rc', 'v1', 'true', 'ReplicationController']);
    assert.deepEqual(row('cronjobs'), ['cronjobs', 'cj', 'batch/v1', 'true', 'CronJob']);
    assert.deepEqual(row('jobs'), ['jobs', 'batch/v1', 'true', 'Job']);
    assert.deepEqual(row('events'), ['events', 'ev', 'v1', 'true', 'Event']);
    const core = (await (await fetch(new URL('/api/v1', server.url), { headers: { Authorization: `Bearer ${server.token()}` } })).json()) as Any;
    const entry = (name: string): Any => (core['resources'] as Any[]).find((r) => r['name'] === name) ?? {};
    assert.deepEqual([entry('pods/ephemeralcontainers')['kind'], entry('pods/ephemeralcontainers')['verbs']], ['Pod', ['get', 'patch', 'update']]);
    assert.deepEqual([entry('replicationcontrollers/scale')['group'], entry('replicationcontrollers/scale')['kind']], ['autoscaling', 'Scale']);
    assert.deepEqual(entry('pods')['categories'], ['all']);
  });
});

describe('StatefulSet', () => {
  const ns = 'sts';
  before(() => createNamespace(ns));

  it('apply: defaults, CREATE review, ordinal Pods from the statefulset-controller, rollout status', async () => {
    await applyJson('sts', { ...workload('StatefulSet', 'db', 'busybox:1.36', { replicas: 2, serviceName: 'db' }), metadata: { name: 'db', namespace: ns } });
    const sts = stored('statefulsets', ns, 'db');
    assert.deepEqual(
      [sts['spec']['podManagementPolicy'], sts['spec']['updateStrategy'], sts['spec']['revisionHistoryLimit'], sts['spec']['persistentVolumeClaimRetentionPolicy']],
      ['OrderedReady', { type: 'RollingUpdate', rollingUpdate: { partition: 0 } }, 10, { whenDeleted: 'Retain', whenScaled: 'Retain' }],
    );
    assert.equal(sts['metadata']['generation'], 1);
    const create = callsFor('statefulsets', undefined, 'CREATE')[0];
    assert.deepEqual(create?.kind, { group: 'apps', version: 'v1', kind: 'StatefulSet' });
    assert.equal(create?.options?.fieldManager, 'kubectl-client-side-apply');
    await kubectl('rollout', 'status', 'sts/db', '-n', ns, '--timeout=10s');
    const pods = podsOf(ns, sts['metadata']['uid']);
    assert.deepEqual(pods.map((p) => p['metadata']['name']), ['db-0', 'db-1']);
    const pod = pods[0] as Any;
    const status = stored('statefulsets', ns, 'db')['status'];
    assert.equal(pod['metadata']['labels']['controller-revision-hash'], status['updateRevision']);
    assert.deepEqual([pod['metadata']['labels']['statefulset.kubernetes.io/pod-name'], pod['metadata']['labels']['apps.kubernetes.io/pod-index']], ['db-0', '0']);
    assert.deepEqual([pod['spec']['hostname'], pod['spec']['subdomain']], ['db-0', 'db']);
    assert.deepEqual(pod['metadata']['ownerReferences'], [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: sts['metadata']['uid'], controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual([status['replicas'], status['readyReplicas'], status['currentRevision'], status['observedGeneration']], [2, 2, status['updateRevision'], 1]);
    const table = await kubectl('get', 'sts', '-n', ns);
    assert.match(table.stdout, /^NAME\s+READY\s+AGE\ndb\s+2\/2\s+\d+s\n$/);
  });

  it('set image replaces the pods with the new revision; scale goes through statefulsets/scale', async () => {
    const before = stored('statefulsets', ns, 'db');
    await kubectl('set', 'image', 'sts/db', 'main=busybox:1.37', '-n', ns);
    await kubectl('rollout', 'status', 'sts/db', '-n', ns, '--timeout=10s');
    const sts = stored('statefulsets', ns, 'db');
    assert.equal(sts['metadata']['generation'], 2);
    assert.notEqual(sts['status']['updateRevision'], before['status']['updateRevision']);
    await waitFor('pods at the new revision', () => podsOf(ns, sts['metadata']['uid']).every((p) => p['spec']['containers'][0]['image'] === 'busybox:1.37'));
    const deletes = callsFor('pods', undefined, 'DELETE').filter((c) => c.namespace === ns);
    assert.deepEqual(new Set(deletes.map((c) => c.userInfo.username)), new Set(['system:serviceaccount:kube-system:statefulset-controller']));
    await kubectl('scale', 'sts/db', '--replicas=1', '-n', ns);
    const scale = callsFor('statefulsets', 'scale').at(-1);
    assert.deepEqual([scale?.kind.kind, scale?.object.spec.replicas, scale?.oldObject.spec.replicas], ['Scale', 1, 2]);
    await waitFor('db-1 deleted', () => server.store.get('pods', ns, 'db-1') === undefined);
  });

  it('rejects spec changes outside the updatable fields and a selector the template does not match', async () => {
    const patch = await run('patch', 'sts/db', '-n', ns, '--type=merge', '-p', '{"spec":{"serviceName":"other"}}');
    assert.equal(patch.code, 1);
    assert.match(
      patch.stderr,
      /The StatefulSet "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden/,
    );
    const file = join(dir, 'bad-sts.json');
    const bad = workload('StatefulSet', 'bad', 'busybox:1.36');
    bad['spec']['template']['metadata']['labels'] = { app: 'other' };
    await writeFile(file, JSON.stringify(bad));
    const res = await run('create', '-f', file, '-n', ns);
    assert.match(res.stderr, /The StatefulSet "bad" is invalid: spec\.template\.metadata\.labels: Invalid value: \{"app":"other"\}: `selector` does not match template `labels`/);
  });

  it('delete cascades to the pods', async () => {
    const uid = stored('statefulsets', ns, 'db')['metadata']['uid'];
    await kubectl('delete', 'sts', 'db', '-n', ns);
    assert.deepEqual(podsOf(ns, uid), []);
  });
});

describe('DaemonSet', () => {
  const ns = 'ds';
  before(() => createNamespace(ns));

  it('create: one pod pinned to the node with the daemon tolerations; rollout status; Table', async () => {
    const file = join(dir, 'ds.json');
    await writeFile(file, JSON.stringify({ ...workload('DaemonSet', 'agent', 'busybox:1.36'), metadata: { name: 'agent', namespace: ns } }));
    await kubectl('create', '-f', file);
    await kubectl('rollout', 'status', 'ds/agent', '-n', ns, '--timeout=10s');
    const ds = stored('daemonsets', ns, 'agent');
    assert.deepEqual(ds['spec']['updateStrategy'], { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    assert.equal(ds['metadata']['annotations']['deprecated.daemonset.template.generation'], '1');
    const [pod, ...rest] = podsOf(ns, ds['metadata']['uid']);
    assert.equal(rest.length, 0);
    assert.equal(pod?.['spec']['nodeName'], 'tracegate-node-1');
    assert.deepEqual(pod?.['spec']['affinity']['nodeAffinity']['requiredDuringSchedulingIgnoredDuringExecution']['nodeSelectorTerms'][0]['matchFields'], [
      { key: 'metadata.name', operator: 'In', values: ['tracegate-node-1'] },
    ]);
    assert.ok((pod?.['spec']['tolerations'] as Any[]).some((t) => t['key'] === 'node.kubernetes.io/unschedulable' && t['effect'] === 'NoSchedule'));
    assert.equal(pod?.['metadata']['labels']['pod-template-generation'], '1');
    const table = await kubectl('get', 'ds', '-n', ns);
    assert.match(table.stdout, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+NODE SELECTOR\s+AGE\nagent\s+1\s+1\s+1\s+1\s+1\s+<none>\s+\d+s\n$/);
  });

  it('set image bumps the template generation and replaces the pod; the selector is immutable', async () => {
    await kubectl('set', 'image', 'ds/agent', 'main=busybox:1.37', '-n', ns);
    const ds = stored('daemonsets', ns, 'agent');
    assert.deepEqual([ds['metadata']['generation'], ds['metadata']['annotations']['deprecated.daemonset.template.generation']], [2, '2']);
    await waitFor('the replaced daemon pod', () => podsOf(ns, ds['metadata']['uid']).map((p) => p['metadata']['labels']['pod-template-generation']).join() === '2');
    const res = await run('patch', 'ds/agent', '-n', ns, '--type=merge', '-p', '{"spec":{"selector":{"matchLabels":{"app":"agent","x":"y"}},"template":{"metadata":{"labels":{"x":"y"}}}}}');
    assert.match(res.stderr, /The DaemonSet "agent" is invalid: spec\.selector: Invalid value: \{"matchLabels":\{"app":"agent","x":"y"\}\}: field is immutable/);
    await kubectl('delete', 'ds', 'agent', '-n', ns);
    assert.deepEqual(server.store.list('pods', ns), []);
  });
});

describe('ReplicaSet and ReplicationController', () => {
  const ns = 'rc';
  before(() => createNamespace(ns));

  it('a ReplicationController gets its selector from the template and pods from the replication-controller', async () => {
    await applyJson('rc', {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'legacy', namespace: ns },
      spec: { replicas: 2, template: { metadata: { labels: { app: 'legacy' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25' }] } } },
    });
    const rc = stored('replicationcontrollers', ns, 'legacy');
    assert.deepEqual([rc['spec']['selector'], rc['metadata']['labels']], [{ app: 'legacy' }, { app: 'legacy' }]);
    await waitFor('two ready replicas', () => stored('replicationcontrollers', ns, 'legacy')['status']['readyReplicas'] === 2);
    const creates = callsFor('pods', undefined, 'CREATE').filter((c) => c.namespace === ns);
    assert.equal(creates.length, 2);
    assert.deepEqual(creates[0]?.userInfo, {
      username: 'system:serviceaccount:kube-system:replication-controller',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
    });
    assert.equal(creates[0]?.name, '', 'a generateName create has no name at admission');
    assert.equal(creates[0]?.object.metadata.generateName, 'legacy-');
    const table = await kubectl('get', 'rc', '-n', ns, '-o', 'wide');
    assert.match(table.stdout, /^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\nlegacy\s+2\s+2\s+2\s+\d+s\s+c\s+nginx:1\.25\s+app=legacy\n$/);
  });

  it('scale through replicationcontrollers/scale and replicasets/scale; scale-down deletes pods', async () => {
    await kubectl('scale', 'rc/legacy', '--replicas=1', '-n', ns);
    const scale = callsFor('replicationcontrollers', 'scale').at(-1);
    assert.deepEqual([scale?.kind, scale?.resource], [{ group: 'autoscaling', version: 'v1', kind: 'Scale' }, { group: '', version: 'v1', resource: 'replicationcontrollers' }]);
    assert.equal(scale?.object.status.selector, 'app=legacy');
    const uid = stored('replicationcontrollers', ns, 'legacy')['metadata']['uid'];
    await waitFor('one pod left', () => podsOf(ns, uid).length === 1);
    // A new template does not touch the running pods: a ReplicationController only counts them.
    await kubectl('set', 'image', 'rc/legacy', 'c=nginx:1.26', '-n', ns);
    assert.deepEqual([stored('replicationcontrollers', ns, 'legacy')['metadata']['generation'], podsOf(ns, uid)[0]?.['spec']['containers'][0]['image']], [3, 'nginx:1.25']);
    await applyJson('rs', { ...workload('ReplicaSet', 'bare', 'nginx:1.25', { replicas: 1 }), metadata: { name: 'bare', namespace: ns } });
    await kubectl('scale', 'rs/bare', '--replicas=3', '-n', ns);
    assert.equal(callsFor('replicasets', 'scale').at(-1)?.object.spec.replicas, 3);
    const rsUid = stored('replicasets', ns, 'bare')['metadata']['uid'];
    await waitFor('three pods', () => podsOf(ns, rsUid).length === 3);
    await kubectl('delete', 'rc', 'legacy', '-n', ns);
    await kubectl('delete', 'rs', 'bare', '-n', ns);
    assert.deepEqual(server.store.list('pods', ns), []);
  });
});

describe('Job and CronJob', () => {
  const ns = 'batch';
  before(() => createNamespace(ns));

  it('create cronjob and create job --from: protobuf bodies, generated selector, a pod from the job-controller', async () => {
    await kubectl('create', 'cronjob', 'report', '--image=busybox:1.36', '--schedule=*/5 * * * *', '-n', ns, '--', 'echo', 'hi');
    const cj = stored('cronjobs', ns, 'report');
    assert.deepEqual([cj['spec']['concurrencyPolicy'], cj['spec']['suspend'], cj['spec']['successfulJobsHistoryLimit'], cj['spec']['failedJobsHistoryLimit']], ['Allow', false, 3, 1]);
    await kubectl('create', 'job', 'manual', '--from=cronjob/report', '-n', ns);
    const post = server.requests.find((r) => r.method === 'POST' && r.path === `/apis/batch/v1/namespaces/${ns}/jobs`);
    assert.equal(post?.contentType, 'application/vnd.kubernetes.protobuf');
    const job = stored('jobs', ns, 'manual');
    const uid = job['metadata']['uid'];
    assert.deepEqual(job['spec']['selector'], { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    assert.deepEqual(job['spec']['template']['metadata']['labels'], { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': 'manual', 'controller-uid': uid, 'job-name': 'manual' });
    assert.deepEqual([job['metadata']['ownerReferences'][0]['kind'], job['metadata']['annotations']['cronjob.kubernetes.io/instantiate']], ['CronJob', 'manual']);
    assert.deepEqual([job['spec']['backoffLimit'], job['spec']['completionMode'], job['spec']['podReplacementPolicy']], [6, 'NonIndexed', 'TerminatingOrFailed']);
    await waitFor('the job to have a ready pod', () => stored('jobs', ns, 'manual')['status']['ready'] === 1);
    const [pod] = podsOf(ns, uid);
    assert.deepEqual(pod?.['metadata']['finalizers'], ['batch.kubernetes.io/job-tracking']);
    assert.equal(callsFor('pods', undefined, 'CREATE').find((c) => c.namespace === ns)?.userInfo.username, 'system:serviceaccount:kube-system:job-controller');
    const table = await kubectl('get', 'jobs,cronjobs', '-n', ns);
    assert.match(table.stdout, /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\njob\.batch\/manual\s+Running\s+0\/1\s+\d+s\s+\d+s\n/);
    assert.match(table.stdout, /\nNAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE\ncronjob\.batch\/report\s+\*\/5 \* \* \* \*\s+<none>\s+False\s+0\s+<none>\s+\d+s\n$/);
  });

  it('the Job template is immutable, its restartPolicy must be OnFailure or Never, a CronJob schedule must parse', async () => {
    const res = await run('set', 'image', 'job/manual', 'report=busybox:1.37', '-n', ns);
    assert.match(res.stderr, /Job\.batch "manual" is invalid: spec\.template: Invalid value: \{"metadata":.*: field is immutable/);
    const file = join(dir, 'job-always.json');
    await writeFile(file, JSON.stringify({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'always', namespace: ns }, spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } } }));
    const always = await run('create', '-f', file);
    assert.match(always.stderr, /The Job "always" is invalid: spec\.template\.spec\.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"/);
    const cron = await run('create', 'cronjob', 'bad', '--image=busybox', '--schedule=*/5', '-n', ns);
    assert.match(cron.stderr, /spec\.schedule: Invalid value: "\*\/5": expected exactly 5 fields, found 1: \[\*\/5\]/);
  });

  it('writes to jobs/status reach the hook as the Job with subResource status', async () => {
    const res = await fetch(new URL(`/apis/batch/v1/namespaces/${ns}/jobs/manual/status`, server.url), {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': 'application/merge-patch+json' },
      body: JSON.stringify({ status: { conditions: [{ type: 'Suspended', status: 'False' }] } }),
    });
    assert.equal(res.status, 200);
    const call = callsFor('jobs', 'status').at(-1);
    assert.deepEqual([call?.operation, call?.kind.kind, call?.object.status.conditions[0].type], ['UPDATE', 'Job', 'Suspended']);
  });

  it('a CronJob\'s job template may change; deleting the CronJob takes its Job and the Job\'s pod with it', async () => {
    await kubectl('set', 'image', 'cronjob/report', 'report=busybox:1.37', '-n', ns);
    const cj = stored('cronjobs', ns, 'report');
    assert.deepEqual([cj['metadata']['generation'], cj['spec']['jobTemplate']['spec']['template']['spec']['containers'][0]['image']], [2, 'busybox:1.37']);
    assert.equal(callsFor('cronjobs', undefined, 'UPDATE').at(-1)?.options?.fieldManager, 'kubectl-set');
    await kubectl('delete', 'cronjob', 'report', '-n', ns);
    assert.equal(server.store.get('jobs', ns, 'manual'), undefined);
    assert.deepEqual(server.store.list('pods', ns), []);
  });
});

describe('Pods and kubectl debug', () => {
  const ns = 'pods';
  before(() => createNamespace(ns));

  it('run: the in-tree admission plugins and defaults, then the kubelet stand-in makes it Ready', async () => {
    await kubectl('run', 'web', '--image=nginx:1.25', '-n', ns);
    const call = callsFor('pods', undefined, 'CREATE').find((c) => c.namespace === ns);
    assert.equal(call?.userInfo.username, 'admin');
    const spec = call?.object.spec;
    assert.deepEqual([spec.serviceAccountName, spec.serviceAccount, spec.priority, spec.preemptionPolicy, spec.enableServiceLinks], ['default', 'default', 0, 'PreemptLowerPriority', true]);
    assert.match(spec.volumes[0].name, /^kube-api-access-[a-z0-9]{5}$/);
    assert.deepEqual(spec.containers[0].volumeMounts, [{ name: spec.volumes[0].name, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]);
    assert.deepEqual(spec.tolerations.map((t: Any) => `${t.key}:${t.tolerationSeconds}`), ['node.kubernetes.io/not-ready:300', 'node.kubernetes.io/unreachable:300']);
    await kubectl('wait', '--for=condition=Ready', 'pod/web', '-n', ns, '--timeout=10s');
    const pod = stored('pods', ns, 'web');
    assert.deepEqual([pod['metadata']['generation'], pod['status']['qosClass'], pod['status']['phase']], [1, 'BestEffort', 'Running']);
    const wide = await kubectl('get', 'pods', '-n', ns, '-o', 'wide', '--field-selector', 'status.phase=Running,spec.nodeName=tracegate-node-1');
    assert.match(wide.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES\nweb\s+1\/1\s+Running\s+0\s+\d+s\s+10\.244\.\d+\.\d+\s+tracegate-node-1\s+<none>\s+<none>\n$/);
  });

  it('only images (and the other ValidatePodUpdate fields) change on a Pod; ephemeral containers only through the subresource', async () => {
    await kubectl('set', 'image', 'pod/web', 'web=nginx:1.26', '-n', ns);
    assert.deepEqual([stored('pods', ns, 'web')['spec']['containers'][0]['image'], stored('pods', ns, 'web')['metadata']['generation']], ['nginx:1.26', 2]);
    const env = await run('set', 'env', 'pod/web', 'A=1', '-n', ns);
    assert.match(
      env.stderr,
      /Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than `spec\.containers\[\*\]\.image`,`spec\.initContainers\[\*\]\.image`,`spec\.activeDeadlineSeconds`,`spec\.tolerations` \(only additions to existing tolerations\),`spec\.terminationGracePeriodSeconds` \(allow it to be set to 1 if it was previously negative\)/,
    );
    const sneak = await run('patch', 'pod/web', '-n', ns, '-p', '{"spec":{"ephemeralContainers":[{"name":"x","image":"busybox"}]}}');
    assert.match(sneak.stderr, /pod updates may not change fields other than/);
  });

  it('debug: GET then a strategic merge PATCH of pods/<name>/ephemeralcontainers, admitted as a v1 Pod', async () => {
    await kubectl('debug', 'web', '-n', ns, '--image=busybox:1.36', '--container=dbg');
    const patch = server.requests.find((r) => r.method === 'PATCH' && r.path === `/api/v1/namespaces/${ns}/pods/web/ephemeralcontainers`);
    assert.equal(patch?.contentType, 'application/strategic-merge-patch+json');
    assert.deepEqual((patch?.body as Any)['spec']['ephemeralContainers'][0]['name'], 'dbg');
    const call = callsFor('pods', 'ephemeralcontainers').at(-1);
    assert.deepEqual([call?.operation, call?.kind, call?.name], ['UPDATE', { group: '', version: 'v1', kind: 'Pod' }, 'web']);
    assert.equal(call?.object.spec.containers[0].image, 'nginx:1.26', 'the hook sees the whole Pod');
    assert.equal(call?.object.spec.ephemeralContainers[0].terminationMessagePath, '/dev/termination-log');
    await kubectl('debug', 'web', '-n', ns, '--image=busybox:1.36', '--container=dbg2', '--target=web');
    const pod = stored('pods', ns, 'web');
    assert.deepEqual(pod['spec']['ephemeralContainers'].map((c: Any) => `${c.name}:${c.targetContainerName ?? ''}`), ['dbg:', 'dbg2:web']);
    // kubectl debug sends no fieldManager: the User-Agent names the manager.
    assert.ok(pod['metadata']['managedFields'].some((m: Any) => m['manager'] === 'kubectl' && m['subresource'] === 'ephemeralcontainers'));
    const missing = await run('debug', 'web', '-n', ns, '--image=busybox:1.36', '--container=dbg3', '--target=nope');
    assert.match(missing.stderr, /spec\.ephemeralContainers\[2\]\.targetContainerName: Not found: "nope"/);
    await kubectl('delete', 'pod', 'web', '-n', ns);
    assert.equal(callsFor('pods', undefined, 'DELETE').at(-1)?.oldObject.metadata.name, 'web');
  });
});
