/**
 * The admission chain (test/support/admission-chain) as kube-apiserver runs webhooks: configurations
 * rendered by the real kubectl from the overlay `tracegate certs --kustomize` writes, the real gate
 * serving the certificate from that overlay, the test API server storing what the chain admits, and
 * the real kubectl as the client — plus small fake webhooks for every way a webhook can misbehave.
 * Expected texts come from reference/admission-protocol.md §4–§7 and the apiserver sources it cites.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli/io.js';
import { createCli } from '../../src/cli/main.js';
import { buildConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { startGate, type RunningGate } from '../../src/server/gate.js';
import { allowAll, compileWebhookConditions, createAdmissionChain, loadWebhookConfigs, ruleMatches, shouldCallHook, startFakeWebhook, strangerCa } from '../support/admission-chain/index.js';
import type {
  AdmissionChain,
  FakeHandler,
  FakeWebhook,
  MatchAttributes,
  MatchContext,
  MutatingWebhook,
  MutatingWebhookConfiguration,
  ValidatingWebhook,
  ValidatingWebhookConfiguration,
  WebhookCall,
  WebhookConfigs,
  WebhookRule,
} from '../support/admission-chain/index.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A hang guard per suite, not a speed check. */
const HANG_GUARD_MS = 120_000;
const TENANT_NS = 'team-a';
const FAKE_DNS = 'fake.webhooks.svc';
const GATE_SERVICE = 'tracegate/tracegate:443';
const FAKE_SERVICE = 'webhooks/fake:443';
const ENVELOPE = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' } as const;
const MUTATION_KEY = 'mutation.webhook.admission.k8s.io/round_0_index_0';
const FAILED_OPEN_MUTATION = 'failed-open.mutation.webhook.admission.k8s.io/round_0_index_0';
const FAILED_OPEN_VALIDATING = 'failed-open.validating.webhook.admission.k8s.io/round_0_index_0';

type Any = Record<string, any>;

let tools: RealTools;
let dir: string;
let overlayDir: string;
let overlayYaml: string;
let configs: WebhookConfigs;
let gate: RunningGate;
let gateStopped = false;
let server: TestApiServer;
let kubeconfig: string;
let chain: AdmissionChain;
let fake: FakeWebhook;
/** Where each `namespace/name:port` Service really listens; the apiserver's service resolver. */
const services = new Map<string, { host: string; port: number }>();
const chainLog: string[] = [];

function resolveService(namespace: string, name: string, port: number): { host: string; port: number } {
  const target = services.get(`${namespace}/${name}:${port}`);
  if (target === undefined) throw new Error(`service "${name}" not found`);
  return target;
}

function namespaceLabels(ns: string): Record<string, string> | undefined {
  const obj = server.store.get('namespaces', '', ns);
  return obj === undefined ? undefined : ((obj['metadata'] as Any)['labels'] ?? {});
}

function newChain(c: WebhookConfigs): AdmissionChain {
  return createAdmissionChain({ ...c, resolveService, namespaceLabels, log: (l) => void chainLog.push(l) });
}

/** `tracegate certs …` in-process, as a user would run it from the repository. */
async function certsCli(args: string[]): Promise<{ code: number; output: string }> {
  let output = '';
  const io: CliIo = { stdout: (t) => void (output += t), stderr: (t) => void (output += t), readStdin: async () => '', env: {}, cwd: REPO_ROOT };
  return { code: await createCli()(['certs', ...args], io), output };
}

before(async () => {
  tools = await ensureRealTools();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-chain-'));
  overlayDir = join(dir, 'overlay');
  const certs = await certsCli(['--out', overlayDir, '--kustomize']);
  assert.equal(certs.code, 0, certs.output);
  overlayYaml = await createKubectlLocal(tools).kustomize(overlayDir);
  configs = loadWebhookConfigs(overlayYaml);

  const namespacesFile = join(dir, 'namespaces.yaml');
  await writeFile(namespacesFile, `apiVersion: v1\nkind: List\nitems:\n  - { apiVersion: v1, kind: Namespace, metadata: { name: ${TENANT_NS}, labels: { tracegate.io/tenant: ${TENANT_NS} } } }\n`);
  const config = buildConfig({}, {
    port: 0,
    host: '127.0.0.1',
    tlsCertFile: join(overlayDir, 'tls.crt'),
    tlsKeyFile: join(overlayDir, 'tls.key'),
    tlsCaFile: join(overlayDir, 'ca.crt'),
    tenancy: 'file',
    namespacesFile,
    shutdownDelayMs: 0,
  });
  gate = await startGate({ config, log: createLogger({ level: 'silent' }), env: {}, cwd: REPO_ROOT, metrics: createMetrics({ defaults: false }) });
  services.set(GATE_SERVICE, { host: '127.0.0.1', port: gate.port });

  fake = await startFakeWebhook(FAKE_DNS);
  services.set(FAKE_SERVICE, { host: '127.0.0.1', port: fake.port });

  server = await startTestApiServer();
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: TENANT_NS, labels: { 'tracegate.io/tenant': TENANT_NS } } });
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tracegate' } });
  kubeconfig = await server.kubeconfig(await mkdtemp(join(dir, 'kubeconfig-')));
  chain = newChain(configs);
  server.setAdmission(chain.hook);
});

after(async () => {
  chain?.close();
  await server?.close();
  await fake?.close();
  if (!gateStopped) await gate?.shutdown('test finished', { delayMs: 0 });
  await rm(dir, { recursive: true, force: true });
});

function kubectl(args: string[], input?: string): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig }, ...(input === undefined ? {} : { input }) });
}

async function kubectlOk(args: string[], input?: string): Promise<ToolResult> {
  const res = await kubectl(args, input);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

/** A Deployment the bundled policies accept: pinned image, requests and limits, commit and approver. */
function compliant(name: string, namespace = TENANT_NS, extra: { labels?: Record<string, string> } = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      ...(extra.labels ? { labels: extra.labels } : {}),
      annotations: { 'tracegate.io/commit': '3f2a9c1', 'tracegate.io/approver': 'bob@example.com' },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name,
              image: `registry.example.com/team-a/${name}:1.4.2`,
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
            },
          ],
        },
      },
    },
  });
}

function stored(namespace: string, name: string): Any | undefined {
  return server.store.get('deployments', namespace, name) as Any | undefined;
}

function callsOf(stage: WebhookCall['stage']): WebhookCall[] {
  return chain.lastCalls.filter((c) => c.stage === stage);
}

async function gateDecisions(): Promise<number> {
  const metric = await gate.metrics.decisions.get();
  return metric.values.reduce((sum, v) => sum + v.value, 0);
}

/** Swaps the chain on the API server for one built from `c`; the suite's afterEach puts the main chain back. */
function useChain(c: WebhookConfigs): AdmissionChain {
  const replacement = newChain(c);
  server.setAdmission(replacement.hook);
  chain = replacement;
  return replacement;
}

/** The overlay's configurations with a change to every webhook. */
function mapConfigs(change: (w: MutatingWebhook | ValidatingWebhook) => void): WebhookConfigs {
  const copy = structuredClone(configs);
  for (const c of [...copy.mutating, ...copy.validating]) for (const w of c.webhooks) change(w);
  return copy;
}

const DEPLOYMENT_RULE: WebhookRule = { operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], scope: 'Namespaced' };

/** A webhook served by the fake, with the defaults loadWebhookConfigs gives. */
function fakeHook(name: string, path: string, over: Partial<MutatingWebhook> = {}): MutatingWebhook {
  return {
    name,
    clientConfig: { service: { namespace: 'webhooks', name: 'fake', port: 443, path }, caBundle: fake.caBundle },
    rules: [DEPLOYMENT_RULE],
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    namespaceSelector: {},
    objectSelector: {},
    sideEffects: 'None',
    // The v1 default.
    timeoutSeconds: 10,
    admissionReviewVersions: ['v1'],
    matchConditions: [],
    reinvocationPolicy: 'Never',
    ...over,
  };
}

function mutatingConfig(name: string, webhooks: MutatingWebhook[]): MutatingWebhookConfiguration {
  return { kind: 'MutatingWebhookConfiguration', metadata: { name }, webhooks };
}

function validatingConfig(name: string, webhooks: ValidatingWebhook[]): ValidatingWebhookConfiguration {
  // fakeHook builds mutating webhooks; a validating one has no reinvocationPolicy.
  const strip = (w: ValidatingWebhook): ValidatingWebhook => Object.fromEntries(Object.entries(w).filter(([k]) => k !== 'reinvocationPolicy')) as ValidatingWebhook;
  return { kind: 'ValidatingWebhookConfiguration', metadata: { name }, webhooks: webhooks.map(strip) };
}

/** An allowing answer for `review` with a JSON patch. */
function patchAnswer(review: Any, ops: unknown[]): Any {
  return { body: { ...ENVELOPE, response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') } } };
}

describe('webhook configurations from the `tracegate certs --kustomize` overlay', { timeout: HANG_GUARD_MS }, () => {
  it('loads both configurations, every webhook trusting the overlay CA, with the v1 defaults', async () => {
    const caPem = await readFile(join(overlayDir, 'ca.crt'), 'utf8');
    assert.deepEqual(configs.mutating.map((c) => c.metadata.name), ['tracegate']);
    assert.deepEqual(configs.validating.map((c) => c.metadata.name), ['tracegate']);
    const hooks = [...configs.mutating[0]!.webhooks, ...configs.validating[0]!.webhooks];
    assert.deepEqual(hooks.map((h) => [h.name, h.failurePolicy, h.timeoutSeconds, h.clientConfig.service?.path]), [
      ['mutate.tracegate.io', 'Ignore', 3, '/mutate'],
      ['validate.tracegate.io', 'Fail', 5, '/validate'],
      ['scale.validate.tracegate.io', 'Ignore', 2, '/validate'],
      ['delete.validate.tracegate.io', 'Ignore', 2, '/validate'],
    ]);
    for (const h of hooks) {
      assert.equal(Buffer.from(h.clientConfig.caBundle ?? '', 'base64').toString('utf8'), caPem, `${h.name} trusts the overlay CA`);
      assert.equal(h.matchPolicy, 'Equivalent');
      // Only the deletion webhook writes something (an Event), never on dry run.
      assert.equal(h.sideEffects, h.name === 'delete.validate.tracegate.io' ? 'NoneOnDryRun' : 'None');
      assert.deepEqual(h.objectSelector, {});
    }
    assert.equal(configs.mutating[0]!.webhooks[0]!.reinvocationPolicy, 'IfNeeded');
  });

  it('fills in the defaults the manifests leave out, and finds no caBundle in the bare manifests', async () => {
    const bare = loadWebhookConfigs(await createKubectlLocal(tools).kustomize(join(REPO_ROOT, 'manifests')));
    assert.equal(bare.mutating[0]!.webhooks[0]!.clientConfig.caBundle, undefined);
    const minimal = loadWebhookConfigs(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: { name: minimal }
webhooks:
  - name: v.example.com
    admissionReviewVersions: [v1]
    sideEffects: None
    clientConfig: { service: { name: s, namespace: n } }
    rules: [{ operations: ["*"], apiGroups: ["*"], apiVersions: ["*"], resources: ["*/*"] }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: ignored }
`);
    const w = minimal.validating[0]!.webhooks[0]!;
    assert.equal(minimal.mutating.length, 0);
    assert.deepEqual(
      { failurePolicy: w.failurePolicy, matchPolicy: w.matchPolicy, timeoutSeconds: w.timeoutSeconds, port: w.clientConfig.service?.port, path: w.clientConfig.service?.path, scope: w.rules[0]?.scope },
      { failurePolicy: 'Fail', matchPolicy: 'Equivalent', timeoutSeconds: 10, port: 443, path: undefined, scope: '*' },
    );
    assert.deepEqual(w.namespaceSelector, {});
  });
});

describe('matching, as ShouldCallHook decides', () => {
  const deployments = { group: 'apps', version: 'v1', resource: 'deployments' };
  const deploymentKind = { group: 'apps', version: 'v1', kind: 'Deployment' };
  const rule = (resources: string[], over: Partial<WebhookRule> = {}): WebhookRule => ({ ...DEPLOYMENT_RULE, resources, scope: '*', ...over });
  const matches = (r: WebhookRule, sub = '', op = 'UPDATE', ns = TENANT_NS) => ruleMatches(r, op, deployments, sub, ns);

  it('tells deployments from deployments/scale; `res/*` and `*/sub` reach subresources, a bare `*` does not', () => {
    const cases: [string[], string, boolean][] = [
      [['deployments'], '', true],
      [['deployments'], 'scale', false],
      [['deployments/scale'], 'scale', true],
      [['deployments/scale'], '', false],
      [['deployments/scale'], 'status', false],
      // rules.go: the `*` subresource also matches the main resource.
      [['deployments/*'], '', true],
      [['deployments/*'], 'scale', true],
      [['*/scale'], 'scale', true],
      [['*/scale'], '', false],
      [['*'], '', true],
      [['*'], 'scale', false],
      [['*/*'], 'status', true],
      [['replicasets', 'deployments'], '', true],
      [['replicasets/*'], 'scale', false],
    ];
    for (const [resources, sub, want] of cases) assert.equal(matches(rule(resources), sub), want, `${resources.join(',')} vs deployments${sub ? `/${sub}` : ''}`);
  });

  it('matches operations (including *), groups, versions and scope', () => {
    assert.equal(matches(rule(['deployments'], { operations: ['*'] }), '', 'DELETE'), true);
    assert.equal(matches(rule(['deployments'], { operations: ['CREATE'] }), '', 'UPDATE'), false);
    assert.equal(matches(rule(['deployments'], { apiGroups: ['*'], apiVersions: ['*'] })), true);
    assert.equal(matches(rule(['deployments'], { apiGroups: ['extensions'] })), false);
    assert.equal(matches(rule(['deployments'], { apiVersions: ['v1beta2'] })), false);
    assert.equal(matches(rule(['deployments'], { scope: 'Namespaced' })), true);
    assert.equal(matches(rule(['deployments'], { scope: 'Cluster' })), false);
    assert.equal(matches(rule(['deployments'], { scope: 'Namespaced' }), '', 'CREATE', ''), false, 'a request without a namespace is cluster-scoped');
    const namespaces = { group: '', version: 'v1', resource: 'namespaces' };
    assert.equal(ruleMatches({ ...rule(['namespaces']), apiGroups: [''], scope: 'Cluster' }, 'CREATE', namespaces, '', 'team-x'), true, 'a Namespace is cluster-scoped even though the request names it');
  });

  const attrs = (over: Partial<MatchAttributes> = {}): MatchAttributes => ({
    operation: 'UPDATE',
    resource: deployments,
    subResource: '',
    kind: deploymentKind,
    namespace: TENANT_NS,
    name: 'web',
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    dryRun: false,
    options: null,
    object: { metadata: { labels: { app: 'web' } } },
    oldObject: { metadata: { labels: { app: 'web', tier: 'old' } } },
    ...over,
  });
  const labelsByNs: Record<string, Record<string, string>> = { [TENANT_NS]: { 'tracegate.io/tenant': TENANT_NS }, 'kube-system': {}, tracegate: {} };
  const ctx: MatchContext = { namespaceLabels: (ns) => labelsByNs[ns], equivalentResources: () => [], conditions: (h) => compileWebhookConditions(h) };
  const gateValidate = () => configs.validating[0]!.webhooks[0]!;
  const hook = (over: Partial<ValidatingWebhook>): ValidatingWebhook => ({ ...gateValidate(), ...over });

  it('matchPolicy: Exact and Equivalent coincide for apps/v1; Equivalent follows the equivalent resources when there are some', () => {
    const v1beta2 = { ...DEPLOYMENT_RULE, apiVersions: ['v1beta2'] };
    for (const matchPolicy of ['Exact', 'Equivalent'] as const) {
      assert.deepEqual(shouldCallHook(hook({ matchPolicy }), attrs(), ctx), { call: { resource: deployments, kind: deploymentKind, subResource: '' } }, matchPolicy);
      assert.deepEqual(shouldCallHook(hook({ matchPolicy, rules: [v1beta2] }), attrs(), ctx), { skip: 'rules' }, `${matchPolicy}, 1.35 serves no apps/v1beta2`);
    }
    // A cluster that still served apps/v1beta2 (before 1.16): the EquivalentResourceMapper lists it.
    const older: MatchContext = {
      ...ctx,
      equivalentResources: () => [
        { resource: deployments, kind: deploymentKind },
        { resource: { ...deployments, version: 'v1beta2' }, kind: { ...deploymentKind, version: 'v1beta2' } },
      ],
    };
    assert.deepEqual(shouldCallHook(hook({ matchPolicy: 'Exact', rules: [v1beta2] }), attrs(), older), { skip: 'rules' });
    assert.deepEqual(shouldCallHook(hook({ matchPolicy: 'Equivalent', rules: [v1beta2] }), attrs(), older), {
      call: { resource: { ...deployments, version: 'v1beta2' }, kind: { ...deploymentKind, version: 'v1beta2' }, subResource: '' },
    });
  });

  it("the manifests' namespaceSelector skips kube-system, kube-node-lease and tracegate by their automatic name label", () => {
    assert.ok('call' in shouldCallHook(gateValidate(), attrs(), ctx), 'a tenant namespace is judged');
    // labelsByNs has no kubernetes.io/metadata.name: the apiserver's own label is what excludes them.
    for (const ns of ['kube-system', 'tracegate']) assert.deepEqual(shouldCallHook(gateValidate(), attrs({ namespace: ns }), ctx), { skip: 'namespaceSelector' }, ns);
    const unknown = shouldCallHook(gateValidate(), attrs({ namespace: 'ghost' }), ctx);
    assert.deepEqual(unknown, { error: { code: 404, reason: 'NotFound', message: 'namespaces "ghost" not found' } }, 'an unknown namespace is a 404 once a rule matches');
    assert.deepEqual(shouldCallHook(gateValidate(), attrs({ namespace: 'ghost', operation: 'DELETE' }), ctx), { skip: 'rules' }, 'but no error when no rule matches');
    assert.ok('call' in shouldCallHook(hook({ rules: [{ ...DEPLOYMENT_RULE, scope: '*' }] }), attrs({ namespace: '' }), ctx), 'cluster-scoped requests ignore namespaceSelector');
  });

  it('objectSelector matches object OR oldObject; a Scale (no labels) and a null object match no label-requiring selector', () => {
    const tier = hook({ objectSelector: { matchLabels: { tier: 'old' } } });
    assert.ok('call' in shouldCallHook(tier, attrs(), ctx), 'the old object carries the label');
    assert.deepEqual(shouldCallHook(tier, attrs({ oldObject: null }), ctx), { skip: 'objectSelector' });
    const scale = attrs({ subResource: 'scale', kind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, object: { kind: 'Scale', metadata: { name: 'web' } }, oldObject: { kind: 'Scale', metadata: { name: 'web' } } });
    const scaleRule = [{ ...DEPLOYMENT_RULE, resources: ['deployments/scale'] }];
    assert.deepEqual(shouldCallHook(hook({ rules: scaleRule, objectSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }), scale, ctx), { skip: 'objectSelector' });
    // Empty labels satisfy a NotIn: the apiserver's selector semantics, not a special case for Scale.
    assert.ok('call' in shouldCallHook(hook({ rules: scaleRule, objectSelector: { matchExpressions: [{ key: 'skip', operator: 'NotIn', values: ['true'] }] } }), scale, ctx));
    assert.deepEqual(shouldCallHook(hook({ rules: [{ ...DEPLOYMENT_RULE, operations: ['DELETE'] }], objectSelector: { matchExpressions: [{ key: 'skip', operator: 'DoesNotExist' }] } }), attrs({ operation: 'DELETE', object: null, oldObject: null }), ctx), { skip: 'objectSelector' });
    const broken = shouldCallHook(hook({ objectSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }), attrs(), ctx);
    assert.ok('error' in broken && broken.error.code === 500 && broken.error.message.startsWith('Internal error occurred: '), JSON.stringify(broken));
  });
});

describe('the real gate behind the chain, driven by the real kubectl', { timeout: HANG_GUARD_MS }, () => {
  it('`kubectl create deployment` in a tenant namespace: mutated, then denied by validate.tracegate.io, exactly as kubectl prints it', async () => {
    const res = await kubectl(['create', 'deployment', 'web', '--image=registry.example.com/team-a/web:1.4.2', '-n', TENANT_NS]);
    assert.equal(res.code, 1);
    assert.deepEqual(chain.lastCalls.map((c) => [c.stage, c.webhook, c.round, c.url, c.outcome]), [
      ['mutating', 'mutate.tracegate.io', 0, 'https://tracegate.tracegate.svc:443/mutate?timeout=3s', 'patched'],
      ['validating', 'validate.tracegate.io', 0, 'https://tracegate.tracegate.svc:443/validate?timeout=5s', 'denied'],
    ]);
    const [mutation, validation] = chain.lastCalls as [WebhookCall, WebhookCall];
    const gateMessage = (validation.response as Any)['response']['status']['message'] as string;
    assert.match(gateMessage, /tracegate\.io\/commit/, 'the gate says what to add');
    assert.equal(res.stderr, `error: failed to create deployment: admission webhook "validate.tracegate.io" denied the request: ${gateMessage}\n`);
    assert.equal(res.stdout, '');
    assert.equal(stored(TENANT_NS, 'web'), undefined);

    assert.notEqual(mutation.uid, validation.uid, 'a fresh uid per call');
    for (const c of [mutation, validation]) assert.equal(c.review?.['request']['uid'], c.uid);
    // The validating webhook judges the mutated object, as the registry completed it.
    const validated = validation.review?.['request']['object'];
    assert.equal(validated.metadata.annotations['tracegate.io/tenant'], TENANT_NS);
    assert.match(validated.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(validated.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(validated.metadata.generation, 1);
    const mutatedIn = mutation.review?.['request']['object'];
    for (const f of ['uid', 'creationTimestamp', 'generation', 'resourceVersion']) assert.equal(mutatedIn.metadata[f], undefined, `no ${f} at the mutating stage`);
    assert.equal(mutatedIn.metadata.annotations, undefined, 'kubectl create deployment sends no annotations');
    assert.equal(chain.last?.auditAnnotations[MUTATION_KEY], JSON.stringify({ configuration: 'tracegate', webhook: 'mutate.tracegate.io', mutated: true }));
    assert.equal(chain.last?.auditAnnotations['validate.tracegate.io/decision'], 'deny');
  });

  it('a compliant `kubectl apply -f` is stored with the gate\'s mutation; the reviews carry every §2 field', async () => {
    const res = await kubectlOk(['apply', '-f', '-'], compliant('api'));
    assert.equal(res.stdout, 'deployment.apps/api created\n');
    const obj = stored(TENANT_NS, 'api');
    assert.ok(obj);
    const annotations = obj['metadata']['annotations'] as Record<string, string>;
    assert.equal(annotations['tracegate.io/tenant'], TENANT_NS);
    // `<id>.<template hash>.<key id>.<MAC>`; the audit annotation names the change without its MAC.
    assert.match(annotations['tracegate.io/change-id'] ?? '', /^[0-9a-z]+\.[0-9a-f]{16}\.[a-z0-9-]+\.[A-Za-z0-9_-]{22}$/);
    assert.equal(annotations['tracegate.io/changed-by'], 'admin');
    assert.equal(annotations['tracegate.io/commit'], '3f2a9c1');
    assert.equal(annotations['tracegate.io/approver'], 'bob@example.com');
    assert.equal(annotations['tracegate.io/change-id']!.split('.').slice(0, 2).join('.'), chain.last?.auditAnnotations['mutate.tracegate.io/change-id']);
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate.tracegate.io', 'patched'], ['validate.tracegate.io', 'allowed']]);

    const request = chain.lastCalls[0]!.review?.['request'];
    assert.deepEqual(Object.keys(chain.lastCalls[0]!.review ?? {}), ['kind', 'apiVersion', 'request']);
    assert.deepEqual(
      { ...request, uid: undefined, object: undefined },
      {
        uid: undefined,
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
        name: 'api',
        namespace: TENANT_NS,
        operation: 'CREATE',
        userInfo: { username: 'admin', groups: ['system:masters', 'system:authenticated'] },
        oldObject: null,
        dryRun: false,
        options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', fieldValidation: 'Strict' },
        object: undefined,
      },
    );
  });

  it('an UPDATE shows validating webhooks the next generation when annotations change', async () => {
    const before = stored(TENANT_NS, 'api');
    assert.ok(before, 'created by the previous test');
    // Not a pod-template change: the gate lets metadata edits through.
    await kubectlOk(['annotate', 'deployment', 'api', '-n', TENANT_NS, 'example.com/owner=web-team']);
    assert.equal(stored(TENANT_NS, 'api')?.['metadata']['generation'], before['metadata']['generation'] + 1);
    const validation = callsOf('validating')[0];
    assert.ok(validation, 'validate.tracegate.io was called');
    assert.equal(validation.review?.['request']['operation'], 'UPDATE');
    assert.equal(validation.review?.['request']['oldObject']['metadata']['generation'], before['metadata']['generation']);
    assert.equal(validation.review?.['request']['object']['metadata']['generation'], before['metadata']['generation'] + 1);
    assert.equal(callsOf('mutating')[0]?.review?.['request']['object']['metadata']['generation'], before['metadata']['generation'], 'the old value at the mutating stage');
  });

  it('`kubectl scale` is matched by scale.validate.tracegate.io only, which sees a Scale and allows it', async () => {
    const res = await kubectlOk(['scale', 'deployment', 'api', '-n', TENANT_NS, '--replicas=4']);
    assert.equal(res.stdout, 'deployment.apps/api scaled\n');
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.timeout, c.outcome]), [['scale.validate.tracegate.io', '2s', 'allowed']]);
    assert.deepEqual(chain.last?.skipped, [
      { stage: 'mutating', webhook: 'mutate.tracegate.io', reason: 'rules' },
      { stage: 'validating', webhook: 'validate.tracegate.io', reason: 'rules' },
      { stage: 'validating', webhook: 'delete.validate.tracegate.io', reason: 'rules' },
    ]);
    const request = chain.lastCalls[0]!.review?.['request'];
    assert.deepEqual([request.kind, request.resource, request.subResource, request.requestSubResource], [
      { group: 'autoscaling', version: 'v1', kind: 'Scale' },
      { group: 'apps', version: 'v1', resource: 'deployments' },
      'scale',
      'scale',
    ]);
    assert.equal(request.object.spec.replicas, 4);
    assert.equal(request.options.fieldManager, undefined, 'kubectl scale sends no fieldManager');
    assert.equal(stored(TENANT_NS, 'api')?.['spec']['replicas'], 4);
  });

  it('kube-system and the tracegate namespace are never sent to the gate', async () => {
    const decisions = await gateDecisions();
    for (const ns of ['kube-system', 'tracegate']) {
      await kubectlOk(['create', 'deployment', 'unvetted', '--image=nginx', '-n', ns]);
      assert.equal(chain.last?.request.namespace, ns);
      assert.deepEqual(chain.lastCalls, [], `nothing called for ${ns}`);
      assert.deepEqual(new Set(chain.last?.skipped.map((s) => s.reason)), new Set(['namespaceSelector']));
      assert.ok(stored(ns, 'unvetted'), `created in ${ns} without the gate`);
    }
    assert.equal(await gateDecisions(), decisions, 'the gate counted no decision');
  });

  it('`--dry-run=server` reaches the webhooks with dryRun set and stores nothing', async () => {
    const res = await kubectlOk(['apply', '--dry-run=server', '-f', '-'], compliant('dry'));
    assert.equal(res.stdout, 'deployment.apps/dry created (server dry run)\n');
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.review?.['request']['dryRun'], c.review?.['request']['options']['dryRun']]), [
      ['mutate.tracegate.io', true, ['All']],
      ['validate.tracegate.io', true, ['All']],
    ]);
    assert.equal(stored(TENANT_NS, 'dry'), undefined);
  });
});

describe('when a webhook cannot be trusted, reached or understood', { timeout: HANG_GUARD_MS }, () => {
  let saved: AdmissionChain;
  before(() => {
    saved = chain;
  });
  afterEach(() => {
    if (chain !== saved) chain.close();
    chain = saved;
    server.setAdmission(saved.hook);
    fake.setHandler(allowAll);
  });

  it('a caBundle that did not sign the gate: validate (Fail) fails the request with x509, mutate (Ignore) fails open', async () => {
    const stranger = strangerCa();
    useChain(mapConfigs((w) => (w.clientConfig.caBundle = stranger.caBundle)));
    const res = await kubectl(['apply', '-f', '-'], compliant('untrusted'));
    const x509 = 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "validate.tracegate.io": failed to call webhook: Post "https://tracegate.tracegate.svc:443/validate?timeout=5s": ${x509}\n`,
    );
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate.tracegate.io', 'failed-open'], ['validate.tracegate.io', 'failed-closed']]);
    assert.equal(chain.last?.auditAnnotations[FAILED_OPEN_MUTATION], 'mutate.tracegate.io');
    assert.ok(chainLog.some((l) => l.startsWith('Failed calling webhook, failing open mutate.tracegate.io: ') && l.endsWith(x509)));
    assert.equal(stored(TENANT_NS, 'untrusted'), undefined);

    // Scaling goes on: its webhook is observe-only (Ignore).
    await kubectlOk(['scale', 'deployment', 'api', '-n', TENANT_NS, '--replicas=3']);
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['scale.validate.tracegate.io', 'failed-open']]);
    assert.equal(chain.last?.auditAnnotations[FAILED_OPEN_VALIDATING], 'scale.validate.tracegate.io');
    assert.equal(stored(TENANT_NS, 'api')?.['spec']['replicas'], 3);
  });

  it('a caBundle without a certificate fails before any connection', async () => {
    useChain(mapConfigs((w) => (w.clientConfig.caBundle = Buffer.from('not a certificate').toString('base64'))));
    const res = await kubectl(['apply', '-f', '-'], compliant('nobundle'));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /failed calling webhook "validate\.tracegate\.io": could not get REST client: unable to load root certificates: unable to parse bytes as PEM block\n$/);
    assert.equal(chain.lastCalls[1]?.url, '', 'never dialled');
  });

  it('a webhook that never answers: the call is aborted at timeoutSeconds and failurePolicy decides', async () => {
    fake.setHandler(() => 'hang');
    // One second each: the shortest timeout the API allows.
    const mutate = fakeHook('slow-mutate.example.com', '/m', { failurePolicy: 'Ignore', timeoutSeconds: 1 });
    const validate = fakeHook('slow-validate.example.com', '/v', { failurePolicy: 'Fail', timeoutSeconds: 1 });
    useChain({ mutating: [mutatingConfig('slow', [mutate])], validating: [validatingConfig('slow', [validate])] });
    const res = await kubectl(['apply', '-f', '-'], compliant('slow'));
    assert.equal(res.code, 1);
    assert.equal(
      res.stderr,
      'Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "slow-validate.example.com": failed to call webhook: Post "https://fake.webhooks.svc:443/v?timeout=1s": context deadline exceeded\n',
    );
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.timeout, c.outcome]), [
      ['slow-mutate.example.com', '1s', 'failed-open'],
      ['slow-validate.example.com', '1s', 'failed-closed'],
    ]);
    assert.equal(chain.lastCalls[0]?.error, 'failed calling webhook "slow-mutate.example.com": failed to call webhook: Post "https://fake.webhooks.svc:443/m?timeout=1s": context deadline exceeded');
    assert.deepEqual(fake.requests.slice(-2).map((r) => r.url), ['/m?timeout=1s', '/v?timeout=1s']);
  });

  it('the request deadline caps every webhook timeout; past it, even a failed-open call ends the request with 504', async () => {
    fake.setHandler(() => 'hang');
    const slow = mutatingConfig('slow', [fakeHook('slow.example.com', '/m', { failurePolicy: 'Ignore', timeoutSeconds: 10 })]);
    // Below one second, so ?timeout= rounds up to 1s although the webhook allows 10.
    const direct = createAdmissionChain({ mutating: [slow], validating: [], resolveService, namespaceLabels, requestTimeoutMs: 800 });
    try {
      const result = await direct.hook({
        operation: 'CREATE',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        namespace: TENANT_NS,
        name: 'direct',
        object: JSON.parse(compliant('direct')),
        oldObject: null,
        userInfo: { username: 'alice', groups: ['system:authenticated'] },
        dryRun: false,
        options: null,
      });
      assert.deepEqual(result, { allowed: false, status: { code: 504, reason: 'Timeout', message: 'Timeout: request did not complete within requested timeout' }, warnings: [] });
      assert.deepEqual(direct.lastCalls.map((c) => [c.timeout, c.outcome]), [['1s', 'failed-open']]);
    } finally {
      direct.close();
    }
  });

  it('a 503 with a numeric Retry-After is sent again, as client-go retries it', async () => {
    let answered = 0;
    fake.setHandler((r) => (++answered === 1 ? { status: 503, headers: { 'Retry-After': '0' }, raw: 'busy' } : allowAll(r, '')));
    useChain({ mutating: [], validating: [validatingConfig('busy', [fakeHook('busy.example.com', '/v')])] });
    await kubectlOk(['apply', '-f', '-'], compliant('busy'));
    assert.equal(answered, 2);
    const [first, second] = fake.requests.slice(-2);
    assert.equal(first?.review.request.uid, second?.review.request.uid, 'the same review, sent again');
    assert.equal(chain.lastCalls[0]?.outcome, 'allowed');
  });

  it('calls over HTTPS with HTTP/1.1, the Service name as TLS server name, and the apiserver\'s headers', async () => {
    useChain({ mutating: [], validating: [validatingConfig('plain', [fakeHook('plain.example.com', '/check')])] });
    await kubectlOk(['apply', '-f', '-'], compliant('plain'));
    const seen = fake.requests[fake.requests.length - 1];
    assert.ok(seen);
    assert.deepEqual([seen.method, seen.url, seen.servername, seen.alpn], ['POST', '/check?timeout=10s', FAKE_DNS, 'http/1.1']);
    assert.deepEqual([seen.headers['host'], seen.headers['content-type'], seen.headers['accept'], seen.headers['user-agent']], [
      `${FAKE_DNS}:443`,
      'application/json',
      'application/json, */*',
      'kube-apiserver-admission',
    ]);
    assert.equal(seen.review.request.uid, chain.lastCalls[0]?.uid);
  });

  it('a patch that adds under a missing map is a 500 even with failurePolicy Ignore', async () => {
    fake.setHandler((review) => patchAnswer(review, [{ op: 'add', path: '/metadata/annotations/example.com~1team', value: 'web' }]));
    useChain({ mutating: [mutatingConfig('careless', [fakeHook('careless.example.com', '/m', { failurePolicy: 'Ignore' })])], validating: [] });
    const res = await kubectl(['create', 'deployment', 'careless', '--image=registry.example.com/team-a/web:1.4.2', '-n', TENANT_NS]);
    assert.equal(res.code, 1);
    assert.equal(res.stderr, 'error: failed to create deployment: Internal error occurred: add operation does not apply: doc is missing path: "/metadata/annotations/example.com~1team": missing value\n');
    assert.equal(chain.lastCalls[0]?.outcome, 'patch-error');
    assert.equal(chain.last?.auditAnnotations[FAILED_OPEN_MUTATION], undefined, 'not a failed call: nothing fails open');
    assert.equal(stored(TENANT_NS, 'careless'), undefined);

    // The same patch applies once the map exists (kubectl apply writes last-applied-configuration).
    await kubectlOk(['apply', '-f', '-'], compliant('careful'));
    assert.equal(stored(TENANT_NS, 'careful')?.['metadata']['annotations']['example.com/team'], 'web');
    assert.equal(chain.lastCalls[0]?.outcome, 'patched');
  });

  it('a wrong envelope or uid is a failed call: Fail ends the request with 500, Ignore fails open', async () => {
    const answers: [string, FakeHandler, (uid: string) => string][] = [
      ['no apiVersion/kind', (r) => ({ body: { response: { uid: r.request.uid, allowed: true } } }), () => 'expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got /, Kind='],
      ['v1beta1 envelope', (r) => ({ body: { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: r.request.uid, allowed: true } } }), () => 'expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, Kind=AdmissionReview'],
      ['wrong uid', () => ({ body: { ...ENVELOPE, response: { uid: 'not-yours', allowed: true } } }), (uid) => `expected response.uid="${uid}", got "not-yours"`],
      ['no response', () => ({ body: { ...ENVELOPE } }), () => 'webhook response was absent'],
    ];
    for (const [what, handler, reason] of answers) {
      fake.setHandler(handler);
      useChain({ mutating: [], validating: [validatingConfig('sloppy', [fakeHook('sloppy.example.com', '/v')])] });
      const res = await kubectl(['apply', '-f', '-'], compliant('sloppy'));
      const uid = chain.lastCalls[0]?.uid ?? '';
      assert.equal(res.code, 1, what);
      assert.equal(
        res.stderr,
        `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "sloppy.example.com": received invalid webhook response: ${reason(uid)}\n`,
        what,
      );
      chain.close();
    }
    useChain({ mutating: [], validating: [validatingConfig('sloppy', [fakeHook('sloppy.example.com', '/v', { failurePolicy: 'Ignore' })])] });
    await kubectlOk(['apply', '-f', '-'], compliant('sloppy'));
    assert.equal(chain.lastCalls[0]?.outcome, 'failed-open');
    assert.equal(chain.last?.auditAnnotations[FAILED_OPEN_VALIDATING], 'sloppy.example.com');
    assert.ok(stored(TENANT_NS, 'sloppy'));
  });

  it('patch rules: validating webhooks may not patch; patch and patchType go together; an undecodable patch is a failed call', async () => {
    const ops = Buffer.from(JSON.stringify([{ op: 'add', path: '/metadata/labels/x', value: 'y' }])).toString('base64');
    const cases: [string, 'm' | 'v', Any, string][] = [
      ['validating with a patch', 'v', { patch: ops, patchType: 'JSONPatch' }, 'received invalid webhook response: validating webhook may not return response.patch'],
      ['patch without patchType', 'm', { patch: ops }, 'received invalid webhook response: webhook returned response.patch but not response.patchType'],
      ['patchType without patch', 'm', { patchType: 'JSONPatch' }, 'received invalid webhook response: webhook returned response.patchType but not response.patch'],
      ['a patch encoded twice', 'm', { patch: Buffer.from(JSON.stringify(ops)).toString('base64'), patchType: 'JSONPatch' }, 'received undecodable patch in webhook response: json: cannot unmarshal string into Go value of type jsonpatch.Patch'],
      ['a merge patch', 'm', { patch: ops, patchType: 'MergePatch' }, 'unsupported patch type "MergePatch"'],
      ['patch not base64', 'm', { patch: '[{"op":"add"}]', patchType: 'JSONPatch' }, 'failed to call webhook: illegal base64 data at input byte 0'],
    ];
    for (const [what, stage, fields, reason] of cases) {
      fake.setHandler((r) => ({ body: { ...ENVELOPE, response: { uid: r.request.uid, allowed: true, ...fields } } }));
      const hook = fakeHook('patchy.example.com', `/${stage}`);
      useChain(stage === 'm' ? { mutating: [mutatingConfig('patchy', [hook])], validating: [] } : { mutating: [], validating: [validatingConfig('patchy', [hook])] });
      const res = await kubectl(['apply', '-f', '-'], compliant('patchy'));
      assert.equal(res.code, 1, what);
      assert.equal(res.stderr, `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "patchy.example.com": ${reason}\n`, what);
      chain.close();
    }
  });

  it('a non-2xx answer is a failed call, not a denial', async () => {
    const cases: [Exclude<ReturnType<FakeHandler>, 'hang'>, string][] = [
      [{ status: 500, headers: { 'Content-Type': 'text/plain' }, raw: 'boom' }, 'an error on the server ("boom") has prevented the request from succeeding'],
      [{ status: 500, raw: '{"oops":true}' }, 'an error on the server ("unknown") has prevented the request from succeeding'],
      [{ status: 404, raw: 'no such path' }, 'the server could not find the requested resource'],
      [{ status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'denied by a proxy', code: 403 } }, 'denied by a proxy'],
    ];
    for (const [answer, reason] of cases) {
      fake.setHandler(() => answer);
      useChain({ mutating: [], validating: [validatingConfig('broken', [fakeHook('broken.example.com', '/v')])] });
      const res = await kubectl(['apply', '-f', '-'], compliant('broken'));
      assert.equal(res.stderr, `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "broken.example.com": failed to call webhook: ${reason}\n`, reason);
      chain.close();
    }
  });

  it('denials: the webhook\'s code (400 when below), its reason, and "without explanation" when it gives no message', async () => {
    const cases: [Any, string][] = [
      [{ code: 200 }, 'Error from server: error when creating "STDIN": admission webhook "judge.example.com" denied the request without explanation\n'],
      // kubectl words the Invalid reason its own way.
      [{ code: 422, reason: 'Invalid', message: 'replicas must be odd' }, 'The request is invalid: error when creating "STDIN": admission webhook "judge.example.com" denied the request: replicas must be odd\n'],
      [{ reason: 'NoReason' }, 'Error from server (NoReason): error when creating "STDIN": admission webhook "judge.example.com" denied the request: NoReason\n'],
    ];
    for (const [status, stderr] of cases) {
      fake.setHandler((r) => ({ body: { ...ENVELOPE, response: { uid: r.request.uid, allowed: false, status } } }));
      useChain({ mutating: [], validating: [validatingConfig('judge', [fakeHook('judge.example.com', '/v')])] });
      const res = await kubectl(['apply', '-f', '-'], compliant('judged'));
      assert.equal(res.stderr, stderr);
      assert.equal(chain.lastCalls[0]?.outcome, 'denied');
      chain.close();
    }
    const last = server.requests.filter((r) => r.method === 'POST').at(-1);
    assert.equal(last?.status, 400, 'a code below 400 is raised to 400');
  });

  it('warnings reach kubectl as `Warning: …`; one with a control character is dropped, duplicates once', async () => {
    fake.setHandler((r) => ({ body: { ...ENVELOPE, response: { uid: r.request.uid, allowed: true, warnings: ['image is old', 'two\nlines', 'image is old', 'tab\there'] } } }));
    const warner = fakeHook('warner.example.com', '/w');
    useChain({ mutating: [mutatingConfig('warner', [warner])], validating: [validatingConfig('warner', [warner])] });
    const res = await kubectlOk(['apply', '-f', '-'], compliant('warned'));
    assert.equal(res.stderr, 'Warning: image is old\n');
    assert.deepEqual(chain.last?.warnings, ['image is old']);
  });

  it('dry run: a webhook with side effects fails the request with 400 without being called; None is called', async () => {
    const before = fake.requests.length;
    useChain({ mutating: [], validating: [validatingConfig('effects', [fakeHook('effects.example.com', '/v', { sideEffects: 'Some' })])] });
    const res = await kubectl(['apply', '--dry-run=server', '-f', '-'], compliant('effects'));
    assert.equal(res.stderr, 'Error from server (BadRequest): error when creating "STDIN": admission webhook "effects.example.com" does not support dry run\n');
    assert.equal(fake.requests.length, before, 'not called');
    assert.equal(chain.lastCalls[0]?.outcome, 'dry-run-unsupported');
    chain.close();
    useChain({ mutating: [], validating: [validatingConfig('effects', [fakeHook('effects.example.com', '/v', { sideEffects: 'NoneOnDryRun' })])] });
    await kubectlOk(['apply', '--dry-run=server', '-f', '-'], compliant('effects'));
    assert.equal(fake.requests.length, before + 1);
    assert.equal(fake.requests.at(-1)?.review.request.dryRun, true);
  });

  it('reinvocation: an IfNeeded webhook is called again (round 1) when a later webhook changed the object; Never is not', async () => {
    const stamp = (key: string): FakeHandler => (r) => {
      const annotations = r.request.object.metadata.annotations ?? {};
      if (annotations[key] !== undefined) return allowAll(r, '');
      return patchAnswer(r, [{ op: 'add', path: `/metadata/annotations/${key.replace('/', '~1')}`, value: 'yes' }]);
    };
    fake.setHandler((r, path) => stamp(path === '/a' ? 'example.com/a' : path === '/b' ? 'example.com/b' : 'example.com/c')(r, path));
    // Configurations run in name order, not list order.
    useChain({
      mutating: [
        mutatingConfig('zz-last', [fakeHook('c.example.com', '/c')]),
        mutatingConfig('aa-first', [fakeHook('a.example.com', '/a', { reinvocationPolicy: 'IfNeeded' }), fakeHook('b.example.com', '/b')]),
      ],
      validating: [],
    });
    await kubectlOk(['apply', '-f', '-'], compliant('reinvoked'));
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.round, c.index, c.outcome, c.mutated]), [
      ['a.example.com', 0, 0, 'patched', true],
      ['b.example.com', 0, 1, 'patched', true],
      ['c.example.com', 0, 2, 'patched', true],
      ['a.example.com', 1, 0, 'allowed', false],
    ]);
    const annotations = stored(TENANT_NS, 'reinvoked')?.['metadata']['annotations'];
    assert.deepEqual([annotations['example.com/a'], annotations['example.com/b'], annotations['example.com/c']], ['yes', 'yes', 'yes']);
    assert.equal(chain.last?.auditAnnotations['mutation.webhook.admission.k8s.io/round_1_index_0'], JSON.stringify({ configuration: 'aa-first', webhook: 'a.example.com', mutated: false }));
    assert.ok(chain.last?.auditAnnotations['patch.webhook.admission.k8s.io/round_0_index_2']);
    const uids = chain.lastCalls.map((c) => c.uid);
    assert.equal(new Set(uids).size, uids.length, 'every call, reinvocations too, has its own uid');

    // Nothing changed after a.example.com: no round 1.
    fake.setHandler(allowAll);
    await kubectlOk(['apply', '-f', '-'], compliant('quiet'));
    assert.deepEqual(chain.lastCalls.map((c) => c.round), [0, 0, 0]);
  });

  it('with the gate behind mutate.tracegate.io a later webhook\'s change re-runs the gate, which stays idempotent', async () => {
    fake.setHandler((r) => (r.request.object.metadata.labels?.['example.com/team'] ? allowAll(r, '') : patchAnswer(r, [{ op: 'add', path: '/metadata/labels/example.com~1team', value: 'web' }])));
    useChain({ mutating: [...configs.mutating, mutatingConfig('zz-labeller', [fakeHook('labeller.example.com', '/l')])], validating: configs.validating });
    await kubectlOk(['apply', '-f', '-'], compliant('labelled', TENANT_NS, { labels: { app: 'labelled' } }));
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.round, c.outcome]), [
      ['mutate.tracegate.io', 0, 'patched'],
      ['labeller.example.com', 0, 'patched'],
      ['mutate.tracegate.io', 1, 'allowed'],
      ['validate.tracegate.io', 0, 'allowed'],
    ]);
    assert.equal(stored(TENANT_NS, 'labelled')?.['metadata']['labels']['example.com/team'], 'web');
  });
});

describe('the gate stopped', { timeout: HANG_GUARD_MS }, () => {
  it('validate.tracegate.io (Fail) refuses Deployment changes; mutate (Ignore) fails open; scaling goes on', async () => {
    await gate.shutdown('test: gate down', { delayMs: 0 });
    gateStopped = true;
    const res = await kubectl(['apply', '-f', '-'], compliant('while-down'));
    const refused = `dial tcp 127.0.0.1:${gate.port}: connect: connection refused`;
    assert.equal(
      res.stderr,
      `Error from server (InternalError): error when creating "STDIN": Internal error occurred: failed calling webhook "validate.tracegate.io": failed to call webhook: Post "https://tracegate.tracegate.svc:443/validate?timeout=5s": ${refused}\n`,
    );
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate.tracegate.io', 'failed-open'], ['validate.tracegate.io', 'failed-closed']]);
    assert.equal(chain.last?.auditAnnotations[FAILED_OPEN_MUTATION], 'mutate.tracegate.io');

    await kubectlOk(['scale', 'deployment', 'api', '-n', TENANT_NS, '--replicas=5']);
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['scale.validate.tracegate.io', 'failed-open']]);
    assert.equal(stored(TENANT_NS, 'api')?.['spec']['replicas'], 5);

    // kube-system never depended on the gate.
    await kubectlOk(['create', 'deployment', 'recovery', '--image=nginx', '-n', 'kube-system']);
  });
});
