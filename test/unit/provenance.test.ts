/**
 * The provenance rule, judged on objects the real kubectl v1.35 produced offline (create deployment,
 * set image, set resources, annotate, label, patch, the rollout-restart patch) and on the request
 * context a real apiserver sends for each command (fieldManager per reference/admission-protocol.md §8).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import type { KubeObject } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import { sameIdentity } from '../../src/policy/rules/provenance.js';
import type { EvaluationResult, PolicySet, RequestContext, Violation } from '../../src/policy/types.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMMIT = 'tracegate.io/commit';
const APPROVER = 'tracegate.io/approver';
const BREAK_GLASS = 'tracegate.io/break-glass';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';

/** Policies from YAML texts, compiled the way `tracegate serve` and `check` compile them. */
function policySet(...docs: Array<{ text: string; file: string }>): PolicySet {
  const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
  const loader = createPolicyLoader({ schema });
  return loader.toSet(docs.flatMap((d) => loader.parse(d.text, d.file)));
}

function bundledText(name: string): { text: string; file: string } {
  return { text: readFileSync(join(ROOT, 'policies', name), 'utf8'), file: `policies/${name}` };
}

/** The bundled provenance policy with trusted deployers filled in, as a cluster admin would. */
function trustingProvenance(): PolicySet {
  const { text } = bundledText('provenance.yaml');
  const edited = text
    .replace('trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder]', 'trustedUsers: [system:serviceaccount:tracegate:tracegate-recorder, "system:serviceaccount:argocd:argocd-application-controller"]')
    .replace('trustedGroups: []', 'trustedGroups: [release-managers]');
  assert.notEqual(edited, text, 'the bundled policy still has empty trustedUsers/trustedGroups to fill in');
  return policySet({ text: edited, file: 'provenance-trusting.yaml' });
}

/** What the apiserver reports for a request in namespace team-a; `fieldManager: undefined` means none. */
function ctx(operation: RequestContext['operation'], over: Partial<RequestContext> = {}): RequestContext {
  return { operation, namespace: 'team-a', username: 'alice', groups: ['system:authenticated'], ...over };
}

function provenanceViolations(result: EvaluationResult): Violation[] {
  return result.violations.filter((v) => v.rule === 'change-provenance');
}

function onlyProvenanceViolation(result: EvaluationResult): Violation {
  const found = provenanceViolations(result);
  assert.equal(found.length, 1, `one provenance violation, got ${JSON.stringify(result.violations, null, 2)}`);
  return found[0]!;
}

function assertAllowed(result: EvaluationResult): void {
  assert.deepEqual(result.violations, [], 'no violations');
  assert.equal(result.verdict, 'allow');
}

describe('provenance rule on real kubectl objects', () => {
  let k: KubectlLocal;
  let bundled: PolicySet;
  /** `kubectl create deployment web --image=nginx:1.26 -n team-a --replicas=2`: container `nginx`. */
  let created: KubeObject;
  /** `created` as admitted earlier with commit c0ffee1 approved by bob: the live object. */
  let live: KubeObject;

  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
    bundled = policySet(bundledText('provenance.yaml'));
    created = await k.createDeployment('web', { image: 'nginx:1.26', namespace: 'team-a', replicas: 2 });
    live = await k.annotate(created, { [COMMIT]: 'c0ffee1', [APPROVER]: 'bob' });
  });

  describe('CREATE', () => {
    it('denies kubectl create deployment without provenance, naming user, manager and the annotations to add', () => {
      const result = evaluate(bundled, ctx('CREATE', { fieldManager: 'kubectl-create' }), created, null);
      assert.equal(result.verdict, 'deny');
      assert.equal(result.templateChanged, true);
      assert.deepEqual(result.changes, ['image nginx: nginx:1.26']);
      const v = onlyProvenanceViolation(result);
      assert.match(v.message, /\balice\b/);
      assert.match(v.message, /via kubectl-create/);
      assert.match(v.message, /no commit annotation tracegate\.io\/commit \(or ci\/commit, commit\)/);
      assert.match(v.message, /no approver annotation tracegate\.io\/approver \(or ci\/approver, approvedBy\)/);
      assert.match(v.fix, /tracegate\.io\/commit=<commit sha>/);
      assert.match(v.fix, /tracegate\.io\/approver=<approver other than alice>/);
      assert.equal(v.path, 'metadata.annotations');
      assert.equal(v.value, undefined, 'no commit, no offending value');
    });

    it('allows a create that carries a commit and an approver who is not the requester', async () => {
      const obj = await k.annotate(created, { [COMMIT]: 'a1b2c3d', [APPROVER]: 'bob' });
      assertAllowed(evaluate(bundled, ctx('CREATE', { fieldManager: 'kubectl-create' }), obj, null));
    });

    it('judges client-side and server-side kubectl apply creates as script-driven', async () => {
      const applied = await k.annotate(created, { 'kubectl.kubernetes.io/last-applied-configuration': '{}' });
      for (const fieldManager of ['kubectl-client-side-apply', 'kubectl']) {
        const v = onlyProvenanceViolation(evaluate(bundled, ctx('CREATE', { fieldManager }), applied, null));
        assert.match(v.message, new RegExp(`^script-driven edit by alice via ${fieldManager} `));
      }
      const ok = await k.annotate(applied, { [COMMIT]: 'a1b2c3d', [APPROVER]: 'bob' });
      assertAllowed(evaluate(bundled, ctx('CREATE', { fieldManager: 'kubectl-client-side-apply' }), ok, null));
    });
  });

  describe('kubectl set image', () => {
    let setImage: KubeObject;
    before(async () => {
      setImage = await k.setImage(created, { nginx: 'nginx:1.27' });
    });

    it('without provenance is a script-driven edit that names kubectl-set, the user and the image change', () => {
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), setImage, created);
      assert.equal(result.verdict, 'deny');
      assert.equal(result.templateChanged, true);
      assert.deepEqual(result.changes, ['image nginx: nginx:1.26 → nginx:1.27']);
      const v = onlyProvenanceViolation(result);
      assert.match(v.message, /^script-driven edit by alice via kubectl-set \(image nginx: nginx:1\.26 → nginx:1\.27\) lacks provenance/);
      assert.match(v.fix, /kubectl set cannot change annotations/, 'the fix says how a kubectl-set user can comply');
    });

    it('with a fresh commit and approver bob is allowed', async () => {
      const before = live;
      const after = await k.annotate(await k.setImage(live, { nginx: 'nginx:1.27' }), { [COMMIT]: 'd00d2e3', [APPROVER]: 'bob' });
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), after, before);
      assertAllowed(result);
      assert.equal(result.templateChanged, true);
      assert.deepEqual(result.applied.map((p) => p.name), ['provenance']);
    });

    it('with the requester as approver is denied for separation of duties', async () => {
      const image = await k.setImage(live, { nginx: 'nginx:1.27' });
      for (const approver of ['alice', 'Alice', 'alice@example.com']) {
        const after = await k.annotate(image, { [COMMIT]: 'd00d2e3', [APPROVER]: approver });
        const v = onlyProvenanceViolation(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), after, live));
        assert.match(v.message, /is the requester \(separation of duties\)/, approver);
        assert.match(v.fix, /tracegate\.io\/approver=<someone other than alice>/);
      }
    });

    it('with an unchanged commit is denied: the provenance is not new for this change', async () => {
      const after = await k.setImage(live, { nginx: 'nginx:1.27' });
      const v = onlyProvenanceViolation(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), after, live));
      assert.match(v.message, /commit c0ffee1 is not new/);
      assert.doesNotMatch(v.message, /approver/, 'approver bob is still fine');
      assert.equal(v.value, 'c0ffee1');
      assert.match(v.fix, /tracegate\.io\/commit=<the new commit sha>/);
    });

    it('copying the old commit under an alias does not make it fresh', async () => {
      const after = await k.annotate(await k.setImage(live, { nginx: 'nginx:1.27' }), { 'ci/commit': 'c0ffee1' });
      const v = onlyProvenanceViolation(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), after, live));
      assert.match(v.message, /commit c0ffee1 is not new/);
    });
  });

  it('kubectl set resources without a new commit is denied and the message says what changed', async () => {
    const after = await k.setResources(live, { container: 'nginx', limits: 'cpu=500m,memory=256Mi', requests: 'cpu=250m,memory=128Mi' });
    const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), after, live);
    assert.deepEqual(result.changes, [
      'resources nginx: requests.cpu (none) → 250m',
      'resources nginx: requests.memory (none) → 128Mi',
      'resources nginx: limits.cpu (none) → 500m',
      'resources nginx: limits.memory (none) → 256Mi',
    ]);
    const v = onlyProvenanceViolation(result);
    assert.match(v.message, /resources nginx: limits\.cpu \(none\) → 500m/);
    assert.match(v.message, /commit c0ffee1 is not new/);
  });

  it('kubectl edit / patch / replace: one request that changes the image and the commit passes; without the commit it does not', async () => {
    const change = { spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } } } };
    const withCommit = await k.patch(live, { metadata: { annotations: { [COMMIT]: 'e4e4e4e' } }, ...change });
    const without = await k.patch(live, change);
    for (const fieldManager of ['kubectl-edit', 'kubectl-patch', 'kubectl-replace']) {
      assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager }), withCommit, live));
      const v = onlyProvenanceViolation(evaluate(bundled, ctx('UPDATE', { fieldManager }), without, live));
      assert.match(v.message, new RegExp(`via ${fieldManager} \\(image nginx: nginx:1\\.26 → nginx:1\\.27\\)`));
      assert.doesNotMatch(v.fix, /kubectl set cannot/, 'only kubectl-set gets the kubectl-set hint');
    }
  });

  describe('provenance found through aliases', () => {
    it('ci/commit and approvedBy on the object metadata', async () => {
      const obj = await k.annotate(created, { 'ci/commit': 'a1b2c3d', approvedBy: 'bob' });
      assertAllowed(evaluate(bundled, ctx('CREATE', { fieldManager: 'kubectl-create' }), obj, null));
    });

    it('ci/commit and approvedBy on the pod template', async () => {
      const obj = await k.patch(created, { spec: { template: { metadata: { annotations: { 'ci/commit': 'a1b2c3d', approvedBy: 'bob' } } } } });
      assert.equal(obj.metadata?.annotations, undefined, 'nothing on the object metadata');
      assertAllowed(evaluate(bundled, ctx('CREATE', { fieldManager: 'helm' }), obj, null));
    });

    it('an approver alias naming the requester is still separation of duties', async () => {
      const obj = await k.annotate(created, { 'ci/commit': 'a1b2c3d', approvedBy: 'alice' });
      const v = onlyProvenanceViolation(evaluate(bundled, ctx('CREATE', { fieldManager: 'kubectl-create' }), obj, null));
      assert.match(v.message, /approver alice is the requester/);
    });

    it('a new template commit counts even when a stale canonical commit stays on the object', async () => {
      // A chart that stamps ci/commit on the template; the gate stamped tracegate.io/commit on the object earlier.
      const old = await k.patch(live, { spec: { template: { metadata: { annotations: { 'ci/commit': 'c0ffee1' } } } } });
      const upgrade = {
        spec: { template: { metadata: { annotations: { 'ci/commit': 'f00f00f' } }, spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } } },
      };
      const now = await k.patch(old, upgrade);
      assert.equal(now.metadata?.annotations?.[COMMIT], 'c0ffee1', 'the object-level commit is unchanged');
      assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'helm', username: 'ci-bot' }), now, old));
    });
  });

  describe('updates that are not template changes', () => {
    it('a scale-only change (replicas) is allowed and is not a template change', async () => {
      const scaled = await k.patch(live, { spec: { replicas: 5 } }, 'merge');
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-patch' }), scaled, live);
      assertAllowed(result);
      assert.equal(result.templateChanged, false);
      assert.deepEqual(result.changes, []);
      assert.deepEqual(result.applied.map((p) => p.name), ['provenance'], 'the policy applied and found nothing');
    });

    it('kubectl annotate and kubectl label (metadata only) are allowed', async () => {
      const annotated = await k.annotate(created, { 'team.example.com/owner': 'payments' });
      const labelled = await k.label(created, { tier: 'frontend' });
      assert.notDeepEqual(labelled.metadata?.labels, created.metadata?.labels);
      for (const [obj, fieldManager] of [[annotated, 'kubectl-annotate'], [labelled, 'kubectl-label']] as const) {
        const result = evaluate(bundled, ctx('UPDATE', { fieldManager }), obj, created);
        assertAllowed(result);
        assert.equal(result.templateChanged, false, fieldManager);
      }
    });

    it('kubectl rollout restart (restartedAt only) is allowed, also for a second restart', async () => {
      const first = await k.rolloutRestartPatch(created, '2025-01-01T10:00:00Z');
      const second = await k.rolloutRestartPatch(first, '2025-01-02T10:00:00Z');
      const tmeta = (second.spec?.['template'] as { metadata?: { annotations?: Record<string, string> } }).metadata;
      assert.equal(tmeta?.annotations?.[RESTARTED_AT], '2025-01-02T10:00:00Z');
      for (const [obj, old] of [[first, created], [second, first]] as const) {
        const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-rollout' }), obj, old);
        assertAllowed(result);
        assert.equal(result.templateChanged, false);
      }
    });

    it('a restart combined with an image change is a template change', async () => {
      const restarted = await k.rolloutRestartPatch(created, '2025-01-01T10:00:00Z');
      const changed = await k.setImage(restarted, { nginx: 'nginx:1.27' });
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), changed, created);
      assert.equal(result.templateChanged, true);
      assert.deepEqual(result.changes, ['image nginx: nginx:1.26 → nginx:1.27'], 'restartedAt is not reported');
      assert.equal(result.verdict, 'deny');
    });

    it('kubectl rollout pause (spec.paused) is allowed', async () => {
      const paused = await k.patch(live, { spec: { paused: true } });
      assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-rollout' }), paused, live));
    });

    it('a scale subresource request (kind Scale, subResource scale) is allowed with no policies applied', () => {
      const scale: KubeObject = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: 'team-a' }, spec: { replicas: 5 } };
      const oldScale: KubeObject = { ...scale, spec: { replicas: 2 } };
      const result = evaluate(bundled, ctx('UPDATE', { subResource: 'scale' }), scale, oldScale);
      assert.deepEqual(result, { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] });
    });

    it('a scale subresource request carrying the full Deployment is still not judged', async () => {
      const changed = await k.setImage(created, { nginx: 'nginx:1.27' });
      const result = evaluate(bundled, ctx('UPDATE', { subResource: 'scale' }), changed, created);
      assert.deepEqual(result.applied, []);
      assert.equal(result.verdict, 'allow');
    });

    it('DELETE (object null) is allowed with no policies applied', () => {
      const result = evaluate(bundled, ctx('DELETE', { fieldManager: undefined }), null, live);
      assert.deepEqual(result, { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] });
    });
  });

  it('kubectl rollout undo restores an earlier revision with its own commit and approver: allowed unless the requester approved it', async () => {
    const v2 = await k.patch(live, {
      metadata: { annotations: { [COMMIT]: 'd00d2e3', [APPROVER]: 'carol' } },
      spec: { template: { spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] } } },
    });
    const revision1 = live.spec?.['template'];
    // What rollout undo sends: a JSON patch replacing the template and the whole annotations map.
    const undo = [
      { op: 'replace', path: '/spec/template', value: revision1 },
      { op: 'replace', path: '/metadata/annotations', value: live.metadata?.annotations },
    ];
    const undone = await k.patch(v2, undo, 'json');
    const rollback = ctx('UPDATE', { fieldManager: 'kubectl', username: 'dave' });
    const result = evaluate(bundled, rollback, undone, v2);
    assert.deepEqual(result.changes, ['image nginx: nginx:1.27 → nginx:1.26']);
    assertAllowed(result);
    const byApprover = evaluate(bundled, { ...rollback, username: 'bob' }, undone, v2);
    assert.match(onlyProvenanceViolation(byApprover).message, /approver bob is the requester/);
  });

  describe('trusted deployers', () => {
    let trusting: PolicySet;
    let change: KubeObject;
    before(async () => {
      trusting = trustingProvenance();
      change = await k.setImage(created, { nginx: 'nginx:1.27' });
    });

    it('a member of a trusted group deploying with a trusted manager is exempt', () => {
      for (const fieldManager of ['helm', 'argocd-controller', 'kustomize-controller', 'helm-controller']) {
        const who = { fieldManager, username: 'rita', groups: ['release-managers', 'system:authenticated'] };
        assertAllowed(evaluate(trusting, ctx('CREATE', who), created, null));
        assertAllowed(evaluate(trusting, ctx('UPDATE', who), change, created));
      }
    });

    it('the trusted Argo CD service account with argocd-controller is exempt', () => {
      const argo = { fieldManager: 'argocd-controller', username: 'system:serviceaccount:argocd:argocd-application-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'] };
      assertAllowed(evaluate(trusting, ctx('UPDATE', argo), change, created));
    });

    it('a trusted user using kubectl set is not exempt: the edit is script-driven', () => {
      const v = onlyProvenanceViolation(evaluate(trusting, ctx('UPDATE', { fieldManager: 'kubectl-set', username: 'rita', groups: ['release-managers'] }), change, created));
      assert.match(v.message, /^script-driven edit by rita via kubectl-set/);
    });

    it('fieldManager helm from an untrusted user is not exempt', () => {
      const result = evaluate(trusting, ctx('CREATE', { fieldManager: 'helm', username: 'mallory' }), created, null);
      assert.equal(result.verdict, 'deny');
      assert.match(onlyProvenanceViolation(result).message, /^create by mallory via helm \(image nginx: nginx:1\.26\) lacks provenance/);
    });

    it('per manager: only trusted managers exempt a trusted user; script managers and unknown tools do not', () => {
      const managers = [
        'kubectl-set', 'kubectl-edit', 'kubectl-patch', 'kubectl-replace', 'kubectl-client-side-apply', 'kubectl',
        'kubectl-rollout', 'kubectl-label', 'kubectl-annotate', 'helm', 'argocd-controller', 'kustomize-controller',
        'helm-controller', undefined,
      ];
      const trustedTools = new Set(['helm', 'argocd-controller', 'kustomize-controller', 'helm-controller']);
      const scriptTools = new Set(['kubectl-set', 'kubectl-edit', 'kubectl-patch', 'kubectl-replace', 'kubectl-client-side-apply', 'kubectl']);
      for (const fieldManager of managers) {
        const who = { username: 'rita', groups: ['release-managers'], ...(fieldManager ? { fieldManager } : {}) };
        const trusted = evaluate(trusting, ctx('UPDATE', who), change, created);
        const untrusted = evaluate(trusting, ctx('UPDATE', { ...who, username: 'alice', groups: ['system:authenticated'] }), change, created);
        const label = fieldManager ?? '(none)';
        assert.equal(trusted.verdict, trustedTools.has(label) ? 'allow' : 'deny', `trusted user via ${label}`);
        assert.equal(untrusted.verdict, 'deny', `untrusted user via ${label}`);
        const v = onlyProvenanceViolation(untrusted);
        const kind = scriptTools.has(label) ? 'script-driven edit' : 'change';
        const via = fieldManager ? ` via ${fieldManager}` : '';
        assert.ok(v.message.startsWith(`${kind} by alice${via} (image nginx: nginx:1.26 → nginx:1.27)`), v.message);
      }
    });
  });

  describe('break-glass', () => {
    const member = { fieldManager: 'kubectl-set', username: 'oncall-olga', groups: ['tracegate:break-glass', 'system:authenticated'] };
    let glass: KubeObject;
    before(async () => {
      glass = await k.annotate(await k.setImage(live, { nginx: 'nginx:1.27' }), { [BREAK_GLASS]: 'INC-4711 nginx CVE hotfix' });
    });

    it('a member of the configured group is allowed and the result says break-glass was used', () => {
      const result = evaluate(bundled, ctx('UPDATE', member), glass, live);
      assertAllowed(result);
      assert.deepEqual(result.breakGlass, { reason: 'INC-4711 nginx CVE hotfix', user: 'oncall-olga' });
    });

    it('a member whose change has full provenance waived nothing, so no break-glass is reported', async () => {
      const complete = await k.annotate(glass, { [COMMIT]: 'b0b0b0b', [APPROVER]: 'bob' });
      const result = evaluate(bundled, ctx('UPDATE', member), complete, live);
      assertAllowed(result);
      assert.equal(result.breakGlass, undefined);
    });

    it('a non-member is denied, for the break-glass annotation and for the missing provenance', () => {
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), glass, live);
      assert.equal(result.verdict, 'deny');
      assert.equal(result.breakGlass, undefined);
      const [glassViolation, provenance] = provenanceViolations(result);
      assert.equal(glassViolation?.path, `metadata.annotations["${BREAK_GLASS}"]`);
      assert.match(glassViolation?.message ?? '', /was set by alice, who is not in tracegate:break-glass/);
      assert.match(provenance?.message ?? '', /commit c0ffee1 is not new/);
    });

    it('an annotation left by an earlier break-glass neither blocks nor helps the next non-member', async () => {
      const next = await k.annotate(await k.setImage(glass, { nginx: 'nginx:1.28' }), { [COMMIT]: 'b0b0b0b', [APPROVER]: 'bob' });
      assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), next, glass));
      const unapproved = await k.setImage(glass, { nginx: 'nginx:1.28' });
      const result = evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), unapproved, glass);
      assert.equal(result.breakGlass, undefined);
      assert.equal(provenanceViolations(result).length, 1, 'only the provenance violation');
    });
  });

  it('every violation names rule, policy, version, action, path, message and fix; container ones add container and path', async () => {
    const set = policySet(bundledText('provenance.yaml'), bundledText('image-hygiene.yaml'), bundledText('resources.yaml'));
    const obj = await k.createDeployment('web', { image: ['nginx:latest', 'redis'], namespace: 'team-a' });
    const result = evaluate(set, ctx('CREATE', { fieldManager: 'kubectl-create' }), obj, null);
    assert.equal(result.verdict, 'deny');
    assert.deepEqual(result.applied.map((p) => p.name), ['image-hygiene', 'provenance', 'resources']);
    for (const v of result.violations) {
      for (const field of ['rule', 'policy', 'policyVersion', 'action', 'path', 'message', 'fix'] as const) {
        assert.equal(typeof v[field], 'string', `${field} of ${JSON.stringify(v)}`);
        assert.notEqual(v[field], '', `${field} of ${JSON.stringify(v)}`);
      }
      assert.equal(v.policyVersion, '1.1.0');
    }
    const images = result.violations.filter((v) => v.policy === 'image-hygiene');
    assert.deepEqual(
      images.map((v) => [v.container, v.containerList, v.path, v.value]),
      [
        ['nginx', 'containers', 'spec.template.spec.containers[0].image', 'nginx:latest'],
        ['redis', 'containers', 'spec.template.spec.containers[1].image', 'redis'],
      ],
    );
    const resources = result.violations.filter((v) => v.policy === 'resources');
    assert.deepEqual(resources.map((v) => v.path), [
      'spec.template.spec.containers[0].resources.requests',
      'spec.template.spec.containers[0].resources.limits',
      'spec.template.spec.containers[1].resources.requests',
      'spec.template.spec.containers[1].resources.limits',
    ]);
    assert.ok(resources.every((v) => v.container !== undefined));
    const provenance = onlyProvenanceViolation(result);
    assert.equal(provenance.container, undefined);
    assert.equal(provenance.policy, 'provenance');
  });

  it('audit and warn provenance rules report without denying', async () => {
    const text = bundledText('provenance.yaml').text;
    for (const action of ['warn', 'audit'] as const) {
      const set = policySet({ text: text.replace('action: deny', `action: ${action}`), file: `${action}.yaml` });
      const result = evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-set' }), await k.setImage(live, { nginx: 'nginx:1.27' }), live);
      assert.equal(onlyProvenanceViolation(result).action, action);
      assert.equal(result.verdict, action === 'warn' ? 'warn' : 'allow');
    }
  });

  it('a policy requiring a pipeline run names its annotation', async () => {
    const text = bundledText('provenance.yaml').text.replace('requireApprover: true', 'requireApprover: true\n        requirePipelineRun: true');
    const set = policySet({ text, file: 'pipeline.yaml' });
    const obj = await k.annotate(created, { [COMMIT]: 'a1b2c3d', [APPROVER]: 'bob' });
    const v = onlyProvenanceViolation(evaluate(set, ctx('CREATE', { fieldManager: 'kubectl-create' }), obj, null));
    assert.match(v.message, /no pipeline-run annotation tracegate\.io\/pipeline-run/);
    const withRun = await k.annotate(obj, { 'ci/run': 'https://ci.example.com/runs/42' });
    assertAllowed(evaluate(set, ctx('CREATE', { fieldManager: 'kubectl-create' }), withRun, null));
  });
});

describe('sameIdentity', () => {
  const same: Array<[string, string]> = [
    ['alice', 'alice'],
    ['ALICE', 'alice'],
    ['alice@example.com', 'alice'],
    ['alice', 'alice@example.com'],
    ['alice', 'oidc:alice'],
    ['alice@example.com', 'https://issuer.example.com#alice@example.com'],
    ['deployer', 'system:serviceaccount:ci:deployer'],
    ['carol@example.com', 'oidc:Carol@other.example.com'],
    [' alice ', 'https://issuer.example.com#alice'],
  ];
  for (const [approver, user] of same) it(`${approver} is ${user}`, () => assert.equal(sameIdentity(approver, user), true));
  const different: Array<[string, string]> = [
    ['bob', 'alice'],
    ['alice-bot', 'alice'],
    ['', 'alice'],
    ['bob', ''],
    ['@example.com', 'alice@example.com'],
    ['oidc:', 'alice'],
  ];
  for (const [approver, user] of different) it(`${approver || '(empty)'} is not ${user || '(empty)'}`, () => assert.equal(sameIdentity(approver, user), false));
});

describe('provenance in an earlier metadata-only update (annotate, then set image)', () => {
  const STAMP = 'tracegate.io/used-commits';
  let k: KubectlLocal;
  let bundled: PolicySet;
  /** Live object admitted by the gate with commit c0ffee1: the gate stamped change-commit. */
  let live: KubeObject;

  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
    bundled = policySet(bundledText('provenance.yaml'));
    const created = await k.createDeployment('web', { image: 'nginx:1.26', namespace: 'team-a' });
    live = await k.annotate(created, { [COMMIT]: 'c0ffee1', [APPROVER]: 'bob', [STAMP]: 'c0ffee1' });
  });

  it('a commit annotated before kubectl set image makes that set image fresh', async () => {
    const annotated = await k.annotate(live, { [COMMIT]: 'd00d2e4', [APPROVER]: 'carol' });
    assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-annotate' }), annotated, live));
    const changed = await k.setImage(annotated, { nginx: 'nginx:1.27' });
    assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), changed, annotated));
  });

  it('the same commit cannot carry a second change once the gate stamped it', async () => {
    const annotated = await k.annotate(live, { [COMMIT]: 'd00d2e4', [APPROVER]: 'carol', [STAMP]: 'd00d2e4' });
    const changed = await k.setImage(annotated, { nginx: 'nginx:1.28' });
    const v = onlyProvenanceViolation(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), changed, annotated));
    assert.match(v.message, /commit d00d2e4 is not new/);
  });

  it('an alias set before the change wins over the stale canonical key', async () => {
    const annotated = await k.annotate(live, { 'ci/commit': 'e11e3f4' });
    const changed = await k.setImage(annotated, { nginx: 'nginx:1.27' });
    assertAllowed(evaluate(bundled, ctx('UPDATE', { fieldManager: 'kubectl-set' }), changed, annotated));
  });
});
