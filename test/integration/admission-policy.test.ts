/**
 * ValidatingAdmissionPolicies in the admission chain, as kube-apiserver 1.35 evaluates them
 * (`policy/validating` dispatcher.go, validator.go, plugin.go; `policy/matching/matching.go`;
 * `plugin/cel` compile.go, composition.go; `admissionregistration/validation/validation.go`; the
 * Kubernetes docs "Validating Admission Policy"): policies and bindings loaded from YAML, a fake
 * webhook to show where the policies run among the webhooks, the chain's hook called directly, and
 * the real kubectl for what users see (warnings, 403/422 texts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { AUTHORIZER_NOT_MODELLED, PARAMS_NOT_MODELLED, allowAll, createAdmissionChain, loadAdmissionPolicies, loadWebhookConfigs, startFakeWebhook } from '../support/admission-chain/index.js';
import type { AdmissionChain, AdmissionPolicies, FakeWebhook } from '../support/admission-chain/index.js';
import { startTestApiServer, type AdmissionHookRequest, type AdmissionHookResult, type TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

/** A hang guard per suite, not a speed check. */
const HANG_GUARD_MS = 120_000;
const V1 = 'admissionregistration.k8s.io/v1';
const NS = 'team-a';
/** The namespaces the chain knows, with their labels. */
const NAMESPACES: Record<string, Record<string, string>> = { 'team-a': { env: 'prod' }, 'team-b': { env: 'dev' } };
const FAILURE_KEY = 'validation.policy.admission.k8s.io/validation_failure';
const DEPLOYMENTS = { group: 'apps', version: 'v1', resource: 'deployments' };
const DEPLOYMENT_KIND = { group: 'apps', version: 'v1', kind: 'Deployment' };
const DEPLOYMENT_RULES = [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] }];

type Any = Record<string, any>;

let fake: FakeWebhook;
const chainLog: string[] = [];

function policy(name: string, spec: Any): Any {
  return { apiVersion: V1, kind: 'ValidatingAdmissionPolicy', metadata: { name }, spec: { matchConstraints: { resourceRules: DEPLOYMENT_RULES }, ...spec } };
}

function binding(name: string, policyName: string, validationActions: string[] = ['Deny'], spec: Any = {}): Any {
  return { apiVersion: V1, kind: 'ValidatingAdmissionPolicyBinding', metadata: { name }, spec: { policyName, validationActions, ...spec } };
}

/** Loads through loadAdmissionPolicies, as rendered YAML would be. */
function load(...docs: Any[]): AdmissionPolicies {
  return loadAdmissionPolicies(docs.map((d) => stringify(d)).join('---\n'));
}

function refusal(...docs: Any[]): string {
  try {
    load(...docs);
  } catch (err) {
    return (err as Error).message;
  }
  return 'loaded';
}

/** A webhook served by the fake at `/<name>`, for every Deployment write. */
function webhook(name: string): Any {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    clientConfig: { service: { namespace: 'webhooks', name: 'fake', path: `/${name}` }, caBundle: fake.caBundle },
    rules: [{ operations: ['*'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'deployments/scale'] }],
  };
}

function newChain(docs: Any[], hooks: { mutating?: Any[]; validating?: Any[] } = {}): AdmissionChain {
  const configs = [];
  if (hooks.mutating) configs.push(stringify({ apiVersion: V1, kind: 'MutatingWebhookConfiguration', metadata: { name: 'm' }, webhooks: hooks.mutating }));
  if (hooks.validating) configs.push(stringify({ apiVersion: V1, kind: 'ValidatingWebhookConfiguration', metadata: { name: 'v' }, webhooks: hooks.validating }));
  return createAdmissionChain({
    ...loadWebhookConfigs(configs.join('---\n')),
    ...load(...docs),
    resolveService: () => ({ host: '127.0.0.1', port: fake.port }),
    namespaceLabels: (ns) => NAMESPACES[ns],
    log: (line) => void chainLog.push(line),
  });
}

function deployment(name = 'web', meta: Any = {}, replicas = 3): Any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, ...meta },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'registry.example.com/team-a/web:1.4.2' }] } } },
  };
}

/** A Deployment CREATE by alice; `over` replaces any field. */
function request(object: Any | null, over: Partial<AdmissionHookRequest> = {}): AdmissionHookRequest {
  return {
    operation: 'CREATE',
    kind: DEPLOYMENT_KIND,
    resource: DEPLOYMENTS,
    namespace: object?.['metadata']?.['namespace'] ?? NS,
    name: object?.['metadata']?.['name'] ?? 'web',
    object,
    oldObject: null,
    userInfo: { username: 'alice', groups: ['dev', 'system:authenticated'] },
    dryRun: false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    ...over,
  };
}

/** Runs one request through a fresh chain of `docs`. */
async function admit(docs: Any[], req: AdmissionHookRequest = request(deployment())): Promise<{ result: AdmissionHookResult; chain: AdmissionChain }> {
  const chain = newChain(docs);
  try {
    return { result: await chain.hook(req), chain };
  } finally {
    chain.close();
  }
}

const messageOf = (r: AdmissionHookResult): string | undefined => (r.allowed ? undefined : r.status.message);
const replicasAtMost5 = (over: Any = {}) => ({ expression: 'object.spec.replicas <= 5', ...over });

before(async () => {
  fake = await startFakeWebhook('fake.webhooks.svc');
});

after(async () => {
  await fake?.close();
});

describe('where policies run: after the mutating webhooks, before the validating ones, with no call out', { timeout: HANG_GUARD_MS }, () => {
  it('a denial ends the request after mutation: the validating webhook is never called', async () => {
    fake.setHandler(allowAll);
    const chain = newChain([policy('replicas.example.com', { validations: [replicasAtMost5()] }), binding('replicas', 'replicas.example.com')], { mutating: [webhook('mutate')], validating: [webhook('validate')] });
    try {
      const before = fake.requests.length;
      const result = await chain.hook(request(deployment('web', {}, 6)));
      assert.equal(messageOf(result), `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas' denied request: failed expression: object.spec.replicas <= 5`);
      assert.deepEqual(fake.requests.slice(before).map((r) => r.url.split('?')[0]), ['/mutate']);
      const admitted = await chain.hook(request(deployment('web', {}, 5)));
      assert.equal(admitted.allowed, true);
      assert.deepEqual(fake.requests.slice(before + 1).map((r) => r.url.split('?')[0]), ['/mutate', '/validate']);
    } finally {
      chain.close();
    }
  });

  it('sees the object as the mutating webhooks patched it, with the fields the registry sets on CREATE', async () => {
    fake.setHandler((review, path) => {
      const response: Any = { uid: review.request.uid, allowed: true };
      if (path === '/mutate') {
        response['patchType'] = 'JSONPatch';
        response['patch'] = Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/labels', value: { stamped: 'yes' } }])).toString('base64');
      }
      return { body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } };
    });
    const checks = [{ expression: "has(object.metadata.labels.stamped) && object.metadata.labels.stamped == 'yes'" }, { expression: 'object.metadata.generation == 1 && has(object.metadata.uid)' }];
    const chain = newChain([policy('stamped.example.com', { validations: checks }), binding('stamped', 'stamped.example.com')], { mutating: [webhook('mutate')] });
    try {
      const result = await chain.hook(request(deployment()));
      assert.equal(result.allowed, true, messageOf(result));
      assert.deepEqual(chain.last?.policies.evaluated, ['stamped.example.com/stamped']);
      assert.deepEqual(chain.last?.policies.decisions, []);
    } finally {
      chain.close();
      fake.setHandler(allowAll);
    }
  });

  it('decides while every webhook is unreachable: a mutating webhook failing open does not keep the policy from denying', async () => {
    const chain = createAdmissionChain({
      ...loadWebhookConfigs(stringify({ apiVersion: V1, kind: 'MutatingWebhookConfiguration', metadata: { name: 'm' }, webhooks: [{ ...webhook('mutate'), failurePolicy: 'Ignore' }] })),
      ...load(policy('replicas.example.com', { validations: [replicasAtMost5()] }), binding('replicas', 'replicas.example.com')),
      // Port 1 (tcpmux): nothing listens there, so the webhook call is refused.
      resolveService: () => ({ host: '127.0.0.1', port: 1 }),
      namespaceLabels: (ns) => NAMESPACES[ns],
    });
    try {
      const result = await chain.hook(request(deployment('web', {}, 9)));
      assert.match(messageOf(result) ?? '', /denied request: failed expression: object\.spec\.replicas <= 5$/);
      assert.deepEqual(chain.lastCalls.map((c) => c.outcome), ['failed-open']);
    } finally {
      chain.close();
    }
  });

  it('runs on dry-run requests too (policies have no side effects to declare)', async () => {
    const { result } = await admit([policy('replicas.example.com', { validations: [replicasAtMost5()] }), binding('replicas', 'replicas.example.com')], request(deployment('web', {}, 6), { dryRun: true }));
    assert.equal(result.allowed, false);
  });
});

describe('matching: the policy\'s matchConstraints, then each binding\'s matchResources', { timeout: HANG_GUARD_MS }, () => {
  const deny = (name: string, constraints: Any, bindingSpec: Any = {}) => [policy(name, { matchConstraints: constraints, validations: [{ expression: 'false', message: 'matched' }] }), binding(`${name}-b`, name, ['Deny'], bindingSpec)];
  const matched = async (docs: Any[], req: AdmissionHookRequest): Promise<boolean> => (await admit(docs, req)).result.allowed === false;
  const scale = (replicas: number) => ({ apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: NS }, spec: { replicas } });
  const scaleRequest = request(scale(4), { operation: 'UPDATE', kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, subResource: 'scale', oldObject: scale(3), options: { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' } });

  it('resources with subresources: `deployments` is not `deployments/scale`; `deployments/*` is both', async () => {
    const rule = (resources: string[]) => ({ resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['*'], resources }] });
    assert.equal(await matched(deny('main.example.com', rule(['deployments'])), scaleRequest), false);
    assert.equal(await matched(deny('scale.example.com', rule(['deployments/scale'])), scaleRequest), true);
    assert.equal(await matched(deny('scale.example.com', rule(['deployments/scale'])), request(deployment())), false);
    assert.equal(await matched(deny('all.example.com', rule(['deployments/*'])), request(deployment())), true);
    assert.equal(await matched(deny('all.example.com', rule(['deployments/*'])), scaleRequest), true);
    assert.equal(await matched(deny('ops.example.com', { resourceRules: [{ ...DEPLOYMENT_RULES[0], operations: ['DELETE'] }] }), request(deployment())), false);
  });

  it('resourceNames narrow a rule; excludeResourceRules win over resourceRules', async () => {
    const named = { resourceRules: [{ ...DEPLOYMENT_RULES[0], resourceNames: ['web'] }] };
    assert.equal(await matched(deny('named.example.com', named), request(deployment('web'))), true);
    assert.equal(await matched(deny('named.example.com', named), request(deployment('api'))), false);
    const excluded = { resourceRules: DEPLOYMENT_RULES, excludeResourceRules: [{ ...DEPLOYMENT_RULES[0], resourceNames: ['legacy'] }] };
    assert.equal(await matched(deny('excl.example.com', excluded), request(deployment('legacy'))), false);
    assert.equal(await matched(deny('excl.example.com', excluded), request(deployment('web'))), true);
  });

  it('namespaceSelector (with kubernetes.io/metadata.name) and objectSelector (object or oldObject)', async () => {
    const prod = { resourceRules: DEPLOYMENT_RULES, namespaceSelector: { matchLabels: { env: 'prod' } } };
    assert.equal(await matched(deny('prod.example.com', prod), request(deployment())), true);
    assert.equal(await matched(deny('prod.example.com', prod), request(deployment('web', { namespace: 'team-b' }))), false);
    const byName = { resourceRules: DEPLOYMENT_RULES, namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-b'] }] } };
    assert.equal(await matched(deny('ns.example.com', byName), request(deployment('web', { namespace: 'team-b' }))), true);
    const tier = { resourceRules: DEPLOYMENT_RULES, objectSelector: { matchLabels: { tier: 'web' } } };
    assert.equal(await matched(deny('tier.example.com', tier), request(deployment('web', { labels: { tier: 'web' } }))), true);
    assert.equal(await matched(deny('tier.example.com', tier), request(deployment())), false);
    const update = request(deployment(), { operation: 'UPDATE', oldObject: deployment('web', { labels: { tier: 'web' } }) });
    assert.equal(await matched(deny('tier.example.com', tier), update), true, 'the old object\'s labels count too');
  });

  it('a binding\'s matchResources narrows further: Deny in prod, Warn elsewhere, from one policy', async () => {
    const docs = [
      policy('replicas.example.com', { validations: [replicasAtMost5()] }),
      binding('replicas-prod', 'replicas.example.com', ['Deny'], { matchResources: { namespaceSelector: { matchLabels: { env: 'prod' } } } }),
      binding('replicas-other', 'replicas.example.com', ['Warn'], { matchResources: { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } } }),
    ];
    const prod = await admit(docs, request(deployment('web', {}, 6)));
    assert.equal(messageOf(prod.result), `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas-prod' denied request: failed expression: object.spec.replicas <= 5`);
    const dev = await admit(docs, request(deployment('web', { namespace: 'team-b' }, 6)));
    assert.deepEqual(dev.result, {
      allowed: true,
      object: deployment('web', { namespace: 'team-b' }, 6),
      warnings: ["Validation failed for ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas-other': failed expression: object.spec.replicas <= 5"],
    });
    assert.deepEqual(dev.chain.last?.policies.evaluated, ['replicas.example.com/replicas-other']);
  });

  it('a policy with no binding never runs; a binding naming no policy is ignored', async () => {
    assert.equal((await admit([policy('unbound.example.com', { validations: [{ expression: 'false' }] })])).result.allowed, true);
    assert.equal((await admit([binding('orphan', 'missing.example.com')])).result.allowed, true);
  });

  it('the request\'s Namespace must exist once a policy matches: 404, as the apiserver\'s namespace lookup answers', async () => {
    const { result } = await admit([policy('replicas.example.com', { validations: [replicasAtMost5()] }), binding('replicas', 'replicas.example.com')], request(deployment('web', { namespace: 'ghost' })));
    assert.deepEqual(result, { allowed: false, status: { code: 404, reason: 'NotFound', message: 'namespaces "ghost" not found' }, warnings: [] });
  });

  it('a namespaceSelector on a missing Namespace is a configuration error: denied under Fail (no binding named), nothing under Ignore', async () => {
    const docs = (failurePolicy: string) => [
      policy('prod.example.com', { failurePolicy, matchConstraints: { resourceRules: DEPLOYMENT_RULES, namespaceSelector: { matchLabels: { env: 'prod' } } }, validations: [{ expression: 'true' }] }),
      binding('prod', 'prod.example.com'),
    ];
    const fail = await admit(docs('Fail'), request(deployment('web', { namespace: 'ghost' })));
    assert.equal(messageOf(fail.result), `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'prod.example.com' denied request: failed to configure policy: namespaces "ghost" not found`);
    assert.deepEqual(!fail.result.allowed && [fail.result.status.code, fail.result.status.reason], [422, 'Invalid']);
    assert.equal((await admit(docs('Ignore'), request(deployment('web', { namespace: 'ghost' })))).result.allowed, true);
  });
});

describe('denials: reason and code, the message and its fallbacks', { timeout: HANG_GUARD_MS }, () => {
  const denial = async (validation: Any, obj: Any = deployment('web', {}, 6)) => (await admit([policy('p.example.com', { validations: [validation] }), binding('b', 'p.example.com')], request(obj))).result;
  const prefix = `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'p.example.com' with binding 'b' denied request: `;

  it('no reason: 422 Invalid, with the message as the Status cause kubectl prints it from', async () => {
    assert.deepEqual(await denial(replicasAtMost5({ message: 'at most 5 replicas' })), {
      allowed: false,
      status: {
        code: 422,
        reason: 'Invalid',
        message: `${prefix}at most 5 replicas`,
        details: { name: 'web', group: 'apps', kind: 'deployments', causes: [{ message: "ValidatingAdmissionPolicy 'p.example.com' with binding 'b' denied request: at most 5 replicas" }] },
      },
      warnings: [],
    });
  });

  it('reason Forbidden is 403, RequestEntityTooLarge 413', async () => {
    const forbidden = await denial(replicasAtMost5({ reason: 'Forbidden' }));
    assert.deepEqual(!forbidden.allowed && [forbidden.status.code, forbidden.status.reason], [403, 'Forbidden']);
    const tooLarge = await denial(replicasAtMost5({ reason: 'RequestEntityTooLarge' }));
    assert.deepEqual(!tooLarge.allowed && [tooLarge.status.code, tooLarge.status.reason], [413, 'RequestEntityTooLarge']);
  });

  it('messageExpression first (trimmed), then message, then `failed expression: <expression>`', async () => {
    const msgExpr = "'replicas ' + string(object.spec.replicas) + ' > 5 '";
    assert.equal(messageOf(await denial(replicasAtMost5({ message: 'static', messageExpression: msgExpr }))), `${prefix}replicas 6 > 5`);
    // An error, a blank string or a multi-line string: the message instead.
    assert.equal(messageOf(await denial(replicasAtMost5({ message: 'static', messageExpression: 'object.spec.missing' + " + ''" }))), `${prefix}static`);
    assert.equal(messageOf(await denial(replicasAtMost5({ message: ' static ', messageExpression: "'  '" }))), `${prefix}static`);
    assert.equal(messageOf(await denial(replicasAtMost5({ messageExpression: "'two\\nlines'" }))), `${prefix}failed expression: object.spec.replicas <= 5`);
    assert.equal(messageOf(await denial({ expression: '  object.spec.replicas <= 5  ' })), `${prefix}failed expression: object.spec.replicas <= 5`);
  });

  it('every failed validation is a decision; the first denial (policies by name) is the one reported', async () => {
    const docs = [
      policy('b.example.com', { validations: [{ expression: 'false', message: 'from b' }] }),
      binding('b', 'b.example.com'),
      policy('a.example.com', { validations: [{ expression: 'true' }, { expression: 'false', message: 'first of a' }, { expression: 'false', message: 'second of a' }] }),
      binding('a', 'a.example.com'),
    ];
    const { result, chain } = await admit(docs);
    assert.match(messageOf(result) ?? '', /ValidatingAdmissionPolicy 'a\.example\.com' with binding 'a' denied request: first of a$/);
    assert.deepEqual(chain.last?.policies.decisions.map((d) => [d.policy, d.source, d.message]), [
      ['a.example.com', { validation: 1 }, 'first of a'],
      ['a.example.com', { validation: 2 }, 'second of a'],
      ['b.example.com', { validation: 0 }, 'from b'],
    ]);
  });
});

describe('Warn, Audit and audit annotations', { timeout: HANG_GUARD_MS }, () => {
  it('Audit: admitted, the failure recorded as the validation_failure audit annotation (Go JSON, HTML-escaped)', async () => {
    const { result, chain } = await admit([policy('p.example.com', { validations: [{ expression: 'true' }, replicasAtMost5({ message: 'replicas <= 5 & sane' })] }), binding('audit', 'p.example.com', ['Audit'])], request(deployment('web', {}, 6)));
    assert.equal(result.allowed, true);
    assert.deepEqual(result.allowed && result.warnings, []);
    assert.equal(chain.last?.auditAnnotations[FAILURE_KEY], '[{"message":"replicas \\u003c= 5 \\u0026 sane","policy":"p.example.com","binding":"audit","expressionIndex":1,"validationActions":["Audit"]}]');
  });

  it('Warn and Audit together; a second Audit failure in the same request cannot override the first (1.35: only logged)', async () => {
    chainLog.length = 0;
    const docs = [policy('p.example.com', { validations: [{ expression: 'false', message: 'one' }, { expression: 'false', message: 'two' }] }), binding('both', 'p.example.com', ['Warn', 'Audit'])];
    const { result, chain } = await admit(docs);
    assert.deepEqual(result.allowed && result.warnings, [
      "Validation failed for ValidatingAdmissionPolicy 'p.example.com' with binding 'both': one",
      "Validation failed for ValidatingAdmissionPolicy 'p.example.com' with binding 'both': two",
    ]);
    assert.equal(chain.last?.auditAnnotations[FAILURE_KEY], '[{"message":"one","policy":"p.example.com","binding":"both","expressionIndex":0,"validationActions":["Warn","Audit"]}]');
    assert.equal(chainLog.length, 1);
    assert.match(chainLog[0]!, /^Failed to set admission audit annotation validation\.policy\.admission\.k8s\.io\/validation_failure to \[\{"message":"two".* for ValidatingAdmissionPolicy p\.example\.com and ValidatingAdmissionPolicyBinding both: admission annotations are not allowd to be overridden/);
  });

  it('auditAnnotations: `<policy>/<key>`, trimmed; blank and null left out; the same value from two bindings once', async () => {
    const docs = [
      policy('audit.example.com', {
        auditAnnotations: [
          { key: 'replicas', valueExpression: "' ' + string(object.spec.replicas) + ' '" },
          { key: 'blank', valueExpression: "'  '" },
          { key: 'none', valueExpression: 'null' },
        ],
      }),
      binding('one', 'audit.example.com', ['Audit']),
      binding('two', 'audit.example.com', ['Deny']),
    ];
    const { result, chain } = await admit(docs);
    assert.equal(result.allowed, true);
    assert.deepEqual(chain.last?.auditAnnotations, { 'audit.example.com/replicas': '3' });
  });
});

describe('evaluation errors under failurePolicy Fail and Ignore', { timeout: HANG_GUARD_MS }, () => {
  const broken = { expression: "object.metadata.labels.team == 'a'" };
  const noSuchKey = `expression 'object.metadata.labels.team == 'a'' resulted in error: no such key: labels`;
  const run = (failurePolicy: string, spec: Any, actions = ['Deny']) => admit([policy('p.example.com', { failurePolicy, ...spec }), binding('b', 'p.example.com', actions)]);

  it('a validation error: Fail denies (422) with the error as the message; Ignore admits and records it', async () => {
    const fail = (await run('Fail', { validations: [broken] })).result;
    assert.deepEqual(!fail.allowed && [fail.status.code, fail.status.message], [422, `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'p.example.com' with binding 'b' denied request: ${noSuchKey}`]);
    const ignore = await run('Ignore', { validations: [broken] });
    assert.equal(ignore.result.allowed, true);
    assert.deepEqual(ignore.chain.last?.policies.decisions, [{ policy: 'p.example.com', binding: 'b', source: { validation: 0 }, evaluation: 'error', actions: [], message: noSuchKey }]);
  });

  it('under Fail the error is a deny decision, so the binding\'s actions apply: Warn warns, and the request goes on', async () => {
    const { result } = await run('Fail', { validations: [broken] }, ['Warn']);
    assert.deepEqual(result.allowed && result.warnings, [`Validation failed for ValidatingAdmissionPolicy 'p.example.com' with binding 'b': ${noSuchKey}`]);
  });

  it('matchConditions: an error under Fail denies with the aggregated text; under Ignore nothing is validated', async () => {
    const conditions = [{ name: 'team', expression: "object.metadata.labels.team == 'a'" }, { name: 'spec', expression: 'object.spec.missing.size() > 0' }];
    const fail = (await run('Fail', { matchConditions: conditions, validations: [{ expression: 'true' }] })).result;
    assert.equal(messageOf(fail), `deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'p.example.com' with binding 'b' denied request: [${noSuchKey}, expression 'object.spec.missing.size() > 0' resulted in error: no such key: missing]`);
    const ignore = await run('Ignore', { matchConditions: conditions, validations: [{ expression: 'false' }] });
    assert.equal(ignore.result.allowed, true);
    assert.deepEqual(ignore.chain.last?.policies.conditionsNotMet, ['p.example.com/b']);
    // A false condition wins over errors, even under Fail.
    const falseFirst = await run('Fail', { matchConditions: [conditions[0], { name: 'never', expression: "request.operation == 'DELETE'" }], validations: [{ expression: 'false' }] });
    assert.equal(falseFirst.result.allowed, true);
  });

  it('an auditAnnotation error denies under Fail (whatever the actions) and is left out under Ignore', async () => {
    const spec = { auditAnnotations: [{ key: 'team', valueExpression: 'object.metadata.labels.team' + " + ''" }] };
    const fail = (await run('Fail', spec, ['Audit'])).result;
    assert.match(messageOf(fail) ?? '', /denied request: expression 'object\.metadata\.labels\.team \+ ''' resulted in error: no such key: labels$/);
    const ignore = await run('Ignore', spec, ['Audit']);
    assert.equal(ignore.result.allowed, true);
    assert.deepEqual(ignore.chain.last?.auditAnnotations, {});
  });

  it('variables are lazy: an unused failing one is harmless, a used one fails its expression; later ones see earlier ones', async () => {
    const variables = [
      { name: 'team', expression: 'object.metadata.labels.team' },
      { name: 'replicas', expression: 'object.spec.replicas' },
      { name: 'tooMany', expression: 'variables.replicas > 5' },
    ];
    assert.equal((await run('Fail', { variables, validations: [{ expression: '!variables.tooMany' }] })).result.allowed, true);
    const used = (await run('Fail', { variables, validations: [{ expression: "variables.team == 'a'" }] })).result;
    assert.match(messageOf(used) ?? '', /denied request: expression 'variables\.team == 'a'' resulted in error: composited variable "team" fails to evaluate: no such key: labels$/);
    assert.equal((await admit([policy('p.example.com', { variables, validations: [{ expression: '!variables.tooMany' }] }), binding('b', 'p.example.com')], request(deployment('web', {}, 6)))).result.allowed, false);
  });

  it('authorizer checks fail as not modelled (no RBAC here)', async () => {
    const { result } = await run('Fail', { validations: [{ expression: "authorizer.group('apps').resource('deployments').namespace('team-a').check('create').allowed()" }] });
    assert.match(messageOf(result) ?? '', new RegExp(`resulted in error: ${AUTHORIZER_NOT_MODELLED}$`));
  });
});

describe('the CEL variables of a policy', { timeout: HANG_GUARD_MS }, () => {
  const holds = async (expression: string, req: AdmissionHookRequest = request(deployment())) => {
    const { result } = await admit([policy('p.example.com', { matchConstraints: { resourceRules: [{ ...DEPLOYMENT_RULES[0], operations: ['*'], resources: ['deployments', 'deployments/scale'] }] }, validations: [{ expression }] }), binding('b', 'p.example.com')], req);
    return result.allowed ? true : (messageOf(result) ?? '');
  };

  it('namespaceObject is the request\'s Namespace (unlike webhooks, which get null)', async () => {
    assert.equal(await holds("namespaceObject.metadata.name == 'team-a' && namespaceObject.metadata.labels.env == 'prod'"), true);
  });

  it('request: operation, userInfo, kind and resource, dryRun; oldObject on UPDATE', async () => {
    assert.equal(await holds("request.operation == 'CREATE' && request.userInfo.username == 'alice' && 'dev' in request.userInfo.groups"), true);
    assert.equal(await holds("request.kind.kind == 'Deployment' && request.resource.resource == 'deployments' && !has(request.subResource) && !request.dryRun"), true);
    const update = request(deployment('web', {}, 4), { operation: 'UPDATE', oldObject: deployment('web', {}, 3) });
    assert.equal(await holds('object.spec.replicas > oldObject.spec.replicas && oldObject != null', update), true);
    assert.equal(await holds('oldObject == null'), true);
  });
});

describe('configurations the apiserver would refuse to store are refused at load', () => {
  const P = 'ValidatingAdmissionPolicy.admissionregistration.k8s.io "p.example.com" is invalid: ';
  const B = 'ValidatingAdmissionPolicyBinding.admissionregistration.k8s.io "b" is invalid: ';
  const only = (spec: Any) => refusal(policy('p.example.com', spec));

  it('expressions that do not compile or have the wrong type, with cel-go\'s texts', () => {
    assert.equal(
      only({ validations: [{ expression: 'foo == 1' }] }),
      `${P}spec.validations[0].expression: Invalid value: "foo == 1": compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo == 1\n | ^`,
    );
    assert.equal(only({ validations: [{ expression: 'object.spec.replicas' }] }), `${P}spec.validations[0].expression: Invalid value: "object.spec.replicas": must evaluate to bool`);
    assert.equal(only({ validations: [{ expression: 'true', messageExpression: 'object.spec.replicas' }] }), `${P}spec.validations[0].messageExpression: Invalid value: "object.spec.replicas": must evaluate to string`);
    assert.equal(only({ auditAnnotations: [{ key: 'k', valueExpression: 'object.metadata.name' }] }), `${P}spec.auditAnnotations[0].valueExpression: Invalid value: "object.metadata.name": must evaluate to one of [string null_type]`);
    assert.match(only({ validations: [{ expression: 'params.max > 1' }] }), /undeclared reference to 'params'/);
    assert.match(only({ validations: [{ expression: "authorizer.group('apps').resource('x').check('get').allowed()", messageExpression: "authorizer.group('apps').resource('x').check('get').reason()" }] }), /^[^[]*spec\.validations\[0\]\.messageExpression: .*undeclared reference to 'authorizer'/s);
  });

  it('variables: CEL identifiers, compiled in order, and `variables` exists only when there are some', () => {
    assert.match(only({ validations: [{ expression: 'variables.x' }] }), /undeclared reference to 'variables'/);
    assert.match(only({ variables: [{ name: 'a', expression: 'variables.b' }, { name: 'b', expression: '1' }], validations: [{ expression: 'true' }] }), /spec\.variables\[0\]\.expression: Invalid value: "variables\.b": compilation failed: ERROR: <input>:1:10: undefined field 'b'/);
    assert.equal(only({ variables: [{ name: 'in', expression: '1' }, { name: '', expression: ' ' }], validations: [{ expression: 'true' }] }), `${P}[spec.variables[0].name: Invalid value: "in": name is not a valid CEL identifier, spec.variables[1].name: Required value: name is not specified, spec.variables[1].expression: Required value: expression is not specified]`);
    assert.match(only({ variables: [{ name: 'n', expression: 'object.spec.replicas' }], validations: [{ expression: 'variables.n' }] }), /must evaluate to bool/, 'a field of object is dyn');
    assert.equal(only({ variables: [{ name: 'n', expression: 'object.spec.replicas > 1' }], validations: [{ expression: 'variables.n' }] }), 'loaded', 'a bool variable is a bool');
    assert.match(only({ matchConditions: [{ name: 'c', expression: 'variables.n' }], variables: [{ name: 'n', expression: 'true' }], validations: [{ expression: 'true' }] }), /spec\.matchConditions\[0\]\.expression: .*undeclared reference to 'variables'/s);
  });

  it('required parts, messages, reasons, failurePolicy, auditAnnotation keys — all errors at once', () => {
    assert.equal(
      refusal({ apiVersion: V1, kind: 'ValidatingAdmissionPolicy', metadata: { name: 'p.example.com' }, spec: { failurePolicy: 'Sometimes' } }),
      `${P}[spec.failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore", spec.matchConstraints: Required value, ` +
        'spec.validations: Required value: validations or auditAnnotations must contain at least one item, spec.auditAnnotations: Required value: validations or auditAnnotations must contain at least one item]',
    );
    assert.equal(only({ matchConstraints: {}, validations: [{ expression: 'true' }] }), `${P}spec.matchConstraints.resourceRules: Required value`);
    assert.equal(
      only({ validations: [{ expression: ' ', message: 'two\nlines', reason: 'Unauthorized' }] }),
      `${P}[spec.validations[0].expression: Required value: expression is not specified, spec.validations[0].message: Invalid value: "two\\nlines": message must not contain line breaks, spec.validations[0].reason: Unsupported value: "Unauthorized": supported values: "Forbidden", "Invalid", "RequestEntityTooLarge"]`,
    );
    assert.equal(
      only({ auditAnnotations: [{ key: 'Not Valid', valueExpression: "'x'" }, { key: 'ok', valueExpression: "'x'" }, { key: 'ok', valueExpression: "'y'" }] }),
      `${P}[spec.auditAnnotations[0].key: Invalid value: "p.example.com/Not Valid": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), spec.auditAnnotations[2].key: Duplicate value: "ok"]`,
    );
  });

  it('rules and selectors are validated as the apiserver does', () => {
    const rules = (rule: Any) => only({ matchConstraints: { resourceRules: [rule] }, validations: [{ expression: 'true' }] });
    assert.equal(
      rules({ apiGroups: [], apiVersions: ['v1'], operations: ['*', 'PATCH'], resources: ['deployments', '*'] }),
      `${P}[spec.matchConstraints.resourceRules[0].operations: Invalid value: []admissionregistration.OperationType{"*", "PATCH"}: if '*' is present, must not specify other operations, ` +
        'spec.matchConstraints.resourceRules[0].operations[1]: Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE", ' +
        'spec.matchConstraints.resourceRules[0].apiGroups: Required value]',
    );
    assert.equal(rules({ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['*', 'deployments'] }), `${P}spec.matchConstraints.resourceRules[0].resources: Invalid value: []string{"*", "deployments"}: if '*' is present, must not specify other resources without subresources`);
    const selector = only({ matchConstraints: { resourceRules: DEPLOYMENT_RULES, namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'In' }] } }, validations: [{ expression: 'true' }] });
    assert.equal(selector, `${P}spec.matchConstraints.namespaceSelector.matchExpressions[0].values: Required value: must be specified when \`operator\` is 'In' or 'NotIn'`);
  });

  it('bindings: policyName, validationActions (not Deny with Warn), matchResources (the apiserver\'s misspelt path)', () => {
    assert.equal(
      refusal(binding('b', '', ['Deny', 'Warn', 'Deny', 'Log'])),
      `${B}[spec.policyName: Required value, spec.validationActions[2]: Duplicate value: "Deny", spec.validationActions[3]: Unsupported value: "Log": supported values: "Audit", "Deny", "Warn", ` +
        'spec.validationActions: Invalid value: []admissionregistration.ValidationAction{"Deny", "Warn", "Deny", "Log"}: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)]',
    );
    assert.equal(refusal(binding('b', 'p.example.com', [])), `${B}spec.validationActions: Required value: at least one validation action is required`);
    assert.equal(refusal(binding('b', 'p.example.com', ['Deny'], { matchResources: { matchPolicy: 'Fuzzy' } })), `${B}spec.matchResouces.matchPolicy: Unsupported value: "Fuzzy": supported values: "Equivalent", "Exact"`);
  });

  it('params are refused as not modelled, never ignored; other versions of these kinds are refused', () => {
    assert.equal(only({ paramKind: { apiVersion: 'v1', kind: 'ConfigMap' }, validations: [{ expression: 'true' }] }), `${P}spec.paramKind: Forbidden: ${PARAMS_NOT_MODELLED}`);
    assert.equal(refusal(binding('b', 'p.example.com', ['Deny'], { paramRef: { name: 'limits', parameterNotFoundAction: 'Deny' } })), `${B}spec.paramRef: Forbidden: ${PARAMS_NOT_MODELLED}`);
    assert.match(refusal({ ...policy('p.example.com', { validations: [{ expression: 'true' }] }), apiVersion: 'admissionregistration.k8s.io/v1beta1' }), /v1beta1: only admissionregistration\.k8s\.io\/v1 is modelled/);
  });

  it('createAdmissionChain refuses hand-built policies the same way', () => {
    const set = load(policy('p.example.com', { validations: [{ expression: 'true' }] }), binding('b', 'p.example.com'));
    set.policies[0]!.spec.validations[0]!.expression = 'object.kind';
    // No webhooks: the resolver is never asked.
    assert.throws(() => createAdmissionChain({ mutating: [], validating: [], ...set, resolveService: () => ({ host: '127.0.0.1', port: 1 }), namespaceLabels: () => ({}) }), {
      message: `${P}spec.validations[0].expression: Invalid value: "object.kind": must evaluate to bool`,
    });
  });
});

describe('driven by the real kubectl against the test API server', { timeout: HANG_GUARD_MS }, () => {
  let tools: RealTools;
  let server: TestApiServer;
  let dir: string;
  let kubeconfig: string;
  let chain: AdmissionChain | undefined;

  before(async () => {
    tools = await ensureRealTools();
    dir = await mkdtemp(join(tmpdir(), 'tracegate-policies-'));
    server = await startTestApiServer();
    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: NAMESPACES[NS] } });
    kubeconfig = await server.kubeconfig(await mkdtemp(join(dir, 'kc-')), { user: 'alice', groups: ['system:authenticated'] });
  });

  after(async () => {
    chain?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function use(docs: Any[]): AdmissionChain {
    chain?.close();
    chain = newChain(docs);
    server.setAdmission(chain.hook);
    return chain;
  }

  function kubectl(args: string[], input?: string): Promise<ToolResult> {
    return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig }, ...(input === undefined ? {} : { input }) });
  }

  const manifest = (name: string, replicas: number, labels?: Record<string, string>) => JSON.stringify(deployment(name, labels ? { labels } : {}, replicas));

  it('Deny without a reason: kubectl prints the 422 from its cause; `kubectl create deployment` words it its own way', async () => {
    use([policy('replicas.example.com', { validations: [replicasAtMost5({ messageExpression: "'at most 5 replicas, not ' + string(object.spec.replicas)" })] }), binding('replicas', 'replicas.example.com')]);
    const res = await kubectl(['apply', '-f', '-'], manifest('big', 6));
    assert.equal(res.stderr, `The deployments "big" is invalid: : ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas' denied request: at most 5 replicas, not 6\n`);
    const create = await kubectl(['create', 'deployment', 'huge', '--image=nginx:1.27', '--replicas=7', '-n', NS]);
    assert.equal(create.stderr, `error: failed to create deployment: deployments.apps "huge" is forbidden: ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas' denied request: at most 5 replicas, not 7\n`);
    assert.equal(server.store.get('deployments', NS, 'big'), undefined);
  });

  it('Warn: admitted, and kubectl prints the warning', async () => {
    use([policy('replicas.example.com', { validations: [replicasAtMost5({ message: 'more than 5 replicas' })] }), binding('replicas-warn', 'replicas.example.com', ['Warn'])]);
    const res = await kubectl(['apply', '-f', '-'], manifest('wide', 6));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stderr, "Warning: Validation failed for ValidatingAdmissionPolicy 'replicas.example.com' with binding 'replicas-warn': more than 5 replicas\n");
    assert.equal((server.store.get('deployments', NS, 'wide') as Any)['spec']['replicas'], 6);
  });

  it('Audit: admitted silently, the failure only in the audit annotations', async () => {
    const c = use([policy('replicas.example.com', { validations: [replicasAtMost5({ message: 'more than 5 replicas' })] }), binding('replicas-audit', 'replicas.example.com', ['Audit'])]);
    const res = await kubectl(['apply', '-f', '-'], manifest('quiet', 8));
    assert.deepEqual([res.code, res.stderr], [0, '']);
    assert.equal(c.last?.auditAnnotations[FAILURE_KEY], '[{"message":"more than 5 replicas","policy":"replicas.example.com","binding":"replicas-audit","expressionIndex":0,"validationActions":["Audit"]}]');
  });

  it('an evaluation error under Fail refuses the write with the error; under Ignore the write goes through', async () => {
    const broken = { validations: [{ expression: "object.metadata.labels.team == 'a'" }] };
    use([policy('team.example.com', { failurePolicy: 'Fail', ...broken }), binding('team', 'team.example.com')]);
    const fail = await kubectl(['apply', '-f', '-'], manifest('unlabelled', 1));
    assert.equal(fail.stderr, `The deployments "unlabelled" is invalid: : ValidatingAdmissionPolicy 'team.example.com' with binding 'team' denied request: expression 'object.metadata.labels.team == 'a'' resulted in error: no such key: labels\n`);
    use([policy('team.example.com', { failurePolicy: 'Ignore', ...broken }), binding('team', 'team.example.com')]);
    const ignore = await kubectl(['apply', '-f', '-'], manifest('unlabelled', 1));
    assert.deepEqual([ignore.code, ignore.stderr], [0, '']);
    assert.ok(server.store.get('deployments', NS, 'unlabelled'));
  });
});
