/**
 * Verified provenance in the gate, in process with the real handlers: the edge verifies the approval
 * and CI token an object carries (openssl-made vectors, test/fixtures/approval), the pure provenance
 * rule judges the verdict under `signedApproval.require: signed | warn`, and only a verified change gets
 * the `change-verified` stamp — which the MAC covers, so no one can write it themselves.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { createApprovalEdge, withEvidence } from '../../src/admission/approval-edge.js';
import { createMutator } from '../../src/admission/mutate.js';
import { stampsVerify, stampHash } from '../../src/admission/stamps.js';
import type { AdmissionRequest, AdmissionResponse } from '../../src/admission/types.js';
import { createValidator, type Handled } from '../../src/admission/validate.js';
import { createApprovalVerifier, createCiTokenVerifier, type ApprovalVerifier } from '../../src/approval/cache.js';
import { loadCiIssuers } from '../../src/approval/ci-issuers.js';
import { loadTrustedKeys } from '../../src/approval/keys.js';
import { readSigningKey, signApproval } from '../../src/approval/sign.js';
import { approvalTemplateDigest } from '../../src/approval/template-digest.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import { approvalProof } from '../../src/policy/rules/provenance.js';
import type { ApprovalEvidence, PolicySet } from '../../src/policy/types.js';
import { describeRevision, provenanceLabels, readProvenance } from '../../src/recorder/provenance.js';
import { applyPatchAsApiserver, omitEmptyLikeApiserver } from '../support/json-patch.js';
import { TEST_KEYRING } from '../support/stamps.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIX = join(ROOT, 'test', 'fixtures', 'approval');
const read = (name: string) => readFileSync(join(FIX, name), 'utf8');
const vector = (name: string) => read(`vectors/${name}`).trim();
const P = 'tracegate.io/';
const k = tracegateKeys(P);
// Inside both windows: approvals 09:00-10:00, CI tokens 08:55-09:10 (2026-12-01).
const AT = Date.parse('2026-12-01T09:05:00Z');
const COMMIT = '3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e9f0a1b';

const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema, annotationPrefix: P });
const bundled = readFileSync(join(ROOT, 'policies', 'provenance.yaml'), 'utf8');
function policySet(signedApproval: Record<string, unknown> | undefined): PolicySet {
  const doc = parse(bundled) as { spec: { rules: { provenance: Record<string, unknown> }[] } };
  if (signedApproval) doc.spec.rules[0]!.provenance.signedApproval = signedApproval;
  return loader.toSet(loader.parse(JSON.stringify(doc), 'provenance.yaml'));
}

const approved = parse(read('deployment.yaml')) as KubeObject;
let uid = 0;
function review(object: KubeObject, opts: { old?: KubeObject; user?: string; namespace?: string; manager?: string } = {}): AdmissionRequest {
  const namespace = opts.namespace ?? 'team-a';
  return {
    uid: `r-${++uid}`,
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: object.metadata?.name ?? 'web',
    namespace,
    operation: opts.old ? 'UPDATE' : 'CREATE',
    userInfo: { username: opts.user ?? 'system:serviceaccount:ci:deployer', groups: [] },
    // As the apiserver hands it to webhooks: decoded into its Go types, so `env: []` is gone.
    object: omitEmptyLikeApiserver({ ...object, metadata: { ...object.metadata, namespace } }) as KubeObject,
    oldObject: opts.old ?? null,
    options: { fieldManager: opts.manager ?? 'kubectl-client-side-apply' },
  };
}
function withAnnotations(obj: KubeObject, annotations: Record<string, string>): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, ...annotations } } };
}

let approvals: ApprovalVerifier;
let gate: (set: PolicySet, now?: number) => { mutate: (r: AdmissionRequest) => Promise<Handled>; validate: (r: AdmissionRequest) => Promise<Handled> };
before(async () => {
  approvals = createApprovalVerifier({ keys: await loadTrustedKeys({ tenants: { 'team-a': JSON.parse(read('approval.jwks.json')) as unknown } }) });
  const issuers = await loadCiIssuers([{ issuer: 'https://token.actions.githubusercontent.com', audience: 'tracegate', jwks: JSON.parse(read('ci.jwks.json')) as unknown, tenants: { 'team-a': ['org/team-a-*'] }, protectedEnvironments: ['production'] }]);
  const ciTokens = createCiTokenVerifier({ issuers });
  gate = (set, now = AT) => {
    const deps = { policies: () => set, tenantOf: (ns: string) => (ns.startsWith('team-') ? ns : undefined), keys: k, prefix: P, keyring: TEST_KEYRING };
    const edge = createApprovalEdge({ keys: k, prefix: P, tenantOf: deps.tenantOf, approvals, ciTokens, now: () => now });
    return { mutate: async (r) => withEvidence(edge, createMutator(deps))(r), validate: async (r) => withEvidence(edge, createValidator(deps))(r) };
  };
});

/** /mutate then /validate, as the apiserver runs them: the stored object, or the validate answer's refusal. */
async function admit(g: ReturnType<typeof gate>, r: AdmissionRequest): Promise<{ object: KubeObject; response: AdmissionResponse }> {
  const m = (await g.mutate(r)).response;
  assert.equal(m.allowed, true, m.status?.message);
  const object = m.patch ? (applyPatchAsApiserver(r.object, m.patch) as { ok: true; value: KubeObject }).value : r.object!;
  const { response } = await g.validate({ ...r, object });
  return { object, response };
}

describe('the edge: verification before evaluation', () => {
  it('a review without an approval or CI token is judged synchronously, as before', () => {
    const edge = createApprovalEdge({ keys: k, prefix: P, tenantOf: () => 'team-a', approvals, now: () => AT });
    assert.equal(edge(review(approved)), undefined);
    const handled = withEvidence(edge, createValidator({ policies: () => policySet(undefined), tenantOf: () => 'team-a', keys: k, prefix: P, keyring: TEST_KEYRING }))(review(approved));
    assert.ok(!(handled instanceof Promise));
  });

  it('a gate without trusted keys says so instead of verifying', async () => {
    const edge = createApprovalEdge({ keys: k, prefix: P, tenantOf: () => 'team-a' });
    const ev = await edge(review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    assert.deepEqual(ev, { approval: { ok: false, reason: 'this gate trusts no approval keys (tracegate serve --approval-keys)' } });
  });

  it('hostile annotations: refused with a one-line reason, never echoed', async () => {
    const edge = createApprovalEdge({ keys: k, prefix: P, tenantOf: () => 'team-a', approvals, now: () => AT });
    const huge = await edge(review(withAnnotations(approved, { [k.approval]: `eyJ${'A'.repeat(20_000)}.e30.sig` })));
    assert.deepEqual(huge?.approval, { ok: false, reason: 'approval is longer than 16384 characters' });
    const garbage = await edge(review(withAnnotations(approved, { [k.approval]: 'not a token\u0000\n at x', [k.ciToken]: '' })));
    assert.equal(garbage?.approval?.ok, false);
    assert.equal(garbage?.ciToken?.ok, false);
    for (const v of [garbage!.approval!, garbage!.ciToken!]) assert.doesNotMatch((v as { reason: string }).reason, /\n|not a token/);
  });

  it('a repeated statement costs a cache lookup', async () => {
    const edge = createApprovalEdge({ keys: k, prefix: P, tenantOf: () => 'team-a', approvals, now: () => AT });
    const r = review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') }));
    await edge(r);
    const hits = approvals.stats.hits;
    const ev = await edge(r);
    assert.equal(approvals.stats.hits, hits + 1);
    assert.equal(ev?.approval?.ok, true);
  });
});

describe('require: signed', () => {
  const signed = () => gate(policySet({ require: 'signed' }));

  it('admits a change its approval binds, fills in commit and approver, and stamps it verified', async () => {
    const { object, response } = await admit(signed(), review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    assert.equal(response.allowed, true, response.status?.message);
    const a = object.metadata!.annotations!;
    assert.equal(a[k.commit], COMMIT);
    assert.equal(a[k.approver], 'bob');
    assert.equal(a[k.pipelineRun], 'gh-7421');
    assert.equal(a[k.changeApprover], 'bob');
    assert.match(a[k.changeVerified]!, /^approval sha256:[0-9a-f]{64}$/);
    assert.equal(a[k.changeTestResults], 'https://ci.example.com/runs/7421/tests');
    assert.match(response.auditAnnotations!.approval!, /^verified sha256:[0-9a-f]{64} key ed-1 approver bob$/);
    // The recorder reads it back, MAC-checked.
    const p = readProvenance(object, P, TEST_KEYRING);
    assert.equal(p.verified, true);
    assert.equal(p.approval, a[k.changeVerified]);
    assert.equal(p.approvalToken, vector('ed25519-template.jws'), 'the very statement, kept for tracegate verify --revision');
    assert.match(describeRevision(p, ['new workload']), /approved by bob \(signed approval verified\)/);
    const labels = provenanceLabels(p, P, 1);
    assert.equal(labels[`${P}approval`], 'verified');
    assert.equal(labels[`${P}approval-sha256`], /sha256:([0-9a-f]{32})/.exec(a[k.changeVerified]!)![1]);
    // Another approval on the object than the one the stamps name is not kept.
    assert.equal(readProvenance(withAnnotations(object, { [k.approval]: vector('es256-images.jws') }), P, TEST_KEYRING).approvalToken, undefined);
  });

  for (const [name, file, now, want] of [
    ['another key signed it', 'wrong-key.jws', AT, 'signature does not verify'],
    ['alg none', 'alg-none.jws', AT, 'alg'],
    ['HS256 keyed with the public key', 'hs256-public-key.jws', AT, 'alg'],
    ['the payload was tampered with', 'tampered-payload.jws', AT, 'signature does not verify'],
    ['an unknown key id', 'unknown-kid.jws', AT, 'unknown key id k9 for tenant team-a'],
    ['it expired', 'ed25519-template.jws', Date.parse('2026-12-01T11:00:00Z'), 'approval expired at 2026-12-01T10:00:00Z'],
    ['it is not valid yet', 'not-yet-valid.jws', AT, 'approval is not valid before 2026-12-01T09:45:00Z'],
  ] as const) {
    it(`refuses an approval when ${name}, with the one-line reason`, async () => {
      const { response } = await admit(gate(policySet({ require: 'signed' }), now), review(withAnnotations(approved, { [k.approval]: vector(file) })));
      assert.equal(response.allowed, false);
      const message = response.status!.message;
      assert.match(message, new RegExp(`no verified approval: approval not verified: [^;\\n]*${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.doesNotMatch(message, /eyJ/, 'never the token');
      assert.doesNotMatch(message, /\n\s+at /, 'never a stack');
    });
  }

  it('a later change needs only its own approval: the commit and approver left from the last change give way', async () => {
    const g = signed();
    const { object: stored } = await admit(g, review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    const old = { ...stored, metadata: { ...stored.metadata, uid: 'u-1' } };
    const next = structuredClone(old) as KubeObject & { spec: { template: { spec: { containers: { image: string }[] } } } };
    next.spec.template.spec.containers[0]!.image = 'registry.example.com/team-a/web:1.5.1';
    const key = await readSigningKey(read('ed25519.pem'), 'ed25519.pem', 'ed-1');
    const { jws } = await signApproval({ issuer: 'test', approver: 'carol', binding: { namespace: 'team-a', kind: 'Deployment', name: 'web', template: approvalTemplateDigest(next), commit: 'a1b2c3d4e5f6' }, ttlSeconds: 3600, now: AT }, key);
    const { object, response } = await admit(g, review(withAnnotations(next, { [k.approval]: jws }), { old, user: 'alice', manager: 'kubectl-set' }));
    assert.equal(response.allowed, true, response.status?.message);
    assert.equal(object.metadata!.annotations![k.commit], 'a1b2c3d4e5f6');
    assert.equal(object.metadata!.annotations![k.changeApprover], 'carol');
    assert.match(object.metadata!.annotations![k.changeVerified]!, /^approval sha256:/);
    // The same approval once more (a second change of the template it binds): its commit is no longer new.
    const again = structuredClone(object) as typeof next;
    again.metadata!.uid = 'u-1';
    const back = structuredClone(again);
    back.spec.template.spec.containers[0]!.image = 'registry.example.com/team-a/web:1.5.0';
    const reverted = await admit(g, review(back, { old: again, user: 'alice', manager: 'kubectl-set' }));
    assert.equal(reverted.response.allowed, false);
  });

  it('refuses the approval replayed on another namespace, name or template', async () => {
    const jws = vector('ed25519-template.jws');
    const g = signed();
    const other = await admit(g, review(withAnnotations(approved, { [k.approval]: jws }), { namespace: 'team-b' }));
    // team-b trusts no key of team-a's.
    assert.match(other.response.status!.message, /unknown key id ed-1 for tenant team-b/);
    const renamed = await admit(g, review(withAnnotations({ ...approved, metadata: { ...approved.metadata, name: 'api' } }, { [k.approval]: jws })));
    assert.match(renamed.response.status!.message, /approval is for Deployment web, not api/);
    const changed = structuredClone(approved) as KubeObject & { spec: { template: { spec: { containers: { image: string }[] } } } };
    changed.spec.template.spec.containers[0]!.image = 'registry.example.com/team-a/web:1.6.0';
    const template = await admit(g, review(withAnnotations(changed, { [k.approval]: jws })));
    assert.match(template.response.status!.message, /approval binds another pod template/);
  });

  it('refuses a forged approver or commit next to a valid approval, naming the signer', async () => {
    const forged = await admit(signed(), review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws'), approvedBy: 'not-a-person' }), { user: 'alice' }));
    assert.match(forged.response.status!.message, /approval is signed by bob, not not-a-person \(the approver annotation\)/);
    const commit = await admit(signed(), review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws'), 'ci/commit': 'c0ffee1' }), { user: 'alice' }));
    assert.match(commit.response.status!.message, /approval is for commit 3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e9f0a1b, not c0ffee1/);
  });

  it('refuses typed provenance without any approval', async () => {
    const { response } = await admit(signed(), review(withAnnotations(approved, { 'ci/commit': 'c0ffee1', approvedBy: 'not-a-person' }), { user: 'alice' }));
    assert.match(response.status!.message, /no verified approval: the change carries no signed approval and no CI token/);
  });

  it('accepts only the keys the rule names', async () => {
    const g = gate(policySet({ require: 'signed', keys: ['ec-1'] }));
    const { response } = await admit(g, review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    assert.match(response.status!.message, /approval key "ed-1" is not one this policy accepts/);
  });
});

describe('CI identity tokens', () => {
  it('a token from a protected environment proves commit, run and the approval gate', async () => {
    const { object, response } = await admit(gate(policySet({ require: 'signed' })), review(withAnnotations(approved, { [k.ciToken]: vector('ci-github-production.jwt') })));
    assert.equal(response.allowed, true, response.status?.message);
    const a = object.metadata!.annotations!;
    assert.equal(a[k.commit], COMMIT);
    assert.equal(a[k.approver], 'environment:production');
    assert.equal(a[k.pipelineRun], '7421');
    assert.match(a[k.changeVerified]!, /^ci-token sha256:[0-9a-f]{64}$/);
  });

  it('a token from an unprotected environment proves the commit only: an approval is still needed', async () => {
    const { response } = await admit(gate(policySet({ require: 'signed' })), review(withAnnotations(approved, { [k.ciToken]: vector('ci-github-staging.jwt') })));
    assert.match(response.status!.message, /CI token of org\/team-a-api proves commit 3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e9f0a1b, but its job ran in environment staging, which is not a protected one: an approval is still needed/);
  });

  it('an approval and a CI token together: both recorded', async () => {
    const { object, response } = await admit(gate(policySet({ require: 'signed' })), review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws'), [k.ciToken]: vector('ci-github-staging.jwt') })));
    assert.equal(response.allowed, true, response.status?.message);
    assert.match(object.metadata!.annotations![k.changeVerified]!, /^approval sha256:[0-9a-f]{64}, ci-token sha256:[0-9a-f]{64}$/);
  });

  it('refuses a token whose issuer the rule does not accept, or that does not verify', async () => {
    const g = gate(policySet({ require: 'signed', issuers: ['https://gitlab.com'] }));
    const { response } = await admit(g, review(withAnnotations(approved, { [k.ciToken]: vector('ci-github-production.jwt') })));
    assert.match(response.status!.message, /CI issuer https:\/\/token.actions.githubusercontent.com is not one this policy accepts/);
    const none = await admit(gate(policySet({ require: 'signed' })), review(withAnnotations(approved, { [k.ciToken]: vector('ci-none.jwt') })));
    assert.match(none.response.status!.message, /CI token not verified: /);
  });
});

describe('require: warn, and no signedApproval at all', () => {
  it('warn: typed provenance is admitted with a warning naming why it is unverified', async () => {
    const { object, response } = await admit(gate(policySet({ require: 'warn' })), review(withAnnotations(approved, { 'ci/commit': 'c0ffee1', approvedBy: 'bob' }), { user: 'alice' }));
    assert.equal(response.allowed, true, response.status?.message);
    assert.ok(response.warnings?.some((w) => /has no verified approval: the change carries no signed approval and no CI token/.test(w)), JSON.stringify(response.warnings));
    assert.equal(object.metadata!.annotations![k.changeVerified], undefined);
  });

  it('warn: a bad approval is admitted with its reason as the warning, never stamped verified', async () => {
    const { object, response } = await admit(gate(policySet({ require: 'warn' })), review(withAnnotations(approved, { 'ci/commit': 'c0ffee1', approvedBy: 'bob', [k.approval]: vector('wrong-key.jws') }), { user: 'alice' }));
    assert.equal(response.allowed, true);
    assert.ok(response.warnings?.some((w) => /approval not verified: signature does not verify/.test(w)));
    assert.equal(object.metadata!.annotations![k.changeVerified], undefined);
  });

  it('without the option a verified approval is still stamped, and nothing is required', async () => {
    const { object, response } = await admit(gate(policySet(undefined)), review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    assert.equal(response.allowed, true, response.status?.message);
    assert.match(object.metadata!.annotations![k.changeVerified]!, /^approval sha256:/);
  });
});

describe('the verified stamp is the gate\'s alone', () => {
  it('a user who writes change-verified is refused by /validate; /mutate overwrites it', async () => {
    const g = gate(policySet({ require: 'warn' }));
    const r = review(withAnnotations(approved, { 'ci/commit': 'c0ffee1', approvedBy: 'bob', [k.changeVerified]: 'approval sha256:forged' }), { user: 'alice' });
    const direct = await g.validate(r);
    assert.equal(direct.response.allowed, false);
    assert.match(direct.response.status!.message, /tracegate\.io\/change-verified is "approval sha256:forged", the gate writes absent/);
    const { object, response } = await admit(g, r);
    assert.equal(response.allowed, true);
    assert.equal(object.metadata!.annotations![k.changeVerified], undefined);
  });

  it('a metadata-only update carries the stamp over; editing it breaks the MAC and is refused', async () => {
    const g = gate(policySet({ require: 'signed' }));
    const { object: stored } = await admit(g, review(withAnnotations(approved, { [k.approval]: vector('ed25519-template.jws') })));
    const stamped = { ...stored, metadata: { ...stored.metadata, uid: 'u-1' } };
    const labelled = { ...stamped, metadata: { ...stamped.metadata, labels: { ...stamped.metadata!.labels, tier: 'web' } } };
    const kept = await admit(g, review(labelled, { old: stamped, user: 'alice' }));
    assert.equal(kept.response.allowed, true, kept.response.status?.message);
    assert.equal(kept.object.metadata!.annotations![k.changeVerified], stamped.metadata!.annotations![k.changeVerified]);
    const edited = withAnnotations(stamped, { [k.changeVerified]: 'ci-token sha256:0000' });
    const refused = await g.validate(review(edited, { old: stamped, user: 'alice' }));
    assert.equal(refused.response.allowed, false);
    // A MAC over the planted value does not check: the recorder reads such stamps as UNVERIFIED.
    assert.equal(stampsVerify(TEST_KEYRING, k, edited, stampHash(edited)), false);
  });
});

describe('approvalProof (pure)', () => {
  it('needs evidence, and a failing present proof is never outweighed', () => {
    assert.deepEqual(approvalProof({ require: 'signed' }, undefined, undefined, undefined), { ok: false, reason: 'the change carries no signed approval and no CI token' });
    const ev: ApprovalEvidence = { approval: { ok: false, reason: 'signature does not verify' }, ciToken: { ok: false, reason: 'x' } };
    assert.deepEqual(approvalProof({ require: 'signed' }, ev, undefined, undefined), { ok: false, reason: 'approval not verified: signature does not verify' });
  });
});
