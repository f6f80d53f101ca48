/**
 * The resources rule reads quantities as Kubernetes does: a limit of 0 is no limit, a request of 0
 * reserves nothing. Minimums are expressible, and fix hints name the object's own kind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Container, KubeObject } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';
import { isTracegateError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
const loader = createPolicyLoader({ schema });
const bundled = loader.toSet(loader.parse(readFileSync(join(ROOT, 'policies', 'resources.yaml'), 'utf8'), 'policies/resources.yaml'));
const ctx: RequestContext = { operation: 'CREATE', namespace: 'team-a', username: 'alice', groups: [] };

function rulePolicy(resources: string): PolicySet {
  const text = ['apiVersion: tracegate.io/v1alpha1', 'kind: Policy', 'metadata: {name: p}', 'spec:', '  rules:', '    - id: r', `      resources: ${resources}`].join('\n');
  return loader.toSet(loader.parse(text, 'p.yaml'));
}

function deployment(container: Container, kind = 'Deployment'): KubeObject {
  return { apiVersion: 'apps/v1', kind, metadata: { name: 'web', namespace: 'team-a' }, spec: { template: { spec: { containers: [container] } } } };
}

const sized = (requests: Record<string, string | number>, limits: Record<string, string | number>): Container => ({ name: 'web', image: 'nginx:1.27', resources: { requests, limits } });
const messages = (set: PolicySet, obj: KubeObject) => evaluate(set, ctx, obj, null).violations.map((v) => v.message);

describe('a zero limit is no limit; a zero request reserves nothing', () => {
  for (const zero of ['0', '0m', '0Gi', '0.0', '-0', 0]) {
    it(`limits ${JSON.stringify(zero)} fail "limits present" with a clear reason`, () => {
      const obj = deployment(sized({ cpu: '100m', memory: '64Mi' }, { cpu: zero, memory: zero }));
      const result = evaluate(bundled, ctx, obj, null);
      assert.equal(result.verdict, 'deny');
      assert.deepEqual(
        result.violations.map((v) => [v.path, v.value, v.message]),
        [
          ['spec.template.spec.containers[0].resources.limits.cpu', String(zero), 'container web: limit cpu is 0, which means no limit'],
          ['spec.template.spec.containers[0].resources.limits.memory', String(zero), 'container web: limit memory is 0, which means no limit'],
        ],
      );
    });
  }

  it('requests of 0 are refused with their own message (best-effort for that resource)', () => {
    const obj = deployment(sized({ cpu: '0', memory: '0Mi' }, { cpu: '1', memory: '1Gi' }));
    assert.deepEqual(messages(bundled, obj), [
      'container web: request cpu is 0, which reserves nothing (the container is best-effort for cpu)',
      'container web: request memory is 0, which reserves nothing (the container is best-effort for memory)',
    ]);
  });

  it('small non-zero quantities pass: cpu 0.5, 1m, memory 1', () => {
    assert.deepEqual(messages(bundled, deployment(sized({ cpu: '0.5', memory: 1 }, { cpu: '0.5', memory: '1Ki' }))), []);
    assert.deepEqual(messages(bundled, deployment(sized({ cpu: '1m', memory: '64Mi' }, { cpu: '1m', memory: '64Mi' }))), []);
  });

  it('a zero limit is above any maximum, reported once when the name is also required', () => {
    const maxOnly = rulePolicy('{maxLimits: {cpu: "2"}}');
    assert.deepEqual(messages(maxOnly, deployment(sized({}, { cpu: '0' }))), ['container web: limit cpu is 0, which means no limit, above the maximum 2']);
    const both = rulePolicy('{limits: [cpu], maxLimits: {cpu: "2"}}');
    assert.deepEqual(messages(both, deployment(sized({}, { cpu: '0' }))), ['container web: limit cpu is 0, which means no limit']);
    assert.deepEqual(messages(both, deployment(sized({}, { cpu: '1500m' }))), []);
  });

  it('a zero request is below any maximum, so a maximum alone does not refuse it', () => {
    assert.deepEqual(messages(rulePolicy('{maxRequests: {cpu: "2"}}'), deployment(sized({ cpu: '0' }, {}))), []);
  });

  it('limit ÷ request has no bound when the limit is 0 (as LimitRanger says)', () => {
    const ratio = rulePolicy('{maxLimitRequestRatio: {memory: 2}}');
    assert.deepEqual(messages(ratio, deployment(sized({ memory: '1Gi' }, { memory: '0' }))), ['container web: limit memory is 0, which means no limit, so limit ÷ request is unbounded (at most 2 allowed)']);
    assert.deepEqual(messages(ratio, deployment(sized({ memory: '1Gi' }, { memory: '2Gi' }))), []);
  });
});

describe('minRequests and minLimits', () => {
  const set = rulePolicy('{minRequests: {cpu: 50m, memory: 32Mi}, minLimits: {memory: 64Mi}}');

  it('a value below the minimum is refused with the minimum in the message and fix', () => {
    const obj = deployment(sized({ cpu: '10m', memory: '32Mi' }, { memory: '16Mi' }));
    const vs = evaluate(set, ctx, obj, null).violations;
    assert.deepEqual(vs.map((v) => [v.path, v.message, v.fix]), [
      ['spec.template.spec.containers[0].resources.requests.cpu', 'container web: requests.cpu 10m is below the minimum 50m', 'raise requests.cpu to at least 50m'],
      ['spec.template.spec.containers[0].resources.limits.memory', 'container web: limits.memory 16Mi is below the minimum 64Mi', 'raise limits.memory to at least 64Mi'],
    ]);
  });

  it('values at or above the minimum pass; a zero request is below it; a zero limit (no limit) is not', () => {
    assert.deepEqual(messages(set, deployment(sized({ cpu: '0.05', memory: '1Gi' }, { memory: '64Mi' }))), []);
    assert.deepEqual(messages(set, deployment(sized({ cpu: '0', memory: '1Gi' }, { memory: '0' }))), ['container web: requests.cpu 0 is below the minimum 50m']);
  });

  it('a minimum above the maximum for the same name is a policy error naming the line', () => {
    assert.throws(
      () => rulePolicy('{minLimits: {cpu: "2"}, maxLimits: {cpu: 500m}}'),
      (err: unknown) => isTracegateError(err, 'POLICY_INVALID') && /p\.yaml:7: spec\.rules\[0\]\.resources\.minLimits\.cpu: minimum 2 is above the maximum 500m/.test(err.message),
    );
  });
});

describe('fix hints name the object\'s kind', () => {
  const bare: Container = { name: 'web', image: 'nginx:1.27' };
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController']) {
    it(`${kind}: kubectl set resources ${kind.toLowerCase()}/web`, () => {
      const [v] = evaluate(bundled, ctx, deployment(bare, kind), null).violations;
      assert.equal(v?.fix, `set resources.requests.cpu and memory on web, e.g. kubectl set resources ${kind.toLowerCase()}/web -c web --requests=cpu=250m,memory=256Mi`);
    });
  }

  it('CronJob: cronjob/<name>, the container found in its job template', () => {
    const cron: KubeObject = { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly' }, spec: { jobTemplate: { spec: { template: { spec: { containers: [bare] } } } } } };
    const [v] = evaluate(bundled, ctx, cron, null).violations;
    assert.equal(v?.path, 'spec.jobTemplate.spec.template.spec.containers[0].resources.requests');
    assert.match(v?.fix ?? '', /kubectl set resources cronjob\/nightly -c web --requests=cpu=250m,memory=256Mi$/);
  });

  it('Pod: edit the manifest, since a running Pod\'s resources change only through resize', () => {
    const p: KubeObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [bare] } };
    const [v] = evaluate(bundled, ctx, p, null).violations;
    assert.doesNotMatch(v?.fix ?? '', /pod\/web|deployment/);
    assert.match(v?.fix ?? '', /in the Pod's manifest \(e\.g\. kubectl set resources -f pod\.yaml --local -o yaml -c web --requests=cpu=250m,memory=256Mi\) and create the Pod again/);
  });

  it('an object without a name says <name>', () => {
    const obj = deployment(bare);
    delete obj.metadata!.name;
    assert.match(evaluate(bundled, ctx, obj, null).violations[0]!.fix, /kubectl set resources deployment\/<name> /);
  });
});
