/**
 * `tracegate rollback` end to end against fakes: a workload API that behaves like the apiserver's PUT
 * (resourceVersion precondition → 409, defaults filled in, admission that may refuse or mutate), an
 * in-memory Helm release storage and in-memory trails. The rollback must record like `helm rollback`
 * (pending → deployed "Rollback to N", the previous revision superseded), never report success for a
 * state no revision had, and fail loudly — revision `failed`, the apiserver's words — when it cannot land.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { TracegateError } from '../../src/errors.js';
import type { KubeObject } from '../../src/k8s/types.js';
import type { RetryOptions } from '../../src/kube/retry.js';
import { breakGlassPastGate } from '../../src/recorder/provenance.js';
import { defaultAdoptedName } from '../../src/recorder/record-context.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import { ReleaseExistsError, type ReleaseStorage, type StoredRelease } from '../../src/recorder/storage.js';
import type { TrailEntry, TrailObject } from '../../src/recorder/trail.js';
import { createRollbackRepair, REPAIR_FIELD_MANAGER } from '../../src/rollback/repair.js';
import { templateDiff } from '../../src/rollback/restore.js';
import { createRollback, ROLLBACK_FIELD_MANAGER, runRollbacks, type RollbackRequest, type WorkloadApi } from '../../src/rollback/rollback.js';
import { workloadKind } from '../../src/workload/kinds.js';
import { stampAsGate, TEST_KEYRING } from '../support/stamps.js';

const P = 'tracegate.io/';
const NOW = new Date('2026-11-22T10:00:00.000Z');
/** managedFields times have second precision. */
const NOW_SECONDS = '2026-11-22T10:00:00Z';
const NO_RETRY: RetryOptions = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };
const DEPLOYMENT = workloadKind('Deployment')!;
const REFUSAL = 'admission webhook "validate.tracegate.io" denied the request: provenance: the change has no approver';
const CONFLICT_MESSAGE = 'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again';

type Any = Record<string, any>;

function manifest(image: string): string {
  return (
    '---\n# Source: web/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n' +
    '---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 2\n' +
    '  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n' +
    `        - name: web\n          image: "${image}"\n          env:\n            - name: MODE\n              value: prod\n`
  );
}

function rev(version: number, status: string, image: string, labels: Record<string, string> = {}): StoredRelease {
  const release: HelmRelease = {
    name: 'web',
    namespace: 'demo',
    version,
    manifest: manifest(image),
    info: { first_deployed: '2026-01-01T00:00:00Z', last_deployed: `2026-0${version}-02T00:00:00Z`, description: version === 1 ? 'Install complete' : 'Upgrade complete', status },
    chart: { metadata: { name: 'web', version: `0.${version}.0` } },
    config: { tag: `v${version}` },
  };
  return { release, labels };
}

/** Revision 1 was verified (its provenance labels), 2 and 3 came after; 3 is deployed. */
function defaultHistory(): StoredRelease[] {
  return [
    rev(1, 'superseded', 'nginx:1.25', { team: 'shop', [`${P}recorded-by`]: 'tracegate', [`${P}commit`]: 'c1', [`${P}approver`]: 'bob', [`${P}verified`]: 'true' }),
    rev(2, 'superseded', 'nginx:1.26', { team: 'shop' }),
    rev(3, 'deployed', 'nginx:1.27', { team: 'shop' }),
  ];
}

/** The Deployment of revision `image`'s manifest as stored: Helm ownership, an old gate's stamps, a patched-in sidecar. */
function liveWorkload(image = 'nginx:1.27'): KubeObject {
  const doc = parseYaml(manifest(image).split('---\n')[2]!) as Any;
  doc.metadata = {
    ...doc.metadata,
    namespace: 'demo',
    uid: 'uid-1',
    resourceVersion: '100',
    generation: 4,
    creationTimestamp: '2026-01-01T00:00:00Z',
    annotations: {
      'meta.helm.sh/release-name': 'web',
      'meta.helm.sh/release-namespace': 'demo',
      'deployment.kubernetes.io/revision': '4',
      [`${P}change-commit`]: 'c3',
      [`${P}changed-by`]: 'mallory',
      [`${P}break-glass-by`]: `old-oncall/2026-10-01T00:00:00.000Z`,
      'kubernetes.io/change-cause': 'kubectl patch',
    },
    labels: { app: 'web', 'app.kubernetes.io/managed-by': 'Helm' },
    managedFields: [{ manager: 'kubectl-patch', operation: 'Update', time: '2026-11-21T00:00:00Z' }],
  };
  doc.spec.replicas = 5;
  doc.spec.template.spec.containers.push({ name: 'sidecar', image: 'envoy:1' });
  return withDefaults(doc as KubeObject);
}

/** What the apiserver fills in on every write (SetDefaults_Container, SetDefaults_PodSpec). */
function withDefaults(obj: KubeObject): KubeObject {
  const template = (obj.spec as Any | undefined)?.template;
  if (!template?.spec) return obj;
  Object.assign(template.spec, { restartPolicy: template.spec.restartPolicy ?? 'Always', dnsPolicy: template.spec.dnsPolicy ?? 'ClusterFirst' });
  for (const c of template.spec.containers ?? []) Object.assign(c, { terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: c.imagePullPolicy ?? 'IfNotPresent' });
  return obj;
}

function status(code: number, reason: string, message: string): ApiException<string> {
  return new ApiException(code, message, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }), {});
}

interface Call {
  op: 'read' | 'replace' | 'create';
  dryRun?: boolean;
  fieldManager?: string;
  body?: KubeObject;
}

interface ClusterOptions {
  /** Runs before each write's precondition check (a concurrent writer). */
  beforeWrite?: (cluster: FakeCluster, call: Call) => void;
  /** Admission after defaulting: may throw (a refusal) or change the object (a mutating webhook). */
  admit?: (obj: KubeObject, call: Call) => void;
}

interface FakeCluster {
  api: WorkloadApi;
  calls: Call[];
  stored: KubeObject | undefined;
  /** Another client's write: bumps resourceVersion as the apiserver does. */
  writeAsOther(change: (obj: Any) => void): void;
}

/** One workload behind an apiserver-like PUT/POST: resourceVersion preconditions, defaults, admission, dry-run. */
function createFakeCluster(initial: KubeObject | undefined, opts: ClusterOptions = {}): FakeCluster {
  let rv = 100;
  const write = (body: KubeObject, call: Call, existing: KubeObject | undefined): KubeObject => {
    const obj = withDefaults(structuredClone(body));
    opts.admit?.(obj, call);
    const meta = (obj.metadata ??= {});
    meta.uid = existing?.metadata?.uid ?? 'uid-new';
    meta.creationTimestamp = existing?.metadata?.creationTimestamp ?? NOW_SECONDS;
    meta.generation = (existing?.metadata?.generation ?? 0) + 1;
    // The writer owns the annotations it set (fieldsV1), as the apiserver's field manager records.
    const annotations = Object.fromEntries(Object.keys(meta.annotations ?? {}).map((k) => [`f:${k}`, {}]));
    meta.managedFields = [{ manager: call.fieldManager!, operation: 'Update', apiVersion: 'apps/v1', time: NOW_SECONDS, fieldsV1: { 'f:metadata': { 'f:annotations': annotations } } }];
    meta.resourceVersion = call.dryRun ? (existing?.metadata?.resourceVersion ?? '') : String(++rv);
    if (!call.dryRun) cluster.stored = structuredClone(obj);
    return obj;
  };
  const cluster: FakeCluster = {
    calls: [],
    stored: initial && structuredClone(initial),
    writeAsOther(change) {
      const obj = cluster.stored as Any;
      change(obj);
      obj.metadata.resourceVersion = String(++rv);
    },
    api: {
      async read(kind, namespace, name) {
        cluster.calls.push({ op: 'read' });
        assert.equal(kind.kind, 'Deployment');
        const s = cluster.stored;
        return s && s.metadata?.namespace === namespace && s.metadata.name === name ? structuredClone(s) : undefined;
      },
      async replace(body, o) {
        const call: Call = { op: 'replace', dryRun: o.dryRun, fieldManager: o.fieldManager, body: structuredClone(body) };
        cluster.calls.push(call);
        opts.beforeWrite?.(cluster, call);
        if (!cluster.stored) throw status(404, 'NotFound', 'deployments.apps "web" not found');
        // The PUT precondition (k8s.io/apiserver registry/generic/registry/store.go Update): a stale resourceVersion is a 409.
        if (body.metadata?.resourceVersion !== cluster.stored.metadata?.resourceVersion) throw status(409, 'Conflict', CONFLICT_MESSAGE);
        return write(body, call, cluster.stored);
      },
      async create(body, o) {
        const call: Call = { op: 'create', dryRun: o.dryRun, fieldManager: o.fieldManager, body: structuredClone(body) };
        cluster.calls.push(call);
        if (cluster.stored) throw status(409, 'AlreadyExists', 'deployments.apps "web" already exists');
        // A create carrying a resourceVersion is refused (rest.BeforeCreate).
        if (body.metadata?.resourceVersion) throw status(422, 'Invalid', 'metadata.resourceVersion: Invalid value: must be empty');
        return write(body, call, undefined);
      },
    },
  };
  return cluster;
}

/** Helm's records for one release, in memory, with Helm's driver semantics (create fails when the revision exists). */
function createMemoryStorage(initial: StoredRelease[]) {
  const records = new Map<number, StoredRelease>(initial.map((r) => [r.release.version, structuredClone(r)]));
  const log: string[] = [];
  const storage: ReleaseStorage = {
    name: 'secret',
    async history(namespace, release) {
      return [...records.values()].filter((r) => r.release.namespace === namespace && r.release.name === release).sort((a, b) => a.release.version - b.release.version).map((r) => structuredClone(r));
    },
    async get(_namespace, _release, version) {
      const r = records.get(version);
      return r && structuredClone(r);
    },
    async create(rel, labels) {
      if (records.has(rel.version)) throw new ReleaseExistsError(rel.namespace ?? '', rel.name, rel.version);
      records.set(rel.version, structuredClone({ release: rel, labels }));
      log.push(`create ${rel.version} ${rel.info.status}`);
    },
    async update(rel, labels) {
      assert.ok(records.has(rel.version), `update of missing revision ${rel.version}`);
      records.set(rel.version, structuredClone({ release: rel, labels }));
      log.push(`update ${rel.version} ${rel.info.status}`);
    },
    async delete(_namespace, _release, version) {
      records.delete(version);
      log.push(`delete ${version}`);
    },
  };
  return { storage, log, record: (version: number) => records.get(version) };
}

function trailOf(entries: TrailEntry[], release?: { name: string; namespace: string }): TrailObject {
  return {
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'ChangeTrail',
    metadata: { name: 'deployment.web', namespace: 'demo', labels: {} },
    spec: { workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, ...(release ? { release } : {}), entries },
  };
}

interface Setup {
  live?: KubeObject | undefined;
  history?: StoredRelease[];
  trail?: TrailObject;
  keyring?: boolean;
  retry?: RetryOptions;
}

function setup(s: Setup = {}, opts: ClusterOptions = {}) {
  const cluster = createFakeCluster('live' in s ? s.live : liveWorkload(), opts);
  const mem = createMemoryStorage(s.history ?? defaultHistory());
  const trailReads: string[] = [];
  const trails = {
    async all() {
      trailReads.push('all');
      return s.trail ? [structuredClone(s.trail)] : [];
    },
    async head() {
      trailReads.push('head');
      return s.trail && structuredClone(s.trail);
    },
  };
  const rollback = createRollback({ workloads: cluster.api, storage: mem.storage, trails, prefix: P, adoptedName: defaultAdoptedName, retry: s.retry ?? NO_RETRY, now: () => NOW, ...(s.keyring ? { keyring: TEST_KEYRING } : {}) });
  return { cluster, mem, rollback, trailReads };
}

function request(over: Partial<RollbackRequest> = {}): RollbackRequest {
  return { namespace: 'demo', name: 'web', kind: DEPLOYMENT, revision: 1, priority: 0, ...over };
}

function revisionDoc(version: number): KubeObject {
  const image = `nginx:1.2${4 + version}`;
  return { ...(parseYaml(manifest(image).split('---\n')[2]!) as KubeObject), kind: 'Deployment' };
}

async function rejected(p: Promise<unknown>): Promise<TracegateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TracegateError, `expected a TracegateError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the rollback to fail');
}

function containersOf(obj: KubeObject | undefined): { name: string; image: string }[] {
  return ((obj?.spec as Any)?.template?.spec?.containers ?? []).map((c: Any) => ({ name: c.name, image: c.image }));
}

const writes = (cluster: FakeCluster) => cluster.calls.filter((c) => c.op !== 'read');

describe('rollback run', () => {
  it('writes "Rollback to N" pending, replaces the workload with revision N exactly, then deploys it and supersedes the previous one', async () => {
    let pendingAtWrite: string | undefined;
    const { cluster, mem, rollback } = setup({}, { beforeWrite: () => void (pendingAtWrite = String(mem.record(4)?.release.info.status)) });
    const result = await rollback.run(request());
    assert.deepEqual(result, { release: 'demo/web', from: 3, to: 1, revision: 4, passedOver: [] });
    assert.equal(pendingAtWrite, 'pending-rollback', 'the revision is pending while the workload is written');
    assert.deepEqual(mem.log, ['create 4 pending-rollback', 'update 3 superseded', 'update 4 deployed']);

    const r4 = mem.record(4)!;
    assert.equal(r4.release.info.status, 'deployed');
    assert.equal(r4.release.info.description, 'Rollback to 1');
    assert.equal(r4.release.manifest, defaultHistory()[0]!.release.manifest);
    assert.deepEqual(r4.release.config, { tag: 'v1' });
    assert.deepEqual(r4.release.chart, defaultHistory()[0]!.release.chart);
    assert.equal(r4.release.info.first_deployed, '2026-01-01T00:00:00Z');
    assert.equal(r4.release.info.last_deployed, NOW.toISOString());
    assert.equal(mem.record(1)!.release.info.status, 'superseded');
    assert.equal(mem.record(2)!.release.info.status, 'superseded');

    const live = cluster.stored!;
    assert.deepEqual(containersOf(live), [{ name: 'web', image: 'nginx:1.25' }], 'the patched-in sidecar is gone');
    assert.deepEqual(templateDiff(revisionDoc(1), live, P), []);
    assert.equal(live.metadata?.uid, 'uid-1');
    assert.equal((live.spec as Any).replicas, 2);

    const [write] = writes(cluster);
    assert.equal(writes(cluster).length, 1);
    assert.equal(write!.op, 'replace');
    assert.equal(write!.dryRun, false);
    assert.equal(write!.fieldManager, ROLLBACK_FIELD_MANAGER);
    assert.equal(write!.body!.metadata?.resourceVersion, '100', 'a guarded update of the version read');
  });

  it('labels the revision like Helm (custom labels carried) plus the rollback\'s own, never the target\'s provenance or stale stamps', async () => {
    const { mem, cluster, rollback } = setup();
    await rollback.run(request());
    const labels = mem.record(4)!.labels;
    assert.equal(labels.team, 'shop');
    assert.equal(labels[`${P}rollback-of`], '1');
    assert.equal(labels[`${P}recorded-by`], 'tracegate');
    assert.equal(labels[`${P}recorded-revision`], '4');
    assert.equal(labels[`${P}verified`], undefined, 'without the key the CLI does not claim a verdict');
    assert.equal(labels[`${P}commit`], undefined, 'revision 1\'s commit label describes revision 1, and the live object\'s stamp c3 is stale');
    assert.equal(labels[`${P}changed-by`], undefined);
    assert.equal(mem.record(3)!.labels[`${P}rollback-of`], undefined);

    const a = writes(cluster)[0]!.body!.metadata!.annotations!;
    assert.equal(a[`${P}commit`], 'c1', 'the target revision\'s commit is the rollback\'s input to the gate');
    assert.equal(a[`${P}approver`], 'bob');
    assert.equal(a['kubernetes.io/change-cause'], 'Rollback to 1');
    assert.equal(a['meta.helm.sh/release-name'], 'web');
    assert.equal(a['meta.helm.sh/release-namespace'], 'demo');
    for (const stale of [`${P}change-commit`, `${P}changed-by`, `${P}break-glass-by`]) assert.equal(a[stale], undefined, stale);
    assert.equal(writes(cluster)[0]!.body!.metadata!.labels!['app.kubernetes.io/managed-by'], 'Helm');
  });

  it('takes approver and commit from the request over the target revision\'s', async () => {
    const s = setup();
    await s.rollback.run(request({ approver: 'carol', commit: 'feed' }));
    const a = writes(s.cluster)[0]!.body!.metadata!.annotations!;
    assert.equal(a[`${P}approver`], 'carol');
    assert.equal(a[`${P}commit`], 'feed');
  });

  it('with the key: labels who rolled back as the gate stamped and verified it', async () => {
    // The gate stamps the rollback's write with its inputs (commit, approver) and the requesting user.
    const s = setup(
      { keyring: true },
      {
        admit: (obj) => {
          const a = obj.metadata!.annotations!;
          stampAsGate(obj, { tenant: 'shop', changedBy: 'carol', fieldManager: ROLLBACK_FIELD_MANAGER, commit: a[`${P}commit`], approver: a[`${P}approver`] });
        },
      },
    );
    await s.rollback.run(request());
    const labels = s.mem.record(4)!.labels;
    assert.equal(labels[`${P}verified`], 'true');
    assert.equal(labels[`${P}changed-by`], 'carol');
    assert.equal(labels[`${P}commit`], 'c1');
    assert.equal(labels[`${P}approver`], 'bob');
    assert.equal(labels[`${P}recorded-revision`], '4');
    assert.equal(labels[`${P}rollback-of`], '1');
  });

  it('re-reads and redoes the write after a 409 from a concurrent writer, and lands on the revision, not the other writer\'s state', async () => {
    let raced = false;
    const { cluster, mem, rollback } = setup(
      {},
      {
        beforeWrite: (c) => {
          if (raced) return;
          raced = true;
          c.writeAsOther((o) => (o.spec.template.spec.containers[0].image = 'nginx:1.28'));
        },
      },
    );
    await rollback.run(request());
    assert.deepEqual(writes(cluster).map((c) => c.body!.metadata!.resourceVersion), ['100', '101'], 'redone from a fresh read');
    assert.deepEqual(containersOf(cluster.stored), [{ name: 'web', image: 'nginx:1.25' }]);
    assert.equal(mem.record(4)!.release.info.status, 'deployed');
  });

  it('gives up on a workload that keeps changing: ROLLBACK_REFUSED, the revision failed, after a bounded number of tries', async () => {
    const { cluster, mem, rollback } = setup({}, { beforeWrite: (c) => c.writeAsOther((o) => (o.spec.template.spec.containers[0].image = 'nginx:1.28')) });
    const err = await rejected(rollback.run(request()));
    assert.equal(err.code, 'ROLLBACK_REFUSED');
    assert.match(err.message, /the object has been modified/);
    const tries = writes(cluster).length;
    assert.ok(tries >= 2 && tries <= 10, `${tries} tries`);
    const r4 = mem.record(4)!.release;
    assert.equal(r4.info.status, 'failed');
    assert.equal(r4.info.description, `Rollback "web" failed: ${CONFLICT_MESSAGE}`);
    assert.equal(mem.record(3)!.release.info.status, 'deployed');
    assert.deepEqual(containersOf(cluster.stored), [{ name: 'web', image: 'nginx:1.28' }, { name: 'sidecar', image: 'envoy:1' }]);
  });

  it('reports a refusal in the apiserver\'s words: ROLLBACK_REFUSED, the revision failed with Helm\'s wording, the workload untouched', async () => {
    const { cluster, mem, rollback } = setup({}, { admit: () => { throw status(403, 'Forbidden', REFUSAL); } });
    const before = structuredClone(cluster.stored);
    const err = await rejected(rollback.run(request()));
    assert.equal(err.code, 'ROLLBACK_REFUSED');
    assert.equal(err.message, `rollback of demo/web to revision 1 was refused: ${REFUSAL}`);
    assert.ok(err.cause instanceof ApiException);
    assert.equal(writes(cluster).length, 1, 'a refusal is not retried');
    const r4 = mem.record(4)!.release;
    assert.equal(r4.info.status, 'failed');
    assert.equal(r4.info.description, `Rollback "web" failed: ${REFUSAL}`);
    assert.equal(mem.record(3)!.release.info.status, 'deployed');
    assert.deepEqual(mem.log, ['create 4 pending-rollback', 'update 4 failed']);
    assert.deepEqual(cluster.stored, before);
  });

  it('cuts a very long refusal in the revision description', async () => {
    const long = `denied: ${'x'.repeat(5000)}`;
    const { mem, rollback } = setup({}, { admit: () => { throw status(403, 'Forbidden', long); } });
    await rejected(rollback.run(request()));
    const description = mem.record(4)!.release.info.description!;
    assert.ok(description.startsWith('Rollback "web" failed: denied: xxx'));
    assert.ok(description.length <= 'Rollback "web" failed: '.length + 300, `${description.length} chars`);
  });

  it('retries throttling (429) instead of calling it a refusal', async () => {
    let throttled = 0;
    const retry: RetryOptions = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: async () => {}, random: () => 0 };
    const { cluster, mem, rollback } = setup({ retry }, { admit: () => { if (throttled++ === 0) throw status(429, 'TooManyRequests', 'too many requests'); } });
    await rollback.run(request());
    assert.equal(writes(cluster).length, 2);
    assert.equal(mem.record(4)!.release.info.status, 'deployed');
  });

  it('fails with ROLLBACK_MISMATCH naming the fields when the read-back differs (a mutating webhook re-injected a container)', async () => {
    const { cluster, mem, rollback } = setup({}, { admit: (obj) => void (obj.spec as Any).template.spec.containers.push({ name: 'istio-proxy', image: 'istio/proxyv2:1.22' }) });
    const err = await rejected(rollback.run(request()));
    assert.equal(err.code, 'ROLLBACK_MISMATCH');
    assert.deepEqual(err.details.fields, ['set spec.template.spec.containers[name=istio-proxy]']);
    assert.match(err.message, /did not land: the live pod template differs in set spec\.template\.spec\.containers\[name=istio-proxy\]/);
    const r4 = mem.record(4)!.release;
    assert.equal(r4.info.status, 'failed');
    assert.equal(r4.info.description, 'Rollback "web" failed: live template differs from revision 1: set spec.template.spec.containers[name=istio-proxy]');
    assert.ok(containersOf(cluster.stored).some((c) => c.name === 'istio-proxy'));
  });

  it('does not count apiserver defaults or the gate\'s template stamps as a mismatch', async () => {
    const { mem, rollback } = setup({}, { admit: (obj) => void ((obj.spec as Any).template.metadata.annotations = { [`${P}change-id`]: 'abc' }) });
    await rollback.run(request());
    assert.equal(mem.record(4)!.release.info.status, 'deployed');
  });

  it('creates a deleted workload again from the revision, finding its release through the trail', async () => {
    const { cluster, mem, rollback, trailReads } = setup({ live: undefined, trail: trailOf([], { name: 'web', namespace: 'demo' }) });
    await rollback.run(request());
    assert.deepEqual(trailReads, ['head']);
    assert.deepEqual(writes(cluster).map((c) => `${c.op} ${c.dryRun}`), ['create false']);
    const created = cluster.stored!;
    assert.deepEqual(templateDiff(revisionDoc(1), created, P), []);
    assert.equal((created.spec as Any).replicas, 2);
    assert.deepEqual((created.spec as Any).selector, { matchLabels: { app: 'web' } });
    assert.equal(created.metadata?.namespace, 'demo');
    assert.equal(created.metadata?.annotations?.['meta.helm.sh/release-name'], 'web');
    assert.equal(created.metadata?.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    assert.equal(mem.record(4)!.release.info.status, 'deployed');
  });

  it('creates a deleted workload of an adopted release without claiming Helm owns it', async () => {
    const history = defaultHistory().map((h) => ({ ...h, release: { ...h.release, chart: { metadata: { name: 'web', annotations: { [`${P}adopted`]: 'true' } } } } }));
    const s = setup({ live: undefined, history, trail: trailOf([], { name: 'web', namespace: 'demo' }) });
    await s.rollback.run(request());
    const created = s.cluster.stored!;
    assert.equal(created.metadata?.annotations?.['meta.helm.sh/release-name'], undefined);
    assert.equal(created.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined);
  });

  it('refuses a deleted workload nobody recorded a release for, writing nothing', async () => {
    const { cluster, mem, rollback } = setup({ live: undefined });
    const err = await rejected(rollback.run(request()));
    assert.equal(err.code, 'RELEASE_NOT_FOUND');
    assert.deepEqual(mem.log, []);
    assert.deepEqual(writes(cluster), []);
  });

  it('refuses while the release is pending (another operation in progress) without writing anything', async () => {
    const history = [...defaultHistory().slice(0, 2), rev(3, 'pending-upgrade', 'nginx:1.27')];
    const { cluster, mem, rollback } = setup({ history });
    const err = await rejected(rollback.run(request()));
    assert.equal(err.code, 'KUBE_API');
    assert.match(err.message, /revision 3 is pending-upgrade: another operation is in progress/);
    assert.deepEqual(mem.log, []);
    assert.deepEqual(writes(cluster), []);
  });

  it('refuses a revision that does not exist or does not hold the workload, writing nothing', async () => {
    const missing = setup();
    assert.equal((await rejected(missing.rollback.run(request({ revision: 9 })))).code, 'RELEASE_NOT_FOUND');
    const history = defaultHistory();
    history[0]!.release.manifest = manifest('nginx:1.25').split('---\n').slice(0, 2).join('---\n');
    const without = setup({ history });
    const err = await rejected(without.rollback.run(request()));
    assert.equal(err.code, 'RELEASE_NOT_FOUND');
    assert.match(err.message, /revision 1 of demo\/web has no Deployment web/);
    for (const s of [missing, without]) {
      assert.deepEqual(s.mem.log, []);
      assert.deepEqual(writes(s.cluster), []);
    }
  });

  it('break-glass: stamps break-glass and break-glass-by <user>/<time>, names it in the description, and the recorder recognises it', async () => {
    const { cluster, mem, rollback } = setup();
    await rollback.run(request({ breakGlass: { reason: 'INC-42 gate down', user: 'oncall@corp' } }));
    const a = writes(cluster)[0]!.body!.metadata!.annotations!;
    assert.equal(a[`${P}break-glass`], 'INC-42 gate down');
    assert.equal(a[`${P}break-glass-by`], `oncall@corp/${NOW.toISOString()}`);
    assert.equal(mem.record(4)!.release.info.description, 'Rollback to 1 (BREAK-GLASS by oncall@corp: INC-42 gate down)');
    assert.deepEqual(breakGlassPastGate(cluster.stored!, P), { user: 'oncall@corp', reason: 'INC-42 gate down', at: NOW.toISOString() });
  });

  it('without break-glass the rollback carries no break-glass annotation, not even a stale one from the live object', async () => {
    const { cluster, rollback } = setup();
    await rollback.run(request());
    assert.equal(breakGlassPastGate(cluster.stored!, P), undefined);
    assert.equal(cluster.stored!.metadata?.annotations?.[`${P}break-glass`], undefined);
  });

  it('--to-last-good rolls back to the newest verified, fully rolled-out revision and says what it passed over', async () => {
    const entry = (seq: number, revision: number, over: Partial<TrailEntry> = {}): TrailEntry => ({ seq, time: 't', event: 'change', uid: 'uid-1', template: `t${revision}`, revision, verdict: 'verified', rollout: 'complete', ...over });
    const trail = trailOf([entry(1, 1), entry(2, 2, { verdict: 'unverified' }), entry(3, 3)]);
    const { cluster, rollback, trailReads } = setup({ trail });
    const result = await rollback.run(request({ revision: 'last-good' }));
    assert.equal(result.to, 1);
    assert.deepEqual(result.passedOver, ['2: UNVERIFIED']);
    assert.deepEqual(trailReads, ['all']);
    assert.deepEqual(containersOf(cluster.stored), [{ name: 'web', image: 'nginx:1.25' }]);
  });
});

describe('rollback preview', () => {
  it('writes nothing but one dry-run call, and shows the exact object and the field changes', async () => {
    const { cluster, mem, rollback } = setup();
    const before = structuredClone(cluster.stored);
    const out = await rollback.preview(request());
    assert.deepEqual(mem.log, []);
    assert.deepEqual(cluster.stored, before);
    assert.deepEqual(writes(cluster).map((c) => `${c.op} ${c.dryRun}`), ['replace true']);
    assert.equal(out.refused, undefined);
    assert.equal(out.release, 'demo/web');
    assert.equal(out.from, 3);
    assert.equal(out.to, 1);
    const shown = parseYaml(out.manifest) as KubeObject;
    assert.deepEqual(shown, writes(cluster)[0]!.body, 'the manifest shown is the body the dry run sent');
    assert.deepEqual(templateDiff(revisionDoc(1), shown, P), []);
    assert.equal(shown.metadata?.resourceVersion, '100');
    assert.deepEqual(new Set(out.changes), new Set(['set spec.template.spec.containers[name=web].image', 'remove spec.template.spec.containers[name=sidecar]']));
  });

  it('reports the refusal the dry run got, in the apiserver\'s words, still writing nothing', async () => {
    const { cluster, mem, rollback } = setup({}, { admit: (_obj, call) => { if (call.dryRun) throw status(403, 'Forbidden', REFUSAL); } });
    const before = structuredClone(cluster.stored);
    const out = await rollback.preview(request());
    assert.equal(out.refused, REFUSAL);
    assert.deepEqual(mem.log, []);
    assert.deepEqual(cluster.stored, before);
  });

  it('reports an error without a Status body by its message', async () => {
    const { rollback } = setup({}, { admit: () => { throw new Error('connect ECONNREFUSED 10.0.0.1:443'); } });
    assert.equal((await rollback.preview(request())).refused, 'connect ECONNREFUSED 10.0.0.1:443');
  });

  it('previews re-creating a deleted workload with a dry-run create', async () => {
    const { cluster, mem, rollback } = setup({ live: undefined, trail: trailOf([], { name: 'web', namespace: 'demo' }) });
    const out = await rollback.preview(request());
    assert.deepEqual(out.changes, ['create the workload']);
    assert.deepEqual(writes(cluster).map((c) => `${c.op} ${c.dryRun}`), ['create true']);
    assert.equal(cluster.stored, undefined);
    assert.deepEqual(mem.log, []);
  });
});

describe('createRollbackRepair', () => {
  /** The live Deployment after Helm 4's rollback to revision 1: helm's write, the gate's stamps on it, the sidecar kept. */
  function afterHelmRollback(): KubeObject {
    const obj = liveWorkload('nginx:1.25');
    obj.metadata!.annotations = { ...obj.metadata!.annotations, [`${P}change-commit`]: 'c1', [`${P}change-approver`]: 'bob' };
    return obj;
  }

  it('replaces the template with the revision\'s as the recorder, carrying the gate\'s commit and approver of Helm\'s write', async () => {
    const cluster = createFakeCluster(afterHelmRollback());
    const repair = createRollbackRepair({ workloads: cluster.api, prefix: P });
    const left = await repair(structuredClone(cluster.stored!), revisionDoc(1), 3);
    assert.deepEqual(left, []);
    assert.deepEqual(containersOf(cluster.stored), [{ name: 'web', image: 'nginx:1.25' }]);
    const [write] = writes(cluster);
    assert.equal(writes(cluster).length, 1);
    assert.equal(write!.fieldManager, REPAIR_FIELD_MANAGER);
    assert.equal(write!.dryRun, false);
    const a = write!.body!.metadata!.annotations!;
    assert.equal(a[`${P}commit`], 'c1');
    assert.equal(a[`${P}approver`], 'bob');
    assert.equal(a['kubernetes.io/change-cause'], 'Rollback to 3 (completed by tracegate)');
    assert.equal(a[`${P}change-commit`], undefined, 'the gate stamps the repair afresh');
    assert.equal(a['meta.helm.sh/release-name'], 'web', 'Helm\'s ownership stays');
  });

  it('carries no commit or approver the gate did not stamp', async () => {
    const live = liveWorkload('nginx:1.25');
    delete live.metadata!.annotations![`${P}change-commit`];
    const cluster = createFakeCluster(live);
    await createRollbackRepair({ workloads: cluster.api, prefix: P })(structuredClone(live), revisionDoc(1), 3);
    const a = writes(cluster)[0]!.body!.metadata!.annotations!;
    assert.equal(a[`${P}commit`], undefined);
    assert.equal(a[`${P}approver`], undefined);
  });

  it('resolves with the fields still differing when a webhook changes the write, and notes a workload that vanished', async () => {
    const injecting = createFakeCluster(afterHelmRollback(), { admit: (obj) => void (obj.spec as Any).template.spec.containers.push({ name: 'istio-proxy', image: 'istio/proxyv2:1.22' }) });
    assert.deepEqual(await createRollbackRepair({ workloads: injecting.api, prefix: P })(structuredClone(injecting.stored!), revisionDoc(1), 3), ['set spec.template.spec.containers[name=istio-proxy]']);
    const vanishing = createFakeCluster(afterHelmRollback());
    const api: WorkloadApi = { ...vanishing.api, read: async () => undefined };
    assert.deepEqual(await createRollbackRepair({ workloads: api, prefix: P })(structuredClone(vanishing.stored!), revisionDoc(1), 3), ['the workload is gone']);
  });

  it('lets a refusal reach the caller (the recorder logs it and records the state as it is)', async () => {
    const cluster = createFakeCluster(afterHelmRollback(), { admit: () => { throw status(403, 'Forbidden', REFUSAL); } });
    await assert.rejects(createRollbackRepair({ workloads: cluster.api, prefix: P })(structuredClone(cluster.stored!), revisionDoc(1), 3), (err: unknown) => (err as ApiException<string>).code === 403);
  });
});

describe('runRollbacks', () => {
  const req = (name: string, priority: number): RollbackRequest => request({ name, priority });

  it('runs highest priority first, stable among equals, one at a time by default', async () => {
    const started: string[] = [];
    let inFlight = 0;
    const out = await runRollbacks([req('a', 1), req('b', 5), req('c', 3), req('d', 5), req('e', 1)], async (r) => {
      started.push(r.name);
      assert.equal(++inFlight, 1);
      await new Promise<void>((resolve) => setImmediate(resolve));
      inFlight--;
      return r.name;
    });
    assert.deepEqual(started, ['b', 'd', 'c', 'a', 'e']);
    assert.deepEqual(out.done, ['b', 'd', 'c', 'a', 'e']);
    assert.deepEqual(out.failed, []);
  });

  it('keeps at most N in flight with parallel N, and uses all N', async () => {
    const requests = Array.from({ length: 11 }, (_, i) => req(`w${i}`, i % 3));
    for (const parallel of [2, 4]) {
      let inFlight = 0;
      let max = 0;
      const started: number[] = [];
      const out = await runRollbacks(
        requests,
        async (r) => {
          started.push(r.priority);
          max = Math.max(max, ++inFlight);
          // A varying number of turns: completions interleave as real API calls do.
          for (let i = 0; i < (Number(r.name.slice(1)) % 4) + 1; i++) await new Promise<void>((resolve) => setImmediate(resolve));
          inFlight--;
          return r.name;
        },
        parallel,
      );
      assert.equal(max, parallel);
      assert.equal(out.done.length, requests.length);
      assert.deepEqual(started, [...started].sort((a, b) => b - a), 'started in priority order');
    }
  });

  it('collects failures with their request and keeps going; parallel below 1 still runs', async () => {
    const out = await runRollbacks([req('ok', 1), req('bad', 2), req('ok2', 0)], async (r) => {
      if (r.name === 'bad') throw new Error('refused');
      return r.name;
    }, 0);
    assert.deepEqual(out.done, ['ok', 'ok2']);
    assert.equal(out.failed.length, 1);
    assert.equal(out.failed[0]!.request.name, 'bad');
    assert.equal(out.failed[0]!.error.message, 'refused');
    assert.deepEqual(await runRollbacks([], async () => 1, 4), { done: [], failed: [] });
  });
});
