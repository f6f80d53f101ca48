/**
 * The policy engine in general: which containers are judged, which policies select a request, how
 * actions make a verdict, what `onUpdate` keeps on UPDATE, and that bad input is a violation, never a
 * crash, and never a leak of env values. UPDATE fixtures are real kubectl edits.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import type { Container, KubeObject, PodTemplate } from '../../src/k8s/types.js';
import { evaluate, verdictOf } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import { labelSelectorMatches, policyMatches } from '../../src/policy/match.js';
import type { PolicySet, RequestContext, Violation } from '../../src/policy/types.js';
import { podTemplateOf } from '../../src/workload/pod-template.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'p4ssw0rd-DO-NOT-LEAK-7f3a9c';

function policySet(...docs: Array<{ text: string; file: string }>): PolicySet {
  const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
  const loader = createPolicyLoader({ schema });
  return loader.toSet(docs.flatMap((d) => loader.parse(d.text, d.file)));
}

function bundled(...names: string[]): PolicySet {
  return policySet(...names.map((n) => ({ text: readFileSync(join(ROOT, 'policies', n), 'utf8'), file: `policies/${n}` })));
}

/** A one-policy set from the `spec` part of a policy, written as YAML lines. */
function policy(name: string, specLines: string[], version?: string): { text: string; file: string } {
  const meta = version === undefined ? `{name: ${name}}` : `{name: ${name}, version: "${version}"}`;
  return { file: `${name}.yaml`, text: ['apiVersion: tracegate.io/v1alpha1', 'kind: Policy', `metadata: ${meta}`, 'spec:', ...specLines.map((l) => `  ${l}`)].join('\n') };
}

/** A rule list holding one no-latest images rule with the given extra fields. */
function noLatest(extra: string[] = []): string[] {
  return ['rules:', '  - id: no-latest', ...extra.map((l) => `    ${l}`), '    images: {disallowedTags: [latest], requireTag: true}'];
}

function ctx(operation: RequestContext['operation'], over: Partial<RequestContext> = {}): RequestContext {
  return { operation, namespace: 'team-a', username: 'alice', groups: ['system:authenticated'], fieldManager: 'kubectl-create', ...over };
}

function deployment(spec: PodTemplate['spec'], labels: Record<string, string> = { app: 'web' }): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'team-a', labels },
    spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec } },
  };
}

function containersOf(obj: KubeObject): Container[] {
  const list = podTemplateOf(obj)?.spec?.containers;
  assert.ok(Array.isArray(list));
  return list;
}

const paths = (vs: readonly Violation[]) => vs.map((v) => v.path);

describe('container lists', () => {
  const obj = deployment({
    initContainers: [{ name: 'migrate', image: 'flyway' }],
    containers: [{ name: 'web', image: 'nginx:1.27' }, { name: 'cache', image: 'redis:latest' }],
    ephemeralContainers: [{ name: 'debug', image: 'busybox:latest' }],
  });

  it('images rules judge containers, initContainers and ephemeralContainers with a path to each', () => {
    const result = evaluate(bundled('image-hygiene.yaml'), ctx('CREATE'), obj, null);
    assert.deepEqual(
      result.violations.map((v) => [v.containerList, v.container, v.path, v.value]),
      [
        ['containers', 'cache', 'spec.template.spec.containers[1].image', 'redis:latest'],
        ['initContainers', 'migrate', 'spec.template.spec.initContainers[0].image', 'flyway'],
        ['ephemeralContainers', 'debug', 'spec.template.spec.ephemeralContainers[0].image', 'busybox:latest'],
      ],
    );
    assert.match(result.violations[1]!.message, /^initContainer migrate: image "flyway" has no tag/);
    assert.match(result.violations[2]!.message, /^ephemeralContainer debug: image "busybox:latest" uses the disallowed tag "latest"/);
  });

  it('a rule limited to some lists judges only those', () => {
    const set = policySet(policy('only-init', ['rules:', '  - id: r', '    images: {disallowedTags: [latest], requireTag: true, containers: [initContainers]}']));
    assert.deepEqual(paths(evaluate(set, ctx('CREATE'), obj, null).violations), ['spec.template.spec.initContainers[0].image']);
  });

  it('resources rules judge containers and initContainers, not ephemeral containers', () => {
    const result = evaluate(bundled('resources.yaml'), ctx('CREATE'), obj, null);
    assert.deepEqual([...new Set(result.violations.map((v) => v.containerList))], ['containers', 'initContainers']);
  });

  it('a container without an image, or with a non-string one, does not crash and is left to the apiserver', () => {
    const odd = deployment({ containers: [{ name: 'web' }, { name: 'weird', image: 42 as unknown as string }, { name: 'ok', image: 'nginx:1.27' }] });
    const set = bundled('image-hygiene.yaml', 'resources.yaml', 'provenance.yaml');
    const result = evaluate(set, ctx('CREATE', { fieldManager: 'helm' }), odd, null);
    assert.deepEqual(result.violations.filter((v) => v.policy === 'image-hygiene'), []);
    assert.equal(result.violations.filter((v) => v.policy === 'resources').length, 6, 'resources are still judged');
    assert.equal(result.changes[0], 'image web: (none)');
    const updated = deployment({ containers: [{ name: 'web', image: 'nginx:1.27' }] });
    assert.deepEqual(evaluate(set, ctx('UPDATE'), updated, odd).changes.slice(0, 1), ['image web: (none) → nginx:1.27']);
  });

  it('an image that is not a reference is a violation naming it', () => {
    const bad = deployment({ containers: [{ name: 'web', image: 'UPPER/Case::bad' }] });
    const [v] = evaluate(bundled('image-hygiene.yaml'), ctx('CREATE'), bad, null).violations;
    assert.equal(v?.path, 'spec.template.spec.containers[0].image');
    assert.match(v?.message ?? '', /^container web: image "UPPER\/Case::bad" is not a valid image reference/);
  });
});

describe('policy selection', () => {
  const obj = deployment({ containers: [{ name: 'web', image: 'nginx:latest' }] }, { app: 'web', tier: 'frontend' });

  function applies(specMatch: string, c: RequestContext, o: KubeObject = obj): boolean {
    const set = policySet(policy('p', [`match: ${specMatch}`, ...noLatest()]));
    const result = evaluate(set, c, o, c.operation === 'UPDATE' ? o : null);
    return result.applied.length === 1;
  }

  it('by kinds', () => {
    assert.equal(applies('{kinds: [Deployment]}', ctx('CREATE')), true);
    assert.equal(applies('{kinds: [StatefulSet, Pod]}', ctx('CREATE')), false);
  });

  it('by namespace globs and exclusions', () => {
    assert.equal(applies('{namespaces: ["team-*"]}', ctx('CREATE')), true);
    assert.equal(applies('{namespaces: ["team-*"]}', ctx('CREATE', { namespace: 'teamx' })), false);
    assert.equal(applies('{namespaces: ["team-*"]}', ctx('CREATE', { namespace: 'xteam-a' })), false, 'globs are anchored');
    assert.equal(applies('{namespaces: ["team.a"]}', ctx('CREATE', { namespace: 'teamXa' })), false, 'a dot is literal');
    assert.equal(applies('{namespaces: [prod, "team-*"], excludeNamespaces: [team-legacy]}', ctx('CREATE', { namespace: 'team-legacy' })), false);
    assert.equal(applies('{excludeNamespaces: ["kube-*"]}', ctx('CREATE', { namespace: 'kube-system' })), false);
    assert.equal(applies('{excludeNamespaces: ["kube-*"]}', ctx('CREATE')), true);
  });

  it('by tenants: a request without a tenant is not in any tenant list', () => {
    assert.equal(applies('{tenants: [payments]}', ctx('CREATE', { tenant: 'payments' })), true);
    assert.equal(applies('{tenants: ["pay*"]}', ctx('CREATE', { tenant: 'payroll' })), true);
    assert.equal(applies('{tenants: [payments]}', ctx('CREATE', { tenant: 'search' })), false);
    assert.equal(applies('{tenants: [payments]}', ctx('CREATE')), false);
    assert.equal(applies('{excludeTenants: [platform]}', ctx('CREATE', { tenant: 'platform' })), false);
    assert.equal(applies('{excludeTenants: [platform]}', ctx('CREATE')), true);
  });

  it('by label selector, with Kubernetes semantics for every operator', () => {
    assert.equal(applies('{labelSelector: {matchLabels: {tier: frontend}}}', ctx('CREATE')), true);
    assert.equal(applies('{labelSelector: {matchLabels: {tier: backend}}}', ctx('CREATE')), false);
    const labels = { tier: 'frontend', app: 'web' };
    const cases: Array<[Parameters<typeof labelSelectorMatches>[0], boolean]> = [
      [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['frontend', 'edge'] }] }, true],
      [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['undefined'] }] }, false],
      [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['backend'] }] }, true],
      [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['frontend'] }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
      [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
      [{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, false],
      [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
      [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
      [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['backend'] }] }, false],
      [{}, true],
    ];
    for (const [selector, expected] of cases) assert.equal(labelSelectorMatches(selector, labels), expected, JSON.stringify(selector));
  });

  it('the label selector reads the object labels, not the pod template labels', () => {
    const unlabelled = deployment({ containers: [{ name: 'web', image: 'nginx:latest' }] }, {});
    assert.equal(applies('{labelSelector: {matchLabels: {app: web}}}', ctx('CREATE'), unlabelled), false);
    const noLabels = { ...unlabelled, metadata: { name: 'web' } };
    assert.equal(applies('{labelSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}}', ctx('CREATE'), noLabels), true);
  });

  it('by operations', () => {
    assert.equal(applies('{operations: [CREATE]}', ctx('CREATE')), true);
    assert.equal(applies('{operations: [CREATE]}', ctx('UPDATE')), false);
    assert.equal(applies('{operations: [UPDATE]}', ctx('UPDATE')), true);
  });

  it('every condition must hold', () => {
    const set = policySet(policy('p', ['match: {kinds: [Deployment], namespaces: ["team-*"], tenants: [payments], operations: [CREATE]}', ...noLatest()]));
    const p = set.policies[0]!;
    assert.equal(policyMatches(p, ctx('CREATE', { tenant: 'payments' }), obj), true);
    assert.equal(policyMatches(p, ctx('CREATE', { tenant: 'payments', namespace: 'prod' }), obj), false);
    assert.equal(policyMatches(p, ctx('UPDATE', { tenant: 'payments' }), obj), false);
  });

  it('per-tenant policies: each tenant may only pull from its own registry path', () => {
    const set = policySet(
      policy('tenant-a-images', ['match: {tenants: [tenant-a]}', 'rules:', '  - id: own-registry', '    images: {allowed: ["registry.example.com/tenant-a/"]}']),
      policy('tenant-b-images', ['match: {tenants: [tenant-b]}', 'rules:', '  - id: own-registry', '    images: {allowed: ["registry.example.com/tenant-b/"]}']),
    );
    const a = deployment({ containers: [{ name: 'web', image: 'registry.example.com/tenant-a/web:1.0' }] });
    assert.equal(evaluate(set, ctx('CREATE', { tenant: 'tenant-a' }), a, null).verdict, 'allow');
    const asB = evaluate(set, ctx('CREATE', { tenant: 'tenant-b' }), a, null);
    assert.equal(asB.verdict, 'deny');
    assert.deepEqual(asB.applied.map((p) => p.name), ['tenant-b-images']);
    const lookalike = deployment({ containers: [{ name: 'web', image: 'registry.example.com.evil.io/tenant-a/web:1.0' }] });
    assert.equal(evaluate(set, ctx('CREATE', { tenant: 'tenant-a' }), lookalike, null).verdict, 'deny');
  });

  it('applied names every selected policy with version and digest, in set order', () => {
    const set = policySet(policy('zeta', noLatest(), '2.1.0'), policy('alpha', noLatest()), policy('mid', ['match: {kinds: [Pod]}', ...noLatest()]));
    const result = evaluate(set, ctx('CREATE'), obj, null);
    assert.deepEqual(result.applied.map((p) => [p.name, p.version]), [['alpha', '0'], ['zeta', '2.1.0']]);
    for (const p of result.applied) assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(result.violations.map((v) => [v.policy, v.policyVersion]), [['alpha', '0'], ['zeta', '2.1.0']]);
  });
});

describe('verdicts', () => {
  const obj = deployment({ containers: [{ name: 'web', image: 'nginx:latest' }] });
  const withAction = (name: string, action: string) => policy(name, noLatest([`action: ${action}`]));

  it('deny denies, warn warns, audit reports and never changes the verdict', () => {
    const cases: Array<[string[], string]> = [
      [['deny'], 'deny'],
      [['warn'], 'warn'],
      [['audit'], 'allow'],
      [['audit', 'warn'], 'warn'],
      [['warn', 'deny', 'audit'], 'deny'],
    ];
    for (const [actions, expected] of cases) {
      const set = policySet(...actions.map((a, i) => withAction(`p${i}`, a)));
      const result = evaluate(set, ctx('CREATE'), obj, null);
      assert.equal(result.verdict, expected, actions.join('+'));
      assert.deepEqual(result.violations.map((v) => v.action), actions, 'every finding is reported with its action');
    }
  });

  it('the default action is deny; no violations is allow', () => {
    assert.equal(evaluate(policySet(policy('p', noLatest())), ctx('CREATE'), obj, null).verdict, 'deny');
    const pinned = deployment({ containers: [{ name: 'web', image: 'nginx:1.27' }] });
    assert.equal(evaluate(policySet(policy('p', noLatest())), ctx('CREATE'), pinned, null).verdict, 'allow');
    assert.equal(verdictOf([]), 'allow');
  });

  it('a rule message and fix override the built-in ones', () => {
    const set = policySet(policy('p', noLatest(['message: "Pin your images (see https://wiki.example.com/pin)"', 'fix: "use a release tag"'])));
    const [v] = evaluate(set, ctx('CREATE'), obj, null).violations;
    assert.equal(v?.message, 'Pin your images (see https://wiki.example.com/pin)');
    assert.equal(v?.fix, 'use a release tag');
    assert.equal(v?.path, 'spec.template.spec.containers[0].image', 'path and container stay precise');
  });

  it('DELETE and CONNECT are never judged, even when an object is present', () => {
    for (const operation of ['DELETE', 'CONNECT'] as const) {
      const result = evaluate(bundled('image-hygiene.yaml'), ctx(operation), obj, obj);
      assert.deepEqual(result, { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] }, operation);
    }
  });
});

describe('onUpdate on real kubectl edits', () => {
  let k: KubectlLocal;
  /** nginx:latest and redis:7 without resources: what a newer policy finds on an old workload. */
  let legacy: KubeObject;
  let hygiene: PolicySet;
  let always: PolicySet;

  before(async () => {
    k = createKubectlLocal(await ensureRealTools());
    legacy = await k.createDeployment('web', { image: ['nginx:latest', 'redis:7'], namespace: 'team-a' });
    hygiene = bundled('image-hygiene.yaml', 'resources.yaml');
    const alwaysText = (n: string) => readFileSync(join(ROOT, 'policies', n), 'utf8').replace('action: deny', 'action: deny\n      onUpdate: always');
    always = policySet({ text: alwaysText('image-hygiene.yaml'), file: 'a.yaml' }, { text: alwaysText('resources.yaml'), file: 'b.yaml' });
  });

  it('the old object really has the problems', () => {
    const result = evaluate(hygiene, ctx('CREATE'), legacy, null);
    assert.deepEqual(paths(result.violations), [
      'spec.template.spec.containers[0].image',
      'spec.template.spec.containers[0].resources.requests',
      'spec.template.spec.containers[0].resources.limits',
      'spec.template.spec.containers[1].resources.requests',
      'spec.template.spec.containers[1].resources.limits',
    ]);
  });

  it('changed (default): a grandfathered :latest survives a rollout restart', async () => {
    const restarted = await k.rolloutRestartPatch(legacy, '2025-05-01T00:00:00Z');
    const result = evaluate(hygiene, ctx('UPDATE', { fieldManager: 'kubectl-rollout' }), restarted, legacy);
    assert.deepEqual(result.violations, []);
    assert.equal(result.verdict, 'allow');
    assert.deepEqual(result.applied.map((p) => p.name), ['image-hygiene', 'resources']);
  });

  it('changed (default): an annotate of the Deployment leaves every grandfathered problem unreported; always reports them all', async () => {
    const annotated = await k.annotate(legacy, { note: 'reviewed' });
    const changed = evaluate(hygiene, ctx('UPDATE', { fieldManager: 'kubectl-annotate' }), annotated, legacy);
    assert.equal(changed.templateChanged, false);
    assert.deepEqual(changed.violations, []);
    assert.deepEqual(changed.applied.map((p) => p.name), ['image-hygiene', 'resources']);
    const kept = evaluate(always, ctx('UPDATE', { fieldManager: 'kubectl-annotate' }), annotated, legacy);
    assert.deepEqual(paths(kept.violations), paths(evaluate(hygiene, ctx('CREATE'), legacy, null).violations));
  });

  it('changed (default): a resources bump of another container does not resurrect the old :latest', async () => {
    const bumped = await k.setResources(legacy, { container: 'redis', requests: 'cpu=100m,memory=128Mi', limits: 'cpu=500m,memory=256Mi' });
    const result = evaluate(hygiene, ctx('UPDATE', { fieldManager: 'kubectl-set' }), bumped, legacy);
    assert.deepEqual(result.violations, []);
    assert.equal(result.templateChanged, true);
  });

  it('always: the same edits keep every violation the object has', async () => {
    const restarted = await k.rolloutRestartPatch(legacy, '2025-05-01T00:00:00Z');
    const bumped = await k.setResources(legacy, { container: 'redis', requests: 'cpu=100m,memory=128Mi', limits: 'cpu=500m,memory=256Mi' });
    const r1 = evaluate(always, ctx('UPDATE', { fieldManager: 'kubectl-rollout' }), restarted, legacy);
    assert.equal(r1.verdict, 'deny');
    assert.equal(r1.violations.length, 5);
    const r2 = evaluate(always, ctx('UPDATE', { fieldManager: 'kubectl-set' }), bumped, legacy);
    assert.deepEqual(paths(r2.violations), [
      'spec.template.spec.containers[0].image',
      'spec.template.spec.containers[0].resources.requests',
      'spec.template.spec.containers[0].resources.limits',
    ]);
  });

  it('changed: a problem the update introduces is reported, the old ones are not', async () => {
    const worse = await k.setImage(legacy, { redis: 'redis:latest' });
    const result = evaluate(hygiene, ctx('UPDATE', { fieldManager: 'kubectl-set' }), worse, legacy);
    assert.deepEqual(result.violations.map((v) => [v.path, v.value]), [['spec.template.spec.containers[1].image', 'redis:latest']]);
    assert.equal(result.verdict, 'deny');
  });

  it('changed: inserting a container before an old one does not resurrect its grandfathered problems', async () => {
    const inserted = await k.patch(legacy, [{ op: 'add', path: '/spec/template/spec/containers/0', value: { name: 'proxy', image: 'envoyproxy/envoy:v1.31.0', resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '100m', memory: '128Mi' } } } }], 'json');
    assert.deepEqual(containersOf(inserted).map((c) => c.name), ['proxy', 'nginx', 'redis']);
    const result = evaluate(hygiene, ctx('UPDATE', { fieldManager: 'kubectl-patch' }), inserted, legacy);
    assert.deepEqual(result.violations, []);
  });

  it('changed: raising a value that was already above a maximum is a new problem, leaving it is not', async () => {
    const maxText = policy('max-cpu', ['rules:', '  - id: max-cpu', '    resources: {maxLimits: {cpu: "1"}}']);
    const set = policySet(maxText);
    const big = await k.setResources(legacy, { container: 'nginx', limits: 'cpu=2,memory=1Gi' });
    const memoryOnly = await k.setResources(big, { container: 'nginx', limits: 'cpu=2,memory=2Gi' });
    assert.deepEqual(evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-set' }), memoryOnly, big).violations, []);
    const bigger = await k.setResources(big, { container: 'nginx', limits: 'cpu=3' });
    const [v] = evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-set' }), bigger, big).violations;
    assert.match(v?.message ?? '', /^container nginx: limits\.cpu 3 is above the maximum 1$/);
    assert.equal(v?.path, 'spec.template.spec.containers[0].resources.limits.cpu');
  });

  it('an UPDATE without an old object is judged like a CREATE', () => {
    const result = evaluate(hygiene, ctx('UPDATE'), legacy, null);
    assert.equal(result.templateChanged, true);
    assert.equal(result.violations.length, 5);
  });
});

describe('bad quantities', () => {
  const withResources = (resources: Container['resources']) => deployment({ containers: [{ name: 'web', image: 'nginx:1.27', resources }] });

  it('an unparseable required quantity is a violation, never a throw', () => {
    // `1e3Mi` mixes an exponent with a suffix, which Kubernetes rejects too.
    const obj = withResources({ requests: { cpu: 'lots', memory: '128Mi' }, limits: { cpu: '1', memory: '1e3Mi' } });
    let result: ReturnType<typeof evaluate> | undefined;
    assert.doesNotThrow(() => {
      result = evaluate(bundled('resources.yaml'), ctx('CREATE'), obj, null);
    });
    assert.deepEqual(
      result!.violations.map((v) => [v.path, v.value]),
      [
        ['spec.template.spec.containers[0].resources.requests.cpu', 'lots'],
        ['spec.template.spec.containers[0].resources.limits.memory', '1e3Mi'],
      ],
    );
    assert.match(result!.violations[0]!.message, /^container web: requests\.cpu "lots" could not be parsed as a quantity$/);
    assert.equal(result!.verdict, 'deny');
  });

  it('an unparseable quantity checked against a maximum or a ratio is reported once', () => {
    const set = policySet(policy('max', ['rules:', '  - id: max', '    resources: {maxLimits: {cpu: "2"}, maxLimitRequestRatio: {cpu: "4"}, limits: [cpu]}']));
    const obj = withResources({ requests: { cpu: '100m' }, limits: { cpu: '2 cores' } });
    const result = evaluate(set, ctx('CREATE'), obj, null);
    assert.deepEqual(paths(result.violations), ['spec.template.spec.containers[0].resources.limits.cpu']);
  });

  it('numbers and exotic but valid quantities are fine', () => {
    const obj = withResources({ requests: { cpu: 0.5, memory: '128e6' }, limits: { cpu: 1, memory: '1.5Gi' } });
    assert.deepEqual(evaluate(bundled('resources.yaml'), ctx('CREATE'), obj, null).violations, []);
  });
});

describe('env values never leave the engine', () => {
  let k: KubectlLocal;
  before(() => {
    return ensureRealTools().then((tools) => {
      k = createKubectlLocal(tools);
    });
  });

  it('not in messages, fixes, values or change summaries, on CREATE and on UPDATE', async () => {
    const created = await k.createDeployment('web', { image: 'nginx:latest', namespace: 'team-a' });
    const envPatch = (value: string) => ({
      spec: { template: { spec: { containers: [{ name: 'nginx', env: [{ name: 'DB_PASSWORD', value }, { name: 'API_TOKEN', value: `Bearer ${value}` }] }] } } },
    });
    const withSecret = await k.patch(created, envPatch(SECRET));
    const rotated = await k.patch(await k.setImage(withSecret, { nginx: 'nginx:1.27' }), envPatch(`${SECRET}-rotated`));
    const set = bundled('image-hygiene.yaml', 'resources.yaml', 'provenance.yaml');
    const results = [
      evaluate(set, ctx('CREATE', { fieldManager: 'kubectl-create' }), withSecret, null),
      evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-set' }), rotated, withSecret),
      evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-edit' }), rotated, created),
    ];
    assert.deepEqual(results[1]!.changes, ['image nginx: nginx:latest → nginx:1.27', 'env nginx changed']);
    for (const result of results) {
      assert.equal(result.verdict, 'deny', 'the results really contain messages');
      assert.ok(!JSON.stringify(result).includes(SECRET), JSON.stringify(result));
    }
  });
});
