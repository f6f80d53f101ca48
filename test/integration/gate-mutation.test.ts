/**
 * The mutating webhook with apiserver semantics: reviews built from real kubectl objects, the returned
 * JSONPatch applied as kube-apiserver applies it (omitempty re-encoding, json-patch v4), and the
 * patched object checked — then sent back, as reinvocation and later changes do.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { reviewFor, startGateHarness, storedObject, type GateHarness, type ReviewOptions } from '../support/gate-harness.js';
import { applyPatchAsApiserver, decodePatchKey, decodeResponsePatch } from '../support/json-patch.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const TENANT = 'tracegate.io/tenant';
const CHANGED_BY = 'tracegate.io/changed-by';
const CHANGE_ID = 'tracegate.io/change-id';
const COMMIT = 'tracegate.io/commit';
const APPROVER = 'tracegate.io/approver';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** `<time-ordered id>.<16 hex digits of the template digest>` */
/** `<id>.<template hash>.<key id>.<MAC>` on the object; the audit annotation and the log name it without the MAC. */
const CHANGE_ID_FORMAT = /^[0-9a-z]+\.[0-9a-f]{16}\.[a-z0-9-]+\.[A-Za-z0-9_-]{22}$/;
const withoutMac = (id: string | undefined) => (id ?? '').split('.').slice(0, 2).join('.');
const IMAGE = 'registry.example.com/team-a/web';
/** A hang guard per suite, not a speed check: a request the gate never answers fails instead of hanging. */
const HANG_GUARD_MS = 60_000;

interface Mutated {
  response: any;
  ops: { op: string; path: string; value?: unknown }[];
  /** The object after the apiserver applied the patch (the request object when there was no patch). */
  patched: KubeObject;
}

let h: GateHarness;
let k: KubectlLocal;
/** `kubectl create deployment web` in team-a: no annotations map at all. */
let base: KubeObject;

before(async () => {
  const [harness, tools] = await Promise.all([startGateHarness(), ensureRealTools()]);
  h = harness;
  k = createKubectlLocal(tools);
  base = await k.createDeployment('web', { image: `${IMAGE}:1.4.2`, namespace: 'team-a', replicas: 2, port: 8080 });
});

after(async () => {
  await h?.close();
});

/** Posts to /mutate, checks the envelope, applies the patch with apiserver semantics. */
async function mutate(obj: KubeObject, opts: ReviewOptions = {}): Promise<Mutated & { uid: string }> {
  const review = reviewFor(obj, { fieldManager: 'kubectl-create', ...opts });
  const res = await h.review('/mutate', review);
  assert.equal(res.status, 200, res.text);
  const response = res.json.response;
  assert.equal(response.uid, review.request.uid);
  if (response.patch === undefined) {
    assert.equal(response.patchType, undefined);
    return { uid: review.request.uid, response, ops: [], patched: review.request.object };
  }
  assert.equal(response.patchType, 'JSONPatch');
  const ops = decodeResponsePatch(response.patch);
  assert.ok(ops.ok, ops.ok ? '' : ops.error);
  const applied = applyPatchAsApiserver(review.request.object, response.patch);
  assert.ok(applied.ok, `the apiserver would answer 500: ${applied.ok ? '' : applied.error}`);
  return { uid: review.request.uid, response, ops: ops.value as Mutated['ops'], patched: applied.value as KubeObject };
}

const annotationsOf = (o: KubeObject) => o.metadata?.annotations ?? {};

describe('provenance on CREATE, whatever shape metadata.annotations has', { timeout: HANG_GUARD_MS }, () => {
  const shapes: [string, () => Promise<KubeObject>][] = [
    ['absent', async () => base],
    ['empty ({})', async () => ({ ...base, metadata: { ...base.metadata, annotations: {} } })],
    ['present', () => k.annotate(base, { 'example.com/owner': 'web-team' })],
  ];
  for (const [shape, make] of shapes) {
    it(`annotations ${shape}: the patch applies and stamps tenant, changed-by, change-id, change-cause and revisionHistoryLimit`, async () => {
      const obj = await make();
      if (shape === 'absent') assert.equal(obj.metadata?.annotations, undefined, 'premise: kubectl wrote no annotations map');
      const { patched, response } = await mutate(obj);
      assert.equal(response.allowed, true);
      const a = annotationsOf(patched);
      assert.equal(a[TENANT], 'team-a', 'tenant comes from the namespace label');
      assert.equal(a[CHANGED_BY], 'alice@example.com');
      assert.match(a[CHANGE_ID] ?? '', CHANGE_ID_FORMAT);
      assert.equal(response.auditAnnotations['change-id'], withoutMac(a[CHANGE_ID]));
      assert.match(a[CHANGE_CAUSE] ?? '', /^alice@example\.com via kubectl-create: image web: registry\.example\.com\/team-a\/web:1\.4\.2/);
      assert.equal(patched.spec?.revisionHistoryLimit, 10);
      if (shape === 'present') assert.equal(a['example.com/owner'], 'web-team', 'existing annotations are kept');
      assert.deepEqual({ ...patched, metadata: undefined, spec: { ...patched.spec, revisionHistoryLimit: undefined } }, { ...obj, metadata: undefined, spec: { ...obj.spec, revisionHistoryLimit: undefined } }, 'nothing else changes');
    });
  }

  it('escapes "/" in annotation keys (RFC 6901) in every key-level op', async () => {
    const obj = await k.annotate(base, { 'example.com/owner': 'web-team' });
    const { ops } = await mutate(obj);
    const keyOps = ops.filter((o) => o.path.startsWith('/metadata/annotations/'));
    assert.ok(keyOps.length >= 4, 'annotations exist, so each key is added on its own');
    const keys = keyOps.map((o) => o.path.slice('/metadata/annotations/'.length));
    for (const raw of keys) assert.doesNotMatch(raw, /\//, `unescaped / in ${raw}`);
    const decoded = keys.map(decodePatchKey);
    for (const key of [TENANT, CHANGED_BY, CHANGE_ID, CHANGE_CAUSE]) assert.ok(decoded.includes(key), `no op for ${key}`);
    assert.ok(keys.includes('kubernetes.io~1change-cause'));
    assert.ok(keys.includes('tracegate.io~1tenant'));
  });

  it('adds one map-level annotations op when the map is absent or empty', async () => {
    const { ops } = await mutate({ ...base, metadata: { ...base.metadata, annotations: {} } });
    const annotationOps = ops.filter((o) => o.path.startsWith('/metadata/annotations'));
    assert.deepEqual(annotationOps.map((o) => o.path), ['/metadata/annotations']);
  });

  it('normalises commit and approver from their aliases, on the object or its pod template', async () => {
    const onObject = await k.annotate(base, { 'ci/commit': '3f2a9c1', approvedBy: 'bob@example.com' });
    const a = annotationsOf((await mutate(onObject)).patched);
    assert.equal(a[COMMIT], '3f2a9c1');
    assert.equal(a[APPROVER], 'bob@example.com');
    assert.equal(a['ci/commit'], '3f2a9c1', 'the alias itself is left in place');
    assert.match(a[CHANGE_CAUSE] ?? '', /\(commit 3f2a9c1, approved by bob@example\.com\)$/);

    const onTemplate = await k.patch(base, { spec: { template: { metadata: { annotations: { 'ci/commit': 'a1b2c3d' } } } } });
    assert.equal(annotationsOf((await mutate(onTemplate)).patched)[COMMIT], 'a1b2c3d');
  });

  it('keeps a revisionHistoryLimit the user set', async () => {
    const obj = await k.patch(base, { spec: { revisionHistoryLimit: 3 } });
    const { ops, patched } = await mutate(obj);
    assert.equal(patched.spec?.revisionHistoryLimit, 3);
    assert.ok(!ops.some((o) => o.path === '/spec/revisionHistoryLimit'));
  });

  it('a Deployment in a namespace without a tenant gets no tenant annotation', async () => {
    const obj = await k.createDeployment('web', { image: `${IMAGE}:1.4.2`, namespace: 'sandbox' });
    const { patched } = await mutate(obj);
    assert.equal(annotationsOf(patched)[TENANT], undefined);
    assert.match(annotationsOf(patched)[CHANGE_ID] ?? '', CHANGE_ID_FORMAT);
  });
});

describe('reinvocation and later changes', { timeout: HANG_GUARD_MS }, () => {
  it('sending the patched object back (same oldObject, new uid) returns no patch and the same change-id', async () => {
    const first = await mutate(base);
    const again = await mutate(first.patched);
    assert.notEqual(again.uid, first.uid);
    assert.equal(again.response.allowed, true);
    assert.equal(again.response.patch, undefined, `reinvocation patched: ${JSON.stringify(again.ops)}`);
    assert.equal(again.response.auditAnnotations['change-id'], withoutMac(annotationsOf(first.patched)[CHANGE_ID]));
  });

  it('an UPDATE of the template gets a new change-id, stable under reinvocation; the next change gets another', async () => {
    const created = await mutate(base);
    const stored = storedObject(created.patched);
    const firstId = annotationsOf(stored)[CHANGE_ID]!;

    const edited = await k.setImage(stored, { web: `${IMAGE}:1.4.3` });
    assert.equal(annotationsOf(edited)[CHANGE_ID], firstId, 'premise: kubectl carries the old change-id over');
    const update = await mutate(edited, { oldObject: stored, fieldManager: 'kubectl-set', username: 'carol@example.com' });
    const a = annotationsOf(update.patched);
    const secondId = a[CHANGE_ID]!;
    assert.match(secondId, CHANGE_ID_FORMAT);
    assert.notEqual(secondId.split('.')[0], firstId.split('.')[0], 'a template change is a new change');
    assert.equal(a[CHANGED_BY], 'carol@example.com');
    assert.match(a[CHANGE_CAUSE] ?? '', /^carol@example\.com via kubectl-set: image web: registry\.example\.com\/team-a\/web:1\.4\.2 → registry\.example\.com\/team-a\/web:1\.4\.3/);

    const reinvoked = await mutate(update.patched, { oldObject: stored, fieldManager: 'kubectl-set', username: 'carol@example.com' });
    assert.equal(reinvoked.response.patch, undefined, `reinvocation patched: ${JSON.stringify(reinvoked.ops)}`);
    assert.equal(reinvoked.response.auditAnnotations['change-id'], withoutMac(secondId));

    const stored2 = storedObject(update.patched, { resourceVersion: '1001', generation: 2 });
    const next = await k.setImage(stored2, { web: `${IMAGE}:1.4.4` });
    const third = annotationsOf((await mutate(next, { oldObject: stored2, fieldManager: 'kubectl-set' })).patched)[CHANGE_ID]!;
    assert.match(third, CHANGE_ID_FORMAT);
    assert.notEqual(third.split('.')[0], secondId.split('.')[0]);
    assert.notEqual(third.split('.')[1], secondId.split('.')[1], 'the hash part follows the template');
  });

  it('a metadata-only UPDATE (kubectl label) keeps the change-id', async () => {
    const stored = storedObject((await mutate(base)).patched);
    const labelled = await k.label(stored, { tier: 'frontend' });
    const { patched } = await mutate(labelled, { oldObject: stored, fieldManager: 'kubectl-label' });
    assert.equal(annotationsOf(patched)[CHANGE_ID], annotationsOf(stored)[CHANGE_ID]);
  });
});

describe('a user-supplied tenant annotation', { timeout: HANG_GUARD_MS }, () => {
  it('that disagrees with the namespace is denied by both webhooks', async () => {
    const obj = await k.annotate(base, { [TENANT]: 'team-b' });
    const review = reviewFor(obj, { fieldManager: 'kubectl-create' });
    for (const webhook of ['mutate', 'validate'] as const) {
      const res = await h.review(`/${webhook}`, review);
      assert.equal(res.status, 200);
      const r = res.json.response;
      assert.equal(r.allowed, false, `${webhook} allowed a foreign tenant`);
      assert.equal(r.status.code, 403);
      assert.match(r.status.message, /tracegate\.io\/tenant="team-b" does not match the tenant of namespace team-a \("team-a"\)/);
      assert.equal(r.patch, undefined);
      assert.match(r.auditAnnotations['denied-rules'], /tracegate\/tenant-annotation/);
    }
  });

  it('claiming a tenant in a namespace without one is denied', async () => {
    const obj = await k.annotate(await k.createDeployment('web', { image: `${IMAGE}:1.4.2`, namespace: 'sandbox' }), { [TENANT]: 'team-a' });
    const res = await h.review('/mutate', reviewFor(obj, { fieldManager: 'kubectl-create' }));
    assert.equal(res.json.response.allowed, false);
    assert.match(res.json.response.status.message, /belongs to no tenant/);
  });

  it('that matches the namespace is accepted and left alone', async () => {
    const obj = await k.annotate(base, { [TENANT]: 'team-a' });
    const { response, ops, patched } = await mutate(obj);
    assert.equal(response.allowed, true);
    assert.ok(!ops.some((o) => decodePatchKey(o.path.split('/').at(-1)!) === TENANT));
    assert.equal(annotationsOf(patched)[TENANT], 'team-a');
  });

  it('carried over unchanged from oldObject is not denied, and the patch corrects it', async () => {
    // The namespace moved to another tenant after the object was admitted.
    const stored = storedObject(await k.annotate(base, { [TENANT]: 'team-b' }));
    const edited = await k.setImage(stored, { web: `${IMAGE}:1.4.3` });
    const { response, patched } = await mutate(edited, { oldObject: stored, fieldManager: 'kubectl-set' });
    assert.equal(response.allowed, true, response.status?.message);
    assert.equal(annotationsOf(patched)[TENANT], 'team-a');

    // What the validating stage sees is the mutated object: its stamps are the gate's.
    const v = await h.review('/validate', reviewFor(patched, { oldObject: stored, fieldManager: 'kubectl-set', stage: 'validating' }));
    assert.equal(v.status, 200);
    assert.doesNotMatch(v.json.response.status?.message ?? '', /tracegate\.io\/tenant/);
    assert.doesNotMatch(v.json.response.auditAnnotations['denied-rules'] ?? '', /tenant-annotation|stamps/);
  });
});

describe('mutate, then validate the final object', { timeout: HANG_GUARD_MS }, () => {
  it('a compliant Helm create passes validation after the mutation', async () => {
    let obj = await k.setResources(base, { limits: 'cpu=500m,memory=256Mi', requests: 'cpu=250m,memory=128Mi' });
    obj = await k.annotate(obj, { 'ci/commit': '3f2a9c1', approvedBy: 'bob@example.com' });
    const opts: ReviewOptions = { fieldManager: 'helm', username: 'system:serviceaccount:ci:deployer' };
    const { patched } = await mutate(obj, opts);
    // What the validating stage sees: the registry has set uid, creationTimestamp and generation.
    const validating = { ...patched, metadata: { ...patched.metadata, uid: 'b3a1f0c2-7d4e-4f5a-9b6c-0e1d2f3a4b5c', creationTimestamp: '2026-03-02T09:14:07Z', generation: 1 } };
    const v = await h.review('/validate', reviewFor(validating, { ...opts, stage: 'validating' }));
    assert.equal(v.json.response.allowed, true, v.json.response.status?.message);
  });
});

describe('the change-commit stamp', { timeout: HANG_GUARD_MS }, () => {
  const STAMP = 'tracegate.io/change-commit';

  it('records the commit a template change was admitted with; a metadata-only update leaves it alone', async () => {
    const created = await mutate(await k.annotate(base, { 'ci/commit': 'c0ffee1', approvedBy: 'bob' }));
    assert.equal(annotationsOf(created.patched)[STAMP], 'c0ffee1');
    assert.equal(annotationsOf(created.patched)[COMMIT], 'c0ffee1');
    const stored = storedObject(created.patched);
    const annotated = await k.annotate(stored, { 'ci/commit': 'd00d2' });
    const metaOnly = await mutate(annotated, { operation: 'UPDATE', oldObject: stored, fieldManager: 'kubectl-annotate' });
    assert.equal(annotationsOf(metaOnly.patched)[STAMP], 'c0ffee1', 'no template change, no new stamp');
    assert.equal(annotationsOf(metaOnly.patched)[COMMIT], 'd00d2', 'the canonical key follows the new commit');
    const next = storedObject(metaOnly.patched);
    const changed = await mutate(await k.setImage(next, { web: `${IMAGE}:1.4.3` }), { operation: 'UPDATE', oldObject: next, fieldManager: 'kubectl-set' });
    assert.equal(annotationsOf(changed.patched)[STAMP], 'd00d2', 'the set image was made with the annotated commit');
  });
});
