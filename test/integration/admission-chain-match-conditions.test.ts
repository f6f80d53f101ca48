/**
 * Webhook matchConditions in the admission chain, as kube-apiserver evaluates them
 * (`generic/webhook.go` ShouldCallHook, `matchconditions/matcher.go`, `plugin/cel/compile.go`,
 * `admissionregistration/validation/validation.go`): configurations loaded from YAML, a fake webhook
 * to tell calls from skips, the chain's hook called directly for Pods and ReplicaSets (the test API
 * server admits only Deployments), and the real kubectl for what users see.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { AUTHORIZER_NOT_MODELLED, createAdmissionChain, loadWebhookConfigs, startFakeWebhook } from '../support/admission-chain/index.js';
import type { AdmissionChain, FakeWebhook, WebhookConfigs } from '../support/admission-chain/index.js';
import type { AdmissionHookRequest, AdmissionHookResult } from '../support/api-server/index.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

/** A hang guard per suite, not a speed check. */
const HANG_GUARD_MS = 120_000;
const NS = 'team-a';
const FAKE_DNS = 'fake.webhooks.svc';
const RS_CONTROLLER = 'system:serviceaccount:kube-system:replicaset-controller';
const DEPLOYMENT_CONTROLLER = 'system:serviceaccount:kube-system:deployment-controller';

/** The condition tracegate's install ships, as its YAML writes it (a folded scalar keeps the more-indented line breaks). */
const TRACEGATE_YAML = `
matchConditions:
  - name: not-a-controller-replica
    expression: >-
      !((request.userInfo.username == 'system:kube-controller-manager' ||
         request.userInfo.username.startsWith('system:serviceaccount:kube-system:')) &&
        object != null && has(object.metadata.ownerReferences) &&
        object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller == true))
`;
type Condition = { name: string; expression: string };
const TRACEGATE: Condition[] = (parse(TRACEGATE_YAML) as { matchConditions: Condition[] }).matchConditions;

type Any = Record<string, any>;

const PODS = { group: '', version: 'v1', resource: 'pods' };
const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };
const REPLICASETS = { group: 'apps', version: 'v1', resource: 'replicasets' };
const RS_KIND = { group: 'apps', version: 'v1', kind: 'ReplicaSet' };
const DEPLOYMENTS = { group: 'apps', version: 'v1', resource: 'deployments' };
const RULES = [
  { operations: ['*'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'pods/status'], scope: 'Namespaced' },
  { operations: ['*'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['replicasets', 'deployments', 'deployments/scale'], scope: 'Namespaced' },
];

let fake: FakeWebhook;
const chainLog: string[] = [];

/** A webhook configuration as YAML would carry it, served by the fake at `/<name>`. */
function webhook(name: string, matchConditions: Condition[], over: Any = {}): Any {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    clientConfig: { service: { namespace: 'webhooks', name: 'fake', path: `/${name}` }, caBundle: fake.caBundle },
    rules: RULES,
    ...(matchConditions.length > 0 ? { matchConditions } : {}),
    ...over,
  };
}

function configYaml(kind: 'MutatingWebhookConfiguration' | 'ValidatingWebhookConfiguration', name: string, webhooks: Any[]): string {
  return stringify({ apiVersion: 'admissionregistration.k8s.io/v1', kind, metadata: { name }, webhooks });
}

/** Loads through loadWebhookConfigs, as the install's YAML would be. */
function load(mutating: Any[], validating: Any[]): WebhookConfigs {
  const docs = [];
  if (mutating.length > 0) docs.push(configYaml('MutatingWebhookConfiguration', 'm', mutating));
  if (validating.length > 0) docs.push(configYaml('ValidatingWebhookConfiguration', 'v', validating));
  return loadWebhookConfigs(docs.join('---\n'));
}

function newChain(configs: WebhookConfigs): AdmissionChain {
  return createAdmissionChain({
    ...configs,
    resolveService: () => ({ host: '127.0.0.1', port: fake.port }),
    namespaceLabels: (ns) => (ns === NS ? {} : undefined),
    log: (line) => void chainLog.push(line),
  });
}

const RS_OWNER = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f', uid: '6c1f0b4e-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true };
const DEPLOYMENT_OWNER = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: '6c1f0b4e-0000-4000-8000-000000000002', controller: true, blockOwnerDeletion: true };

function pod(ownerReferences?: Any[]): Any {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-7d9f-x2x4q', namespace: NS, labels: { app: 'web' }, ...(ownerReferences ? { ownerReferences } : {}) },
    spec: { containers: [{ name: 'web', image: 'registry.example.com/team-a/web:1.4.2' }] },
  };
}

function replicaSet(ownerReferences?: Any[]): Any {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-7d9f', namespace: NS, ...(ownerReferences ? { ownerReferences } : {}) },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: pod().spec } },
  };
}

/** A Pod CREATE by `username`; `over` replaces any field. */
function podRequest(username: string, object: Any | null, over: Partial<AdmissionHookRequest> = {}): AdmissionHookRequest {
  return {
    operation: 'CREATE',
    kind: POD_KIND,
    resource: PODS,
    namespace: NS,
    name: object?.['metadata']?.['name'] ?? 'web-7d9f-x2x4q',
    object,
    oldObject: null,
    userInfo: { username, groups: ['system:authenticated'] },
    dryRun: false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    ...over,
  };
}

function rsRequest(username: string, object: Any): AdmissionHookRequest {
  return podRequest(username, object, { kind: RS_KIND, resource: REPLICASETS, name: 'web-7d9f' });
}

/** Runs one request through `chain`; which webhooks the fake saw, and what was skipped why. */
async function admit(chain: AdmissionChain, req: AdmissionHookRequest): Promise<{ result: AdmissionHookResult; called: string[]; skipped: string[] }> {
  const before = fake.requests.length;
  const result = await chain.hook(req);
  const called = fake.requests.slice(before).map((r) => r.url.split('?')[0]!.slice(1));
  const skipped = (chain.last?.skipped ?? []).map((s) => `${s.webhook}:${s.reason}${s.condition ? `:${s.condition}` : ''}`);
  return { result, called, skipped };
}

before(async () => {
  fake = await startFakeWebhook(FAKE_DNS);
});

after(async () => {
  await fake?.close();
});

describe("the condition tracegate ships: controllers' own replicas never reach the gate", { timeout: HANG_GUARD_MS }, () => {
  let chain: AdmissionChain;
  before(() => {
    chain = newChain(load([webhook('mutate', TRACEGATE)], [webhook('validate', TRACEGATE, { failurePolicy: 'Fail' })]));
  });
  after(() => chain.close());

  it('skips a Pod the replicaset-controller creates with a controller ownerReference, at both stages', async () => {
    const { result, called, skipped } = await admit(chain, podRequest(RS_CONTROLLER, pod([RS_OWNER])));
    assert.equal(result.allowed, true);
    assert.deepEqual(called, []);
    assert.deepEqual(skipped, ['mutate:matchConditions:not-a-controller-replica', 'validate:matchConditions:not-a-controller-replica']);
    assert.deepEqual(chain.lastCalls, []);
  });

  it('skips the kube-controller-manager identity too, and a ReplicaSet the deployment-controller creates', async () => {
    assert.deepEqual((await admit(chain, podRequest('system:kube-controller-manager', pod([RS_OWNER])))).called, []);
    const rs = await admit(chain, rsRequest(DEPLOYMENT_CONTROLLER, replicaSet([DEPLOYMENT_OWNER])));
    assert.deepEqual(rs.called, []);
    assert.deepEqual(rs.skipped, ['mutate:matchConditions:not-a-controller-replica', 'validate:matchConditions:not-a-controller-replica']);
  });

  it('calls the gate when alice writes the same Pod or ReplicaSet: an ownerReference alone is written by the client', async () => {
    assert.deepEqual((await admit(chain, podRequest('alice', pod([RS_OWNER])))).called, ['mutate', 'validate']);
    assert.deepEqual((await admit(chain, rsRequest('alice', replicaSet([DEPLOYMENT_OWNER])))).called, ['mutate', 'validate']);
    // A tenant's service account outside kube-system is no controller either.
    assert.deepEqual((await admit(chain, podRequest('system:serviceaccount:team-a:deployer', pod([RS_OWNER])))).called, ['mutate', 'validate']);
  });

  it('calls the gate for a controller identity writing a Pod without ownerReferences, or with no controller among them', async () => {
    assert.deepEqual((await admit(chain, podRequest(RS_CONTROLLER, pod()))).called, ['mutate', 'validate']);
    const { controller: _c, ...noControllerField } = RS_OWNER;
    assert.deepEqual((await admit(chain, podRequest(RS_CONTROLLER, pod([noControllerField])))).called, ['mutate', 'validate'], 'has(r.controller) is false');
    assert.deepEqual((await admit(chain, podRequest(RS_CONTROLLER, pod([{ ...RS_OWNER, controller: false }])))).called, ['mutate', 'validate']);
    assert.deepEqual((await admit(chain, rsRequest(DEPLOYMENT_CONTROLLER, replicaSet([])))).called, ['mutate', 'validate'], 'an empty list is dropped (omitempty): has() is false');
  });

  it('a DELETE has a null object: `object != null` is false, the condition true, no error — the gate is called', async () => {
    for (const username of [RS_CONTROLLER, 'alice']) {
      const req = podRequest(username, null, { operation: 'DELETE', oldObject: pod([RS_OWNER]), options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' } });
      const { result, called, skipped } = await admit(chain, req);
      assert.equal(result.allowed, true, username);
      assert.deepEqual(called, ['mutate', 'validate'], username);
      assert.deepEqual(skipped, [], username);
    }
  });
});

describe('the variant in manifests/webhooks.yaml, over [object, oldObject]', { timeout: HANG_GUARD_MS }, () => {
  const VARIANT: Condition[] = [
    {
      name: 'not-a-controller-replica',
      expression:
        "!((request.userInfo.username == 'system:kube-controller-manager' || request.userInfo.username.startsWith('system:serviceaccount:kube-system:')) && " +
        '[object, oldObject].exists(o, o != null && has(o.metadata.ownerReferences) && o.metadata.ownerReferences.exists(r, has(r.controller) && r.controller == true)))',
    },
  ];

  it("also keeps a controller's DELETE of its own replica away (oldObject carries the reference), and still judges alice's", async () => {
    const chain = newChain(load([], [webhook('validate', VARIANT, { failurePolicy: 'Fail' })]));
    try {
      const del = (username: string) => podRequest(username, null, { operation: 'DELETE', oldObject: pod([RS_OWNER]), options: { kind: 'DeleteOptions', apiVersion: 'meta.k8s.io/v1' } });
      assert.deepEqual((await admit(chain, del(RS_CONTROLLER))).skipped, ['validate:matchConditions:not-a-controller-replica']);
      assert.deepEqual((await admit(chain, del('alice'))).called, ['validate']);
      assert.deepEqual((await admit(chain, podRequest(RS_CONTROLLER, pod([RS_OWNER])))).called, []);
      assert.deepEqual((await admit(chain, podRequest(RS_CONTROLLER, pod()))).called, ['validate']);
    } finally {
      chain.close();
    }
  });
});

describe('evaluation: true, false and errors under each failurePolicy', { timeout: HANG_GUARD_MS }, () => {
  const TRUE = { name: 'always', expression: "request.operation == 'CREATE'" };
  const FALSE = { name: 'never', expression: "request.operation == 'DELETE'" };
  const ERROR = { name: 'broken', expression: "object.metadata.team == 'a'" };
  const ERROR_2 = { name: 'broken-too', expression: 'object.spec.missing.size() > 0' };
  const noSuchKey = "expression 'object.metadata.team == 'a'' resulted in error: no such key: team";

  async function run(conditions: Condition[], failurePolicy: 'Fail' | 'Ignore', stage: 'mutating' | 'validating' = 'validating') {
    const hook = webhook('hook', conditions, { failurePolicy });
    const chain = newChain(stage === 'mutating' ? load([hook], []) : load([], [hook]));
    try {
      const res = await admit(chain, podRequest('alice', pod()));
      return { ...res, last: chain.last };
    } finally {
      chain.close();
    }
  }

  it('all true: called; one false: skipped under either policy, naming the false condition', async () => {
    for (const policy of ['Fail', 'Ignore'] as const) {
      assert.deepEqual((await run([TRUE], policy)).called, ['hook'], policy);
      const skipped = await run([TRUE, FALSE], policy);
      assert.deepEqual([skipped.called, skipped.result.allowed, skipped.last?.skipped], [[], true, [{ stage: 'validating', webhook: 'hook', reason: 'matchConditions', condition: 'never' }]], policy);
    }
  });

  it('an error under Fail rejects the request with 403 Forbidden and the apiserver log line, without calling the webhook', async () => {
    for (const stage of ['mutating', 'validating'] as const) {
      chainLog.length = 0;
      const { result, called } = await run([TRUE, ERROR], 'Fail', stage);
      assert.deepEqual(result, { allowed: false, status: { code: 403, reason: 'Forbidden', message: `pods "web-7d9f-x2x4q" is forbidden: ${noSuchKey}` }, warnings: [] }, stage);
      assert.deepEqual(called, [], stage);
      assert.deepEqual(chainLog, [`Failed evaluating match conditions, failing closed hook: ${noSuchKey}`], stage);
    }
  });

  it('an error under Ignore skips the webhook, silently as the apiserver does (metrics only), and the request goes on', async () => {
    chainLog.length = 0;
    const { result, called, last } = await run([ERROR, TRUE], 'Ignore');
    assert.equal(result.allowed, true);
    assert.deepEqual(called, []);
    assert.deepEqual(last?.skipped, [{ stage: 'validating', webhook: 'hook', reason: 'matchConditions', errors: noSuchKey }]);
    assert.deepEqual(chainLog, []);
  });

  it('a false wins over errors, before or after it, even under Fail', async () => {
    for (const conditions of [[ERROR, FALSE], [FALSE, ERROR]]) {
      const { result, called, last } = await run(conditions, 'Fail');
      assert.equal(result.allowed, true);
      assert.deepEqual(called, []);
      assert.equal(last?.skipped[0]?.condition, 'never');
    }
  });

  it('several errors are aggregated as utilerrors.NewAggregate prints them', async () => {
    const { result } = await run([ERROR, TRUE, ERROR_2], 'Fail');
    assert.equal(result.allowed, false);
    assert.equal(
      !result.allowed && result.status.message,
      `pods "web-7d9f-x2x4q" is forbidden: [${noSuchKey}, expression 'object.spec.missing.size() > 0' resulted in error: no such key: missing]`,
    );
  });

  it('any use of authorizer is an evaluation error saying why; a short-circuit that never reaches it is not', async () => {
    const authz = { name: 'may-create', expression: "authorizer.group('apps').resource('deployments').namespace('team-a').check('create').allowed()" };
    const { result } = await run([authz], 'Fail');
    assert.equal(!result.allowed && result.status.message, `pods "web-7d9f-x2x4q" is forbidden: expression '${authz.expression}' resulted in error: ${AUTHORIZER_NOT_MODELLED}`);
    const resource = { name: 'self', expression: "authorizer.requestResource.check('update').allowed()" };
    const self = (await run([resource], 'Fail')).result;
    assert.equal(!self.allowed && self.status.message, `pods "web-7d9f-x2x4q" is forbidden: expression '${resource.expression}' resulted in error: ${AUTHORIZER_NOT_MODELLED}`);
    assert.deepEqual((await run([{ name: 'short', expression: `request.operation == 'CREATE' || ${authz.expression}` }], 'Fail')).called, ['hook']);
  });
});

describe('the CEL variables, bound as the apiserver binds them', { timeout: HANG_GUARD_MS }, () => {
  /** Whether a validating webhook with `expression` as its only condition is called for `req` (Fail: errors reject). */
  async function holds(expression: string, req: AdmissionHookRequest): Promise<boolean | string> {
    const chain = newChain(load([], [webhook('probe', [{ name: 'probe', expression }], { failurePolicy: 'Fail' })]));
    try {
      const { result, called } = await admit(chain, req);
      return result.allowed ? called.length === 1 : result.status.message;
    } finally {
      chain.close();
    }
  }
  const alice = (over: Partial<AdmissionHookRequest> = {}) => podRequest('alice', pod([RS_OWNER]), over);

  it('object and oldObject: null when absent (CREATE has no oldObject, DELETE no object)', async () => {
    assert.equal(await holds('oldObject == null && object != null', alice()), true);
    const del = alice({ operation: 'DELETE', object: null, oldObject: pod() });
    assert.equal(await holds('object == null && oldObject.metadata.name == "web-7d9f-x2x4q"', del), true);
    assert.match(String(await holds('object.metadata.name == "x"', del)), /is forbidden: expression 'object\.metadata\.name == "x"' resulted in error: /);
    const update = alice({ operation: 'UPDATE', oldObject: pod() });
    assert.equal(await holds('!has(oldObject.metadata.ownerReferences) && size(object.metadata.ownerReferences) == 1', update), true);
  });

  it('request: operation, kind/resource and their request* twins, name, namespace, userInfo, dryRun, options', async () => {
    const req = alice({ dryRun: true, userInfo: { username: 'alice', groups: ['dev', 'system:authenticated'] } });
    for (const expression of [
      "request.operation == 'CREATE'",
      "request.kind.kind == 'Pod' && request.kind.group == '' && request.resource.resource == 'pods'",
      "request.requestKind.version == 'v1' && request.requestResource.resource == 'pods'",
      "request.name == 'web-7d9f-x2x4q' && request.namespace == 'team-a'",
      "request.userInfo.username == 'alice' && 'dev' in request.userInfo.groups && request.userInfo.groups.size() == 2",
      'request.dryRun',
      "request.options.kind == 'CreateOptions'",
      // omitempty: no subresource, no uid or extra for this user.
      '!has(request.subResource) && !has(request.requestSubResource) && !has(request.userInfo.uid) && !has(request.userInfo.extra)',
    ]) {
      assert.equal(await holds(expression, req), true, expression);
    }
    assert.equal(await holds('!request.dryRun', alice()), true);
    // An absent field is an absent key, as in the apiserver's unstructured request: selecting it is an error.
    assert.match(String(await holds("request.subResource == ''", alice())), /resulted in error: no such key: subResource$/);
  });

  it('request.subResource on a subresource write', async () => {
    const status = alice({ operation: 'UPDATE', subResource: 'status', oldObject: pod([RS_OWNER]) });
    assert.equal(await holds("request.subResource == 'status' && request.requestSubResource == 'status'", status), true);
    const scale = podRequest('alice', { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: NS }, spec: { replicas: 4 } }, {
      operation: 'UPDATE',
      kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      resource: DEPLOYMENTS,
      subResource: 'scale',
      name: 'web',
      oldObject: { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web', namespace: NS }, spec: { replicas: 3 } },
    });
    assert.equal(await holds("request.subResource == 'scale' && request.kind.kind == 'Scale' && object.spec.replicas > oldObject.spec.replicas", scale), true);
  });

  it('unstructured values: has() on map keys, exists/all, startsWith, matches (RE2), size, in, null, int vs double', async () => {
    const req = alice();
    for (const expression of [
      "has(object.metadata.labels.app) && !has(object.metadata.labels.tier) && 'app' in object.metadata.labels",
      "object.metadata.ownerReferences.all(r, r.kind == 'ReplicaSet') && object.spec.containers.exists(c, c.image.startsWith('registry.example.com/'))",
      "object.spec.containers[0].image.matches('^[a-z.]+/team-a/[a-z]+:[0-9.]+$') && !object.metadata.name.matches('(?i)^WEB$')",
      'size(object.spec.containers) == 1 && object.spec.containers.size() == 1',
      'object.metadata.labels.app != null && object.metadata.labels != null',
    ]) {
      assert.equal(await holds(expression, req), true, expression);
    }
    const rs = rsRequest('alice', replicaSet());
    // JSON integers are CEL ints (3 / 2 == 1), comparable with doubles; == across int and double holds at run time.
    assert.equal(await holds('object.spec.replicas == 3 && object.spec.replicas / 2 == 1 && object.spec.replicas > 2.5 && object.spec.replicas == 3.0', rs), true);
  });
});

describe('configurations the apiserver would refuse to store are refused', () => {
  function refusal(conditions: Any[]): string {
    try {
      load([], [webhook('v.example.com', conditions as Condition[])]);
    } catch (err) {
      return (err as Error).message;
    }
    return 'loaded';
  }
  const PREFIX = 'ValidatingWebhookConfiguration.admissionregistration.k8s.io "v" is invalid: ';

  it('an expression that does not compile, with cel-go\'s error display', () => {
    assert.equal(
      refusal([{ name: 'c', expression: 'foo == 1' }]),
      `${PREFIX}webhooks[0].matchConditions[0].expression: Invalid value: "foo == 1": compilation failed: ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo == 1\n | ^`,
    );
    assert.match(refusal([{ name: 'c', expression: 'request.foo == 1' }]), /compilation failed: ERROR: <input>:1:8: undefined field 'foo'\n \| request\.foo == 1\n \| \.{7}\^$/);
    assert.match(refusal([{ name: 'c', expression: 'params.x == 1' }]), /undeclared reference to 'params'/, 'webhooks have no params');
    assert.match(refusal([{ name: 'c', expression: "object.metadata.name.upper() == 'A'" }]), /undeclared reference to 'upper'/);
    assert.match(refusal([{ name: 'c', expression: "1 + 'a' == 2" }]), /found no matching overload for '_\+_' applied to '\(int, string\)'/);
    assert.match(refusal([{ name: 'c', expression: "request.dryRun == 'true'" }]), /found no matching overload for '_==_' applied to '\(bool, string\)'/);
    assert.match(refusal([{ name: 'c', expression: 'object.metadata.name ==' }]), /compilation failed: ERROR: <input>:1:/);
  });

  it('an expression that does not evaluate to bool (a field of `object` is dyn)', () => {
    for (const expression of ['object.spec.paused', 'object.metadata.name', 'size(object.spec.containers)', "true ? object.spec.paused : false"]) {
      assert.equal(refusal([{ name: 'c', expression }]), `${PREFIX}webhooks[0].matchConditions[0].expression: Invalid value: ${JSON.stringify(expression)}: must evaluate to bool`, expression);
    }
    for (const expression of ['!object.spec.paused', 'object.spec.paused == true', "has(object.spec.paused)", 'object.spec.containers.exists(c, c.name == "x")', 'type(object) == map']) {
      assert.equal(refusal([{ name: 'c', expression }]), 'loaded', expression);
    }
  });

  it('blank expressions and names, invalid or duplicate names, more than 64 conditions — all errors at once', () => {
    assert.equal(
      refusal([{ name: 'a', expression: '  ' }, { name: '', expression: 'true' }, { name: 'Not Valid!', expression: 'true' }, { name: 'a', expression: 'true' }]),
      `${PREFIX}[webhooks[0].matchConditions[0].expression: Required value, webhooks[0].matchConditions[1].name: Required value, ` +
        `webhooks[0].matchConditions[2].name: Invalid value: "Not Valid!": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), ` +
        'webhooks[0].matchConditions[3].name: Duplicate value: "a"]',
    );
    assert.equal(refusal([{ name: 'example.com/not-a-controller-replica', expression: 'true' }]), 'loaded', 'a qualified name may have a DNS prefix');
    assert.match(refusal([{ name: 'x'.repeat(64), expression: 'true' }]), /name part must be no more than 63 bytes/);
    const many = Array.from({ length: 65 }, (_, i) => ({ name: `c${i}`, expression: 'true' }));
    assert.equal(refusal(many), `${PREFIX}webhooks[0].matchConditions: Too many: 65: must have at most 64 items`);
    assert.equal(refusal(many.slice(0, 64)), 'loaded');
  });

  it('createAdmissionChain refuses hand-built configurations the same way', () => {
    const configs = load([], [webhook('v.example.com', [])]);
    configs.validating[0]!.webhooks[0]!.matchConditions = [{ name: 'c', expression: 'object.kind' }];
    assert.throws(() => newChain(configs), { message: `${PREFIX}webhooks[0].matchConditions[0].expression: Invalid value: "object.kind": must evaluate to bool` });
  });
});

describe('several conditions, and the object each stage sees', { timeout: HANG_GUARD_MS }, () => {
  it('every condition must hold; the first false is named', async () => {
    const conditions = [
      { name: 'is-create', expression: "request.operation == 'CREATE'" },
      { name: 'has-app-label', expression: 'has(object.metadata.labels.app)' },
      { name: 'in-team-a', expression: "request.namespace == 'team-a'" },
    ];
    const chain = newChain(load([], [webhook('multi', conditions)]));
    try {
      assert.deepEqual((await admit(chain, podRequest('alice', pod()))).called, ['multi']);
      const other = pod();
      other['metadata']['labels'] = { tier: 'web' };
      assert.deepEqual((await admit(chain, podRequest('alice', other))).skipped, ['multi:matchConditions:has-app-label']);
      // has() tests the last field only: a missing map on the way is an error (failurePolicy Fail: 403).
      const unlabelled = pod();
      delete unlabelled['metadata']['labels'];
      const { result } = await admit(chain, podRequest('alice', unlabelled));
      assert.equal(!result.allowed && result.status.message, `pods "web-7d9f-x2x4q" is forbidden: expression 'has(object.metadata.labels.app)' resulted in error: no such key: labels`);
    } finally {
      chain.close();
    }
  });

  it('a later mutating webhook and the validating ones see the object as earlier webhooks patched it', async () => {
    fake.setHandler((review, path) => {
      const response: Any = { uid: review.request.uid, allowed: true };
      if (path === '/stamp') {
        response['patchType'] = 'JSONPatch';
        response['patch'] = Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/labels/stamped', value: 'yes' }])).toString('base64');
      }
      return { body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response } };
    });
    const stamped = [{ name: 'stamped', expression: "has(object.metadata.labels.stamped) && object.metadata.labels.stamped == 'yes'" }];
    const docs = [
      configYaml('MutatingWebhookConfiguration', 'a-stamp', [webhook('stamp', [])]),
      configYaml('MutatingWebhookConfiguration', 'b-after', [webhook('after', stamped)]),
      configYaml('ValidatingWebhookConfiguration', 'v', [webhook('check', stamped)]),
    ];
    const chain = newChain(loadWebhookConfigs(docs.join('---\n')));
    try {
      const { called } = await admit(chain, podRequest('alice', pod()));
      assert.deepEqual(called, ['stamp', 'after', 'check']);
    } finally {
      chain.close();
      fake.setHandler((review) => ({ body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } } }));
    }
  });
});

describe('driven by the real kubectl against the test API server', { timeout: HANG_GUARD_MS }, () => {
  let tools: RealTools;
  let server: TestApiServer;
  let dir: string;
  let chain: AdmissionChain;
  const kubeconfigs = new Map<string, string>();

  before(async () => {
    tools = await ensureRealTools();
    dir = await mkdtemp(join(tmpdir(), 'tracegate-conditions-'));
    server = await startTestApiServer();
    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    for (const user of ['alice', RS_CONTROLLER]) kubeconfigs.set(user, await server.kubeconfig(await mkdtemp(join(dir, 'kc-')), { user, groups: ['system:authenticated'] }));
    const broken = { name: 'team-label', expression: "oldObject.metadata.labels.team == 'a'" };
    chain = newChain(load([webhook('mutate', TRACEGATE)], [webhook('validate', TRACEGATE, { failurePolicy: 'Fail' }), webhook('labelled', [broken], { failurePolicy: 'Fail', rules: [{ ...RULES[1], operations: ['DELETE'] }] })]));
    server.setAdmission(chain.hook);
  });

  after(async () => {
    chain?.close();
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function kubectl(user: string, args: string[], input?: string): Promise<ToolResult> {
    return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfigs.get(user)! }, ...(input === undefined ? {} : { input }) });
  }

  const owned = (name: string) =>
    JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: NS, ownerReferences: [{ apiVersion: 'example.com/v1', kind: 'App', name: 'web', uid: '6c1f0b4e-0000-4000-8000-000000000003', controller: true }] },
      spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'registry.example.com/team-a/web:1.4.2' }] } } },
    });

  it('what a kube-system controller identity writes with a controller ownerReference skips the webhooks; alice\'s does not', async () => {
    const byController = await kubectl(RS_CONTROLLER, ['apply', '-f', '-'], owned('by-controller'));
    assert.equal(byController.code, 0, byController.stderr);
    assert.equal(chain.lastCalls.length, 0, 'no webhook called');
    assert.deepEqual(chain.last?.request.userInfo.username, RS_CONTROLLER);
    const byAlice = await kubectl('alice', ['apply', '-f', '-'], owned('by-alice'));
    assert.equal(byAlice.code, 0, byAlice.stderr);
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate', 'allowed'], ['validate', 'allowed']]);
  });

  it('an evaluation error under Fail reaches kubectl as the apiserver words it', async () => {
    const res = await kubectl('alice', ['delete', 'deployment', 'by-alice', '-n', NS]);
    assert.equal(res.code, 1);
    assert.equal(res.stderr, `Error from server (Forbidden): deployments.apps "by-alice" is forbidden: expression 'oldObject.metadata.labels.team == 'a'' resulted in error: no such key: labels\n`);
    assert.ok(server.store.get('deployments', NS, 'by-alice'), 'not deleted');
  });
});
