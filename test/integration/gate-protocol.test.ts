/**
 * The admission protocol over real HTTPS (reference/admission-protocol.md §1, §4, §5): every shared
 * fixture and reviews built from real kubectl objects, posted to /validate and /mutate of one gate.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { bundledPoliciesDir } from '../../src/paths.js';
import { admissionFixture, admissionFixtures, reviewFor, startGateHarness, storedObject, type GateHarness, type HttpResult } from '../support/gate-harness.js';
import { applyPatchAsApiserver, decodeResponsePatch } from '../support/json-patch.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

/** What the apiserver keeps of an audit annotation key (it drops the rest): one qualified-name part. */
const AUDIT_KEY = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const POLICY_REF = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?@[^=,]+=sha256:[0-9a-f]{64}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** The apiserver's warning budget: past 4096 runes in total it truncates each to 256 and drops the rest. */
const MAX_WARNING_RUNES = 256;
const MAX_WARNINGS_TOTAL_RUNES = 4096;
/** Rules in the warning-flood policy: enough that their warnings overflow the total budget. */
const FLOOD_RULES = 25;
/** A hang guard per suite, not a speed check: a request the gate never answers fails instead of hanging. */
const HANG_GUARD_MS = 60_000;

const runes = (s: string) => [...s].length;

/** A warn-only policy selecting objects labelled tracegate-test=warnings; messages carry newlines and non-ASCII. */
function floodPolicy(): string {
  const line = 'Pin every image by digest — tags move 🚀 and caches lie; résumé of the rule follows.\tSee the runbook.';
  return JSON.stringify({
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'warn-flood', version: '0.0.1' },
    spec: {
      match: { labelSelector: { matchLabels: { 'tracegate-test': 'warnings' } } },
      rules: Array.from({ length: FLOOD_RULES }, (_, i) => ({
        id: `w${String(i).padStart(2, '0')}`,
        action: 'warn',
        images: { requireDigest: true },
        message: `${line}\n${line}\n${line}\n${line}`,
        fix: 'use image@sha256:<digest>',
      })),
    },
  });
}

/** The checks every webhook answer must pass, whatever the decision. */
function assertWellFormed(res: HttpResult, uid: string, webhook: 'validate' | 'mutate'): void {
  assert.equal(res.status, 200, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json\b/);
  const body = res.json;
  assert.equal(body.apiVersion, 'admission.k8s.io/v1');
  assert.equal(body.kind, 'AdmissionReview');
  assert.equal(body.request, undefined);
  const r = body.response;
  assert.equal(r.uid, uid);
  assert.equal(typeof r.allowed, 'boolean');
  if (!r.allowed) {
    assert.equal(r.status.code, 403);
    assert.equal(typeof r.status.message, 'string');
    assert.ok(r.status.message.length > 0);
  }
  if (webhook === 'validate') {
    assert.equal(r.patch, undefined, 'a validating webhook may not return a patch');
    assert.equal(r.patchType, undefined, 'a validating webhook may not return a patchType');
  } else {
    assert.equal(r.patch === undefined, r.patchType === undefined, 'patch and patchType come together or not at all');
    if (r.patch !== undefined) {
      assert.equal(r.patchType, 'JSONPatch');
      const ops = decodeResponsePatch(r.patch);
      assert.ok(ops.ok, ops.ok ? '' : ops.error);
      assert.ok(ops.value.length > 0, 'an empty patch must be omitted');
    }
  }
  assertWarningsValid(r.warnings);
  if (r.auditAnnotations !== undefined) {
    for (const [k, v] of Object.entries(r.auditAnnotations as Record<string, unknown>)) {
      assert.match(k, AUDIT_KEY, `audit annotation key ${k}`);
      assert.equal(typeof v, 'string');
    }
  }
}

function assertWarningsValid(warnings: unknown): void {
  if (warnings === undefined) return;
  assert.ok(Array.isArray(warnings));
  let total = 0;
  for (const w of warnings as unknown[]) {
    assert.equal(typeof w, 'string');
    const text = w as string;
    assert.ok(text.length > 0);
    assert.doesNotMatch(text, CONTROL, `warning has a control character: ${JSON.stringify(text)}`);
    assert.doesNotMatch(text, LONE_SURROGATE, 'warning was cut inside a character');
    assert.ok(runes(text) <= MAX_WARNING_RUNES, `warning of ${runes(text)} runes`);
    total += runes(text);
  }
  assert.ok(total <= MAX_WARNINGS_TOTAL_RUNES, `warnings total ${total} runes`);
  assert.equal(new Set(warnings as string[]).size, (warnings as string[]).length, 'duplicate warnings');
}

/** Policy references in the `policies` audit annotation. */
function policyRefs(audit: Record<string, string>): string[] {
  assert.equal(typeof audit.policies, 'string', 'policies audit annotation');
  const refs = audit.policies!.split(',');
  for (const ref of refs) assert.match(ref, POLICY_REF);
  return refs;
}

let h: GateHarness;
let k: KubectlLocal;
let policyDir: string;

before(async () => {
  policyDir = await mkdtemp(join(tmpdir(), 'tracegate-flood-'));
  await writeFile(join(policyDir, 'warn-flood.yaml'), floodPolicy());
  const [harness, tools] = await Promise.all([startGateHarness({ config: { policies: [bundledPoliciesDir, policyDir] } }), ensureRealTools()]);
  h = harness;
  k = createKubectlLocal(tools);
});

after(async () => {
  await h?.close();
  await rm(policyDir, { recursive: true, force: true });
});

describe('every shared fixture, on both webhooks', { timeout: HANG_GUARD_MS }, () => {
  const fixtures = admissionFixtures();

  it('finds the captured and constructed requests', () => {
    assert.ok(fixtures.some((f) => f.name.startsWith('captured/pepr__')), 'request-only captures are wrapped');
    assert.ok(fixtures.some((f) => f.name.startsWith('constructed/15-')));
    assert.ok(fixtures.length >= 12, `only ${fixtures.length} fixtures`);
  });

  for (const f of fixtures) {
    for (const webhook of ['validate', 'mutate'] as const) {
      it(`${f.name} → /${webhook}: a well-formed v1 review for the same uid`, async () => {
        const res = await h.review(`/${webhook}`, f.review, { query: 'timeout=10s' });
        assertWellFormed(res, f.review.request.uid, webhook);
        const r = res.json.response;
        if (webhook === 'mutate' && r.patch !== undefined) {
          const applied = applyPatchAsApiserver(f.review.request.object, r.patch);
          assert.ok(applied.ok, `the apiserver would fail this patch: ${applied.ok ? '' : applied.error}`);
        }
        const isDeploymentChange = f.review.request.kind.kind === 'Deployment' && ['CREATE', 'UPDATE'].includes(f.review.request.operation);
        if (webhook === 'validate' && isDeploymentChange) {
          assert.ok(['allow', 'warn', 'deny'].includes(r.auditAnnotations.decision));
          const names = policyRefs(r.auditAnnotations).map((p) => p.split('@')[0]);
          assert.deepEqual(names.sort(), ['image-hygiene', 'provenance', 'resources', 'rollback-history']);
        }
        if (isDeploymentChange) assert.equal(typeof r.auditAnnotations.decision, 'string');
        if (webhook === 'mutate' && isDeploymentChange && r.allowed) {
          assert.equal(r.auditAnnotations.decision, 'allow');
          assert.deepEqual(policyRefs(r.auditAnnotations).map((p) => p.split('@')[0]), ['provenance'], 'the policy whose aliases were used');
        }
      });
    }
  }
});

describe('operations without a pod template', { timeout: HANG_GUARD_MS }, () => {
  for (const name of ['constructed/15-delete-kubectl.json', 'constructed/13-update-kubectl-scale.subresource.json']) {
    it(`${name} is allowed with no patch by both webhooks`, async () => {
      const review = admissionFixture(name);
      if (name.includes('delete')) assert.equal(review.request.object, null, 'premise: DELETE has a null object');
      else assert.equal(review.request.object.kind, 'Scale', 'premise: the scale subresource sends a Scale');
      for (const webhook of ['validate', 'mutate'] as const) {
        const res = await h.review(`/${webhook}`, review);
        assertWellFormed(res, review.request.uid, webhook);
        assert.equal(res.json.response.allowed, true);
        assert.equal(res.json.response.patch, undefined);
        assert.equal(res.json.response.patchType, undefined);
        assert.equal(res.json.response.auditAnnotations?.decision, 'skip');
      }
    });
  }
});

describe('dry run', { timeout: HANG_GUARD_MS }, () => {
  it('a --dry-run=server request is judged exactly like the same request without it', async () => {
    const real = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');
    const dry = admissionFixture('constructed/12-update-kubectl-set-image.dry-run.json');
    assert.equal(dry.request.dryRun, true, 'premise');
    const [a, b] = await Promise.all([h.review('/validate', real), h.review('/validate', dry)]);
    assertWellFormed(a, real.request.uid, 'validate');
    assertWellFormed(b, dry.request.uid, 'validate');
    const strip = (r: Record<string, unknown>) => ({ ...r, uid: undefined });
    assert.deepEqual(strip(b.json.response), strip(a.json.response));

    const [ma, mb] = await Promise.all([h.review('/mutate', real), h.review('/mutate', dry)]);
    const paths = (res: HttpResult) => {
      const ops = decodeResponsePatch(res.json.response.patch);
      assert.ok(ops.ok);
      return (ops.value as { path: string }[]).map((o) => o.path).sort();
    };
    assert.deepEqual(paths(mb), paths(ma));
  });
});

describe('denial message', { timeout: HANG_GUARD_MS }, () => {
  it('lists every violation of every container in one message, with field, value, rule, policy and fix', async () => {
    const obj = await k.createDeployment('web', { image: ['nginx:latest', 'busybox'], namespace: 'team-a' });
    const review = reviewFor(obj, { fieldManager: 'kubectl-create' });
    const res = await h.review('/validate', review);
    assertWellFormed(res, review.request.uid, 'validate');
    const r = res.json.response;
    assert.equal(r.allowed, false);
    assert.equal(r.status.code, 403);
    assert.equal(r.status.reason, 'Forbidden');
    const message: string = r.status.message;
    const expected: [string, string[]][] = [
      ['nginx:latest', ['container nginx', 'spec.template.spec.containers[0].image', 'nginx:latest', 'policy image-hygiene', 'rule no-latest']],
      ['untagged busybox', ['container busybox', 'spec.template.spec.containers[1].image', '"busybox"', 'policy image-hygiene', 'rule no-latest']],
      ['nginx limits', ['container nginx', 'spec.template.spec.containers[0].resources.limits', 'policy resources', 'rule requests-and-limits']],
      ['busybox limits', ['container busybox', 'spec.template.spec.containers[1].resources.limits', 'policy resources', 'rule requests-and-limits']],
      ['nginx requests', ['container nginx', 'spec.template.spec.containers[0].resources.requests']],
      ['busybox requests', ['container busybox', 'spec.template.spec.containers[1].resources.requests']],
      ['provenance', ['policy provenance', 'rule change-provenance']],
    ];
    const items = message.split('\n').filter((l) => /^\s+\d+\. /.test(l));
    assert.equal(items.length, expected.length, message);
    for (const [what, parts] of expected) {
      const line = items.find((l) => parts.every((p) => l.includes(p)));
      assert.ok(line, `no single item names ${what} (${parts.join(' | ')}) in:\n${message}`);
      assert.match(line!, /\(field [^;]+; policy [-a-z0-9]+ rule [-a-z0-9]+\)\. Fix: \S/);
    }
    assert.match(message, /^Deployment team-a\/web violates 7 tracegate policy rules:/);
    assert.match(r.auditAnnotations['denied-rules'], /image-hygiene\/no-latest/);
    assert.match(r.auditAnnotations['denied-rules'], /resources\/requests-and-limits/);
    assert.equal(r.auditAnnotations.decision, 'deny');
    policyRefs(r.auditAnnotations);
  });

  it('a compliant change is allowed, with no status, and its mutation applies', async () => {
    let obj = await k.createDeployment('api', { image: 'registry.example.com/team-a/api:2.0.0', namespace: 'team-a' });
    obj = await k.setResources(obj, { limits: 'cpu=500m,memory=256Mi', requests: 'cpu=250m,memory=128Mi' });
    obj = await k.annotate(obj, { 'ci/commit': '3f2a9c1', approvedBy: 'bob@example.com' });
    const opts = { fieldManager: 'helm', username: 'system:serviceaccount:ci:deployer' };
    const review = reviewFor(obj, opts);
    const m = await h.review('/mutate', review);
    assertWellFormed(m, review.request.uid, 'mutate');
    const patched = applyPatchAsApiserver(review.request.object, m.json.response.patch);
    assert.ok(patched.ok);
    // The validating stage sees the mutated object (the gate's stamps on it).
    const validating = reviewFor(patched.value as typeof obj, { ...opts, stage: 'validating' });
    const v = await h.review('/validate', validating);
    assertWellFormed(v, validating.request.uid, 'validate');
    assert.equal(v.json.response.allowed, true, v.json.response.status?.message);
    assert.equal(v.json.response.status, undefined);
    assert.equal(v.json.response.auditAnnotations.decision, 'allow');
  });
});

describe('warnings', { timeout: HANG_GUARD_MS }, () => {
  it('many long multi-line warn messages stay single-line and within the apiserver budget', async () => {
    let obj = await k.createDeployment('noisy', { image: ['registry.example.com/a:1', 'registry.example.com/b:2', 'registry.example.com/c:3'], namespace: 'team-a' });
    obj = await k.label(obj, { 'tracegate-test': 'warnings' });
    const review = reviewFor(obj, { fieldManager: 'kubectl-create' });
    const res = await h.review('/validate', review);
    assertWellFormed(res, review.request.uid, 'validate');
    const warnings: string[] = res.json.response.warnings;
    assert.ok(Array.isArray(warnings) && warnings.length > 1, 'the flood policy produced warnings');
    assert.ok(warnings.some((w) => w.includes('🚀')), 'non-ASCII text survives');
    assert.ok(warnings.length < FLOOD_RULES, 'the budget cut some warnings');
    assert.match(warnings.at(-1)!, /more warning/, 'the cut is announced');
    assert.match(res.json.response.auditAnnotations['warned-rules'], /warn-flood\/w00/);
  });
});

describe('body size', { timeout: HANG_GUARD_MS }, () => {
  it('the default limit accepts an object and an old object of about 3 MiB each', async () => {
    const base = await k.createDeployment('big', { image: 'registry.example.com/team-a/big:1.0.0', namespace: 'team-a' });
    // The apiserver's own request cap: each object can be this large.
    const threeMiB = 3 * 1024 * 1024;
    const padded = (o: KubeObject, fill: string): KubeObject => ({
      ...o,
      metadata: { ...o.metadata, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': fill.repeat(threeMiB) } },
    });
    const old = storedObject(padded(base, 'a'));
    const next = padded(await k.setImage(base, { big: 'registry.example.com/team-a/big:1.0.1' }), 'b');
    const review = reviewFor(next, { oldObject: old, fieldManager: 'kubectl-set' });
    const size = Buffer.byteLength(JSON.stringify(review));
    assert.ok(size > 2 * threeMiB, `premise: the review is ${size} bytes`);
    for (const webhook of ['validate', 'mutate'] as const) {
      const res = await h.review(`/${webhook}`, review);
      assertWellFormed(res, review.request.uid, webhook);
    }
  });
});
