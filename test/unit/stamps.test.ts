/**
 * The gate's stamps cannot be forged: /mutate writes them from the request (overwriting what the client
 * sent), carries them over on updates that change no template only when their MAC checks, and never
 * moves them onto a template it did not admit; /validate refuses any object whose stamps differ from
 * what /mutate would have written. Every attack of the issue, in process, with the real handlers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { createMutator } from '../../src/admission/mutate.js';
import { stampHash, stampsAuthentic, stampsVerify } from '../../src/admission/stamps.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { createValidator } from '../../src/admission/validate.js';
import type { KubeObject } from '../../src/k8s/types.js';
import type { PolicySet } from '../../src/policy/types.js';
import { applyPatchAsApiserver } from '../support/json-patch.js';
import { TEST_KEYRING } from '../support/stamps.js';

const P = 'tracegate.io/';
const k = tracegateKeys(P);
const policies: PolicySet = { policies: [], digest: 'sha256:none' };
const deps = { policies: () => policies, tenantOf: (ns: string) => (ns === 'team-a' ? 'team-a' : undefined), keys: k, prefix: P, keyring: TEST_KEYRING };
const mutate = createMutator(deps);
const validate = createValidator(deps);
let uidSeq = 0;

function deployment(image: string, annotations: Record<string, string> = {}, extra: { labels?: Record<string, string>; templateAnnotations?: Record<string, string> } = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a', annotations, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' }, ...(extra.templateAnnotations ? { annotations: extra.templateAnnotations } : {}) }, spec: { containers: [{ name: 'web', image }] } },
    },
  };
}

function review(object: KubeObject, oldObject: KubeObject | null, user = 'alice', fieldManager = 'kubectl-set'): AdmissionRequest {
  return {
    uid: `r-${++uidSeq}`,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
    namespace: 'team-a',
    operation: oldObject ? 'UPDATE' : 'CREATE',
    userInfo: { username: user, groups: [] },
    object,
    oldObject,
    options: { fieldManager },
  };
}

/** The object after /mutate's patch, as the apiserver applies it. */
function mutated(r: AdmissionRequest): KubeObject {
  const { response } = mutate(r);
  assert.equal(response.allowed, true, response.status?.message);
  if (!response.patch) return r.object!;
  const applied = applyPatchAsApiserver(r.object, response.patch);
  assert.ok(applied.ok);
  return applied.value as KubeObject;
}

/** A CREATE through the gate, stored with the uid the apiserver assigns. */
function created(image = 'nginx:1.25'): KubeObject {
  const obj = mutated(review(deployment(image), null, 'ci'));
  obj.metadata!.uid = 'u-1';
  return obj;
}

function annotations(obj: KubeObject): Record<string, string> {
  return obj.metadata?.annotations ?? {};
}

function validateDenies(r: AdmissionRequest): string {
  const { response } = validate(r);
  assert.equal(response.allowed, false, 'refused');
  return response.status!.message;
}

describe('stamps a CREATE gets', () => {
  it('are the gate\'s, bound to the template; the apiserver\'s uid does not break them', () => {
    const obj = created();
    const a = annotations(obj);
    assert.equal(a[k.changedBy], 'ci');
    assert.equal(a[k.tenant], 'team-a');
    assert.ok(stampsVerify(TEST_KEYRING, k, obj, stampHash(obj)), 'made before the uid existed, checked after');
    assert.equal(validate(review(obj, null, 'ci')).response.allowed, true);
  });

  it('a change id the client chose is replaced, never kept', () => {
    const obj = mutated(review(deployment('nginx:1.25', { [k.changeId]: 'chosen.0000000000000000' }), null));
    assert.doesNotMatch(annotations(obj)[k.changeId]!, /^chosen\./);
  });

  it('stamps copied from another object do not check', () => {
    const other = created();
    const copy = deployment('nginx:1.25', { ...annotations(other) });
    copy.metadata!.name = 'api';
    copy.metadata!.uid = 'u-2';
    assert.equal(stampsAuthentic(TEST_KEYRING, k, copy), false);
  });
});

describe('an update that changes no template', () => {
  it('cannot rewrite who made the last change: /mutate restores the stamps, /validate refuses the edit', () => {
    const stored = created();
    const forged = structuredClone(stored);
    Object.assign(forged.metadata!.annotations!, { [k.changedBy]: 'bob', [k.changeApprover]: 'cto', [k.fieldManager]: 'helm', 'kubernetes.io/change-cause': 'bob via helm' });
    const fixed = mutated(review(forged, stored, 'carol', 'kubectl-annotate'));
    for (const key of [k.changedBy, k.changeApprover, k.fieldManager, 'kubernetes.io/change-cause']) assert.equal(annotations(fixed)[key], annotations(stored)[key], key);
    assert.equal(validate(review(fixed, stored, 'carol', 'kubectl-annotate')).response.allowed, true);
    const message = validateDenies(review(forged, stored, 'carol', 'kubectl-annotate'));
    assert.match(message, /tracegate\.io\/changed-by is "bob", the gate writes "ci"/);
    assert.match(message, /never set tracegate's stamps yourself/);
  });

  it('drops stamps planted while the gate was bypassed: they count for nothing', () => {
    const planted = deployment('nginx:1.25', { [k.changedBy]: 'cto', [k.tenant]: 'team-b', [k.changeId]: 'abc.0123456789abcdef' });
    planted.metadata!.uid = 'u-3';
    const edit = structuredClone(planted);
    edit.metadata!.labels = { tier: 'web' };
    const fixed = mutated(review(edit, planted, 'alice', 'kubectl-label'));
    for (const key of [k.changedBy, k.changeId]) assert.equal(annotations(fixed)[key], undefined, key);
    assert.equal(annotations(fixed)[k.tenant], 'team-a', 'the tenant comes from the namespace');
    assert.match(validateDenies(review(edit, planted, 'alice', 'kubectl-label')), /tracegate\.io\/changed-by is "cto", the gate writes absent/);
  });

  it('carries authentic stamps over a template changed without the gate, and never makes them verify it', () => {
    const stored = created();
    const bypassed = structuredClone(stored);
    (bypassed.spec!.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image = 'evil.io/miner:1';
    assert.equal(stampsVerify(TEST_KEYRING, k, bypassed, stampHash(bypassed)), false, 'the stamps are not for this template');
    assert.equal(stampsAuthentic(TEST_KEYRING, k, bypassed), true);
    // The namespace moves to another tenant: the stamps are signed again — for the template they were made for.
    const moved = createMutator({ ...deps, tenantOf: () => 'team-z' });
    const edit = structuredClone(bypassed);
    edit.metadata!.labels = { tier: 'web' };
    const { response } = moved(review(edit, bypassed, 'alice', 'kubectl-label'));
    const patched = applyPatchAsApiserver(edit, response.patch);
    assert.ok(patched.ok);
    const resigned = patched.value as KubeObject;
    assert.equal(annotations(resigned)[k.tenant], 'team-z');
    assert.equal(stampsAuthentic(TEST_KEYRING, k, resigned), true);
    assert.equal(stampsVerify(TEST_KEYRING, k, resigned, stampHash(resigned)), false, 'no laundering onto the bypassed template');
  });
});

describe('stamp keys where they do not belong', () => {
  it('are removed from labels and the pod template by /mutate and refused by /validate', () => {
    const obj = deployment('nginx:1.25', {}, { labels: { [k.tenant]: 'team-b' }, templateAnnotations: { [k.tenant]: 'team-b', [k.changedBy]: 'cto' } });
    const fixed = mutated(review(obj, null));
    assert.equal(fixed.metadata?.labels?.[k.tenant], undefined);
    assert.deepEqual((fixed.spec!.template as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {}, {});
    const message = validateDenies(review(obj, null));
    assert.match(message, /label tracegate\.io\/tenant is one of the gate's stamps/);
    assert.match(message, /pod template annotation tracegate\.io\/changed-by/);
  });
});

describe('reinvocation', () => {
  it('the gate\'s own output comes back unchanged, with the same change id', () => {
    const first = review(deployment('nginx:1.25'), null);
    const once = mutated(first);
    const again = mutate({ ...first, uid: 'r-again', object: once });
    assert.equal(again.response.patch, undefined);
    assert.equal(again.decision.changeId, annotations(once)[k.changeId]!.split('.').slice(0, 2).join('.'));
  });
});
