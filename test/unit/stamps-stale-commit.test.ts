/**
 * The commit the gate's stamps name stays "not new" after a write past the gate changed the template
 * (the stamps, still authentic, no longer verify for it) — except for a change that returns to exactly
 * the version they were made for (`tracegate rollback --to-last-good`), which is admitted, by the
 * provenance rule and by the stamp check alike. In process, with the real handlers and the bundled
 * provenance policy.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { createMutator } from '../../src/admission/mutate.js';
import { oldStampsCurrent } from '../../src/admission/stamp-plan.js';
import { stampHash, stampsAuthentic, stampsVerify } from '../../src/admission/stamps.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { createValidator } from '../../src/admission/validate.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import { applyPatchAsApiserver } from '../support/json-patch.js';
import { TEST_KEYRING } from '../support/stamps.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const P = 'tracegate.io/';
const k = tracegateKeys(P);
const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema });
const policies = loader.toSet(loader.parse(readFileSync(join(ROOT, 'policies', 'provenance.yaml'), 'utf8'), 'policies/provenance.yaml'));
const deps = { policies: () => policies, tenantOf: () => 'team-a', keys: k, prefix: P, keyring: TEST_KEYRING };
const mutate = createMutator(deps);
const validate = createValidator(deps);
const C1 = '2222222';
let uidSeq = 0;

function deployment(image: string, commit: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a', annotations: { 'ci/commit': commit, approvedBy: 'bob' } },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } } },
  };
}

function review(object: KubeObject, oldObject: KubeObject | null): AdmissionRequest {
  return {
    uid: `r-${++uidSeq}`,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
    namespace: 'team-a',
    operation: oldObject ? 'UPDATE' : 'CREATE',
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object,
    oldObject,
    options: { fieldManager: 'kubectl-client-side-apply' },
  };
}

/** The request's object as stored after /mutate's patch and /validate's approval. */
function admitted(r: AdmissionRequest): KubeObject {
  const { response } = mutate(r);
  assert.equal(response.allowed, true, response.status?.message);
  const applied = applyPatchAsApiserver(r.object, response.patch);
  assert.ok(applied.ok);
  const obj = applied.value as KubeObject;
  const verdict = validate({ ...r, object: obj }).response;
  assert.equal(verdict.allowed, true, verdict.status?.message);
  return obj;
}

function setImage(obj: KubeObject, image: string): KubeObject {
  const out = structuredClone(obj);
  (out.spec!.template as { spec: { containers: { image: string }[] } }).spec.containers[0]!.image = image;
  return out;
}

/** Version 1 (commit C1, image 1.0) as the gate admitted and stamped it. */
function stored(): KubeObject {
  const obj = admitted(review(deployment('registry.example.com/web:1.0', C1), null));
  obj.metadata!.uid = 'u-1';
  return obj;
}

describe('the commit baseline of stale stamps', () => {
  it('verified stamps: the commit they were admitted with is still refused as not new', () => {
    const v1 = stored();
    assert.equal(oldStampsCurrent(k, { old: v1, authentic: true }, setImage(v1, 'registry.example.com/web:2.0')), true);
    const { response } = validate(review(setImage(v1, 'registry.example.com/web:2.0'), v1));
    assert.equal(response.allowed, false);
    assert.match(response.status!.message, /commit 2222222 is not new \(the current version was deployed with it\)/);
  });

  it('stale stamps (the template changed past the gate): returning to that commit is a new change, stamped as such', () => {
    const v1 = stored();
    const bypassed = setImage(v1, 'registry.example.com/web:6.6.6');
    assert.equal(stampsAuthentic(TEST_KEYRING, k, bypassed), true);
    assert.equal(stampsVerify(TEST_KEYRING, k, bypassed, stampHash(bypassed)), false);
    // The rollback restores version 1's template and annotations: the same commit, set by nobody now.
    const rollback = review(setImage(bypassed, 'registry.example.com/web:1.0'), bypassed);
    assert.equal(oldStampsCurrent(k, { old: bypassed, authentic: true }, rollback.object), false);
    const restored = admitted(rollback);
    assert.equal(restored.metadata!.annotations![k.changeCommit], C1, 'the gate stamps the commit the change was admitted with');
    assert.match(restored.metadata!.annotations!['kubernetes.io/change-cause']!, /\(commit 2222222, approved by bob\)$/);
    assert.equal(stampsVerify(TEST_KEYRING, k, restored, stampHash(restored)), true);
  });

  it('stale stamps, a new template: the bypass does not make their commit new (the next edit needs its own)', () => {
    const v1 = stored();
    const bypassed = setImage(v1, 'registry.example.com/web:6.6.6');
    const next = setImage(bypassed, 'registry.example.com/web:7.0');
    assert.equal(oldStampsCurrent(k, { old: bypassed, authentic: true }, next), true);
    const { response } = validate(review(next, bypassed));
    assert.equal(response.allowed, false);
    assert.match(response.status!.message, /commit 2222222 is not new/);
  });

  it('stale stamps are still no way around the check for another commit value', () => {
    const v1 = stored();
    const bypassed = setImage(v1, 'registry.example.com/web:6.6.6');
    const bare = setImage(bypassed, 'registry.example.com/web:7.0');
    delete bare.metadata!.annotations!['ci/commit'];
    delete bare.metadata!.annotations![`${P}commit`];
    const { response } = validate(review(bare, bypassed));
    assert.equal(response.allowed, false);
    assert.match(response.status!.message, /no commit annotation/);
  });
});
