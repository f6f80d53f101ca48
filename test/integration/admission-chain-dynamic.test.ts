/**
 * Admission that follows the test API server's store (`followStoredAdmission`, as kube-apiserver's
 * dynamic admission does): what `kubectl apply` / `helm install` stores is what admits the next request,
 * a caBundle patched into a stored configuration is trusted from the next call on (issue 15: certificates
 * rotated with the caBundle written into the webhook configurations), deletions turn admission off, and
 * configurations the apiserver would refuse are its 422 at write time, never stored.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { followStoredAdmission, loadWebhookConfigs, startFakeWebhook, strangerCa } from '../support/admission-chain/index.js';
import type { FakeWebhook, StoredAdmission } from '../support/admission-chain/index.js';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { startStoryCluster } from '../support/cluster.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

const chartDir = fileURLToPath(new URL('../../charts/tracegate', import.meta.url));
let tools: RealTools;
let server: TestApiServer;
let dir: string;
let kubeconfig: string;
let fake: FakeWebhook;
let gate: FakeWebhook;
let admission: StoredAdmission;
const logs: string[] = [];
let files = 0;

const deny = (message: string) => (review: Any) => ({
  body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review?.request?.uid, allowed: !String(review?.request?.name ?? '').startsWith('blocked'), status: { code: 403, message } } },
});

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-dynamic-admission-'));
  await mkdir(join(dir, 'kc'));
  kubeconfig = await server.kubeconfig(join(dir, 'kc'));
  fake = await startFakeWebhook('fake.webhooks.svc', deny('names starting with blocked are not allowed'));
  // The gate stand-in behind the chart's Service tracegate/tracegate.
  gate = await startFakeWebhook('tracegate.tracegate.svc');
  for (const name of ['apps', 'webhooks']) server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const services: Record<string, FakeWebhook> = { 'webhooks/fake:443': fake, 'tracegate/tracegate:443': gate };
  admission = followStoredAdmission({
    server,
    resolveService: (namespace, name, port) => {
      const target = services[`${namespace}/${name}:${port}`];
      if (target === undefined) throw new Error(`service "${name}" not found`);
      return { host: '127.0.0.1', port: target.port };
    },
    log: (line) => void logs.push(line),
  });
});

after(async () => {
  admission.close();
  await fake.close();
  await gate.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function kubectl(...args: string[]): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfig } });
}

async function ok(bin: string, ...args: string[]): Promise<ToolResult> {
  const res = await runTool(bin, args, { env: { KUBECONFIG: kubeconfig } });
  assert.equal(res.code, 0, `${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res;
}

async function apply(doc: unknown): Promise<ToolResult> {
  const file = join(dir, `doc-${files++}.json`);
  await writeFile(file, JSON.stringify(doc));
  return kubectl('apply', '-f', file);
}

function webhookConfig(caBundle: string, matchConditions?: Any[]): Any {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'names' },
    webhooks: [
      {
        name: 'names.example.com',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        clientConfig: { service: { namespace: 'webhooks', name: 'fake', path: '/validate' }, caBundle },
        rules: [{ operations: ['CREATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }],
        ...(matchConditions === undefined ? {} : { matchConditions }),
      },
    ],
  };
}

describe('webhook configurations from the store', () => {
  it('nothing stored: nothing called', async () => {
    await ok(tools.kubectl, 'create', 'deployment', 'blocked-0', '--image=nginx', '-n', 'apps');
    assert.equal(fake.requests.length, 0);
  });

  it('a stored configuration admits the next request; a patched caBundle is trusted from the next call on; deleting it turns admission off', async () => {
    const stored = await apply(webhookConfig(fake.caBundle));
    assert.equal(stored.code, 0, stored.stderr);
    const denied = await kubectl('create', 'deployment', 'blocked-1', '--image=nginx', '-n', 'apps');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /admission webhook "names\.example\.com" denied the request: names starting with blocked are not allowed/);
    assert.equal(fake.requests.length, 1);
    await ok(tools.kubectl, 'create', 'deployment', 'fine-1', '--image=nginx', '-n', 'apps');

    // A caBundle that signed nothing the webhook serves: the next call fails closed.
    const stranger = strangerCa().caBundle;
    await ok(tools.kubectl, 'patch', 'validatingwebhookconfiguration', 'names', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: stranger }]));
    const untrusted = await kubectl('create', 'deployment', 'fine-2', '--image=nginx', '-n', 'apps');
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /Internal error occurred: failed calling webhook "names\.example\.com": failed to call webhook: /);
    assert.equal(server.store.get('deployments', 'apps', 'fine-2'), undefined);
    // Rotated back: trusted again.
    await ok(tools.kubectl, 'patch', 'validatingwebhookconfiguration', 'names', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: fake.caBundle }]));
    await ok(tools.kubectl, 'create', 'deployment', 'fine-2', '--image=nginx', '-n', 'apps');

    await ok(tools.kubectl, 'delete', 'validatingwebhookconfiguration', 'names');
    const calls = fake.requests.length;
    await ok(tools.kubectl, 'create', 'deployment', 'blocked-2', '--image=nginx', '-n', 'apps');
    assert.equal(fake.requests.length, calls, 'no configuration, no call');
    assert.ok(admission.history.length >= 5, 'the history spans rebuilt chains');
  });

  it('a configuration the apiserver would refuse is its 422 at write time and is not stored', async () => {
    const bad = webhookConfig(fake.caBundle, [{ name: 'paused', expression: 'object.spec.paused' }]);
    let expected = '';
    try {
      loadWebhookConfigs(JSON.stringify(bad));
    } catch (err) {
      expected = (err as Error).message;
    }
    assert.match(expected, /^ValidatingWebhookConfiguration\.admissionregistration\.k8s\.io "names" is invalid: webhooks\[0\]\.matchConditions\[0\]\.expression: /);
    const res = await apply(bad);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /The ValidatingWebhookConfiguration "names" is invalid: webhooks\[0\]\.matchConditions\[0\]\.expression: /);
    assert.equal(server.store.get('validatingwebhookconfigurations', '', 'names'), undefined);
    const direct = await fetch(`${server.url}/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(bad),
    });
    assert.equal(direct.status, 422);
    const status = (await direct.json()) as Any;
    assert.equal(status['message'], expected);
    assert.equal(status['details']['causes'][0]['field'], 'webhooks[0].matchConditions[0].expression');
  });
});

describe('ValidatingAdmissionPolicies from the store', () => {
  it('a stored policy is enforced once a binding is stored, and no longer once the binding is deleted', async () => {
    const policy = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'max-replicas' },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }] },
        validations: [{ expression: 'object.spec.replicas <= 3', message: 'at most 3 replicas' }],
      },
    };
    assert.equal((await apply(policy)).code, 0);
    await ok(tools.kubectl, 'create', 'deployment', 'big-1', '--image=nginx', '--replicas=5', '-n', 'apps');
    const binding = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'max-replicas' }, spec: { policyName: 'max-replicas', validationActions: ['Deny'] } };
    assert.equal((await apply(binding)).code, 0);
    const denied = await kubectl('create', 'deployment', 'big-2', '--image=nginx', '--replicas=5', '-n', 'apps');
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas' denied request: at most 3 replicas/);
    await ok(tools.kubectl, 'delete', 'validatingadmissionpolicybinding', 'max-replicas');
    await ok(tools.kubectl, 'create', 'deployment', 'big-2', '--image=nginx', '--replicas=5', '-n', 'apps');
    await ok(tools.kubectl, 'delete', 'validatingadmissionpolicy', 'max-replicas');
  });

  it('a policy whose CEL does not compile is refused with the apiserver text', async () => {
    const res = await apply({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: 'broken' },
      spec: { matchConstraints: { resourceRules: [{ operations: ['CREATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'] }] }, validations: [{ expression: 'object.spec.replicas <=' }] },
    });
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /The ValidatingAdmissionPolicy "broken" is invalid: spec\.validations\[0\]\.expression: Invalid value: "object\.spec\.replicas <=": compilation failed: /);
    assert.equal(server.store.get('validatingadmissionpolicies', '', 'broken'), undefined);
  });
});

describe('helm install of the chart', () => {
  it('turns the gate\'s webhooks and the break-glass policy on, and helm uninstall turns them off', async () => {
    await ok(tools.helm, 'install', 'tracegate', chartDir, '--namespace', 'tracegate', '--create-namespace', '--set', 'certs.mode=provided', '--set', `certs.provided.caBundle=${gate.caBundle}`);
    const current = admission.current();
    assert.deepEqual(current.mutating.map((c) => c.metadata.name), ['tracegate']);
    assert.deepEqual(current.validating.map((c) => c.metadata.name), ['tracegate']);
    assert.ok(current.policies.some((p) => p.metadata.name === 'tracegate-break-glass'));
    const before = gate.requests.length;
    await ok(tools.kubectl, 'create', 'deployment', 'gated', '--image=nginx', '-n', 'apps');
    const paths = gate.requests.slice(before).map((r) => r.url.split('?')[0]);
    assert.ok(paths.length >= 2, `the gate was asked to mutate and validate: ${paths.join(' ')}`);
    assert.equal(gate.requests[before]?.servername, 'tracegate.tracegate.svc');

    await ok(tools.helm, 'uninstall', 'tracegate', '--namespace', 'tracegate');
    const after = gate.requests.length;
    await ok(tools.kubectl, 'create', 'deployment', 'ungated', '--image=nginx', '-n', 'apps');
    assert.equal(gate.requests.length, after);
    assert.deepEqual(logs.filter((l) => l.startsWith('ignoring stored')), [], 'every stored configuration loaded');
  });
});

describe('the story cluster with admissionFromStore', () => {
  it('admits through the stored overlay configurations, and a caBundle patched into them is used for the next call', async () => {
    const cluster = await startStoryCluster({ namespaces: [{ name: 'shop', tenant: 'shop' }], recorder: false, admissionFromStore: true });
    try {
      assert.ok(cluster.server.store.get('validatingwebhookconfigurations', '', 'tracegate'), 'the overlay is stored');
      // The gate answers (whatever its policies decide of this bare Deployment): no call failed.
      const created = await cluster.kubectl(['create', 'deployment', 'web', '--image=nginx:1.25', '-n', 'shop']);
      assert.doesNotMatch(created.stderr, /failed calling webhook/);
      const calls = cluster.chain.lastCalls;
      assert.ok(calls.length > 0 && calls.every((c) => c.outcome !== 'failed-closed' && c.outcome !== 'failed-open'), `${created.stderr} ${JSON.stringify(calls.map((c) => [c.webhook, c.outcome]))}`);

      const stranger = strangerCa().caBundle;
      const config = cluster.server.store.get('validatingwebhookconfigurations', '', 'tracegate') as Any;
      const patch = (config['webhooks'] as Any[]).map((_, i) => ({ op: 'replace', path: `/webhooks/${i}/clientConfig/caBundle`, value: stranger }));
      const patched = await cluster.kubectl(['patch', 'validatingwebhookconfiguration', 'tracegate', '--type=json', '-p', JSON.stringify(patch)]);
      assert.equal(patched.code, 0, patched.stderr);
      const refused = await cluster.kubectl(['create', 'deployment', 'web-2', '--image=nginx:1.25', '-n', 'shop']);
      assert.notEqual(refused.code, 0, 'the enforcing webhook fails closed');
      assert.match(refused.stderr, /failed calling webhook "[^"]+": failed to call webhook: Post "https:\/\/tracegate\.tracegate\.svc:443\/[^"]*": tls: failed to verify certificate: x509: certificate signed by unknown authority/);
    } finally {
      await cluster.close();
    }
  });
});
