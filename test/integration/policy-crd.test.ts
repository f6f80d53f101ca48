/**
 * Policies as cluster objects, end to end: the TracegatePolicy CRD applied with the real kubectl to the
 * test API server, a gate with `--policy-source cluster` watching it, and Deployments applied with the
 * real kubectl through that gate (the API server's admission calls its /mutate, applies the patch, then
 * its /validate). A good policy is enforced within seconds, a change without a restart; a malformed
 * object is refused by the apiserver at apply; a schema-valid but inconsistent one leaves the last good
 * set in force with Ready=False, a log line and the load-error metric; a deleted one is gone. The API
 * server authorizes with RBAC, and the gate holds only the rules the install must grant it. Polls,
 * never timing assertions.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import type { AdmissionHookRequest, AdmissionHookResult } from '../support/api-server/index.js';
import { envelope, REPO_ROOT, startGateHarness, type GateHarness } from '../support/gate-harness.js';
import { applyPatchAsApiserver } from '../support/json-patch.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

type Any = Record<string, any>;

/** A hang guard, not a speed check. */
const DEADLINE_MS = 30_000;
const POLL_MS = 50;
const CRD_FILE = join(REPO_ROOT, 'manifests', 'crds', 'tracegatepolicy.yaml');

/** The gate's RBAC for policy objects, as the install must grant it: read and watch them, write their status. */
const GATE_RBAC = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: tracegate-policy-reader }
rules:
  - { apiGroups: [tracegate.io], resources: [tracegatepolicies], verbs: [get, list, watch] }
  - { apiGroups: [tracegate.io], resources: [tracegatepolicies/status], verbs: [update, patch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: tracegate-policy-reader }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tracegate-policy-reader }
subjects: [{ kind: ServiceAccount, name: tracegate, namespace: tracegate }]
`;

let tools: RealTools;
let api: TestApiServer;
let dir: string;
let adminKubeconfig: string;
let gateKubeconfigFile: string;
let h: GateHarness;
/** The gate's answers to validation, newest last. */
const validations: Any[] = [];

async function until<T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function kubectlRun(args: string[], input?: string): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: adminKubeconfig }, ...(input !== undefined ? { input } : {}) });
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const res = await kubectlRun(args, input);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

/** The gate reviews Deployments as the apiserver's webhooks would: mutate, apply the patch, validate. */
async function throughGate(req: AdmissionHookRequest): Promise<AdmissionHookResult> {
  if (req.kind.kind !== 'Deployment' || req.operation === 'DELETE' || req.subResource) return { allowed: true, object: req.object };
  const request = { uid: randomUUID(), kind: req.kind, resource: req.resource, requestKind: req.kind, requestResource: req.resource, name: req.name, namespace: req.namespace, operation: req.operation, userInfo: req.userInfo, object: req.object, oldObject: req.oldObject, dryRun: req.dryRun, options: req.options };
  const mutated = (await h.review('/mutate', envelope(request))).json.response;
  if (!mutated.allowed) return { allowed: false, status: mutated.status };
  const patched = mutated.patch ? applyPatchAsApiserver(req.object, mutated.patch) : { ok: true as const, value: req.object };
  assert.ok(patched.ok);
  const validated = (await h.review('/validate', envelope({ ...request, object: patched.value }))).json.response;
  validations.push(validated);
  const warnings = validated.warnings ?? [];
  return validated.allowed ? { allowed: true, object: patched.value, warnings } : { allowed: false, status: validated.status, warnings };
}

/** A Deployment applied with kubectl; the result (exit code and output) says whether the gate admitted it. */
function applyDeployment(name: string, image: string): Promise<ToolResult> {
  const manifest = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'default' }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } } } };
  return kubectlRun(['apply', '--field-manager', 'helm', '-f', '-'], JSON.stringify(manifest));
}

function policy(name: string, version: string, rules: Any[]): string {
  return JSON.stringify({ apiVersion: 'tracegate.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name }, spec: { version, description: 'No :latest in default.', rules } });
}

const noLatest = (action: string) => ({ id: 'no-latest', action, images: { disallowedTags: ['latest'] } });

const policiesView = async (): Promise<Any> => (await h.get('/policies')).json;
const object = (name: string): Any | undefined => api.store.get('tracegatepolicies', '', name) as Any | undefined;
const readyCondition = (name: string): Any | undefined => object(name)?.['status']?.['conditions']?.find((c: Any) => c['type'] === 'Ready');

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env: {}, cwd: REPO_ROOT };
  return { code: await createCli()(argv, io), stdout, stderr };
}

before(async () => {
  tools = await ensureRealTools();
  // RBAC on: the gate has exactly the rules the install must grant it (GATE_RBAC), nothing else.
  api = await startTestApiServer({ controller: false, authorization: 'rbac' });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-policy-crd-'));
  adminKubeconfig = await api.kubeconfig(await mkdtemp(join(dir, 'admin-')));
  const gateKubeconfig = (gateKubeconfigFile = await api.kubeconfig(await mkdtemp(join(dir, 'gate-')), { user: 'system:serviceaccount:tracegate:tracegate' }));
  assert.match(await kubectl(['apply', '-f', CRD_FILE]), /customresourcedefinition\.apiextensions\.k8s\.io\/tracegatepolicies\.tracegate\.io created/);
  await kubectl(['wait', '--for', 'condition=established', '--timeout=20s', 'crd/tracegatepolicies.tracegate.io']);
  await kubectl(['apply', '-f', '-'], GATE_RBAC);
  const canI = async (...args: string[]) => (await runTool(tools.kubectl, ['auth', 'can-i', ...args], { env: { KUBECONFIG: gateKubeconfig } })).stdout.trim();
  assert.deepEqual([await canI('watch', 'tracegatepolicies'), await canI('update', 'tracegatepolicies', '--subresource=status'), await canI('update', 'tracegatepolicies')], ['yes', 'yes', 'no']);
  h = await startGateHarness({ config: { policySource: 'cluster', kubeconfig: gateKubeconfig } });
  api.setAdmission(throughGate);
});

after(async () => {
  await h?.close();
  await api?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('TracegatePolicy objects in a live gate', { timeout: DEADLINE_MS * 8 }, () => {
  it('with no objects the gate becomes ready with an empty set and admits anything', async () => {
    await until('readiness', async () => (await h.get('/readyz')).status === 200);
    const view = await policiesView();
    assert.equal(view.source, 'cluster');
    assert.deepEqual(view.policies, []);
    const res = await applyDeployment('first', 'nginx:latest');
    assert.equal(res.code, 0, res.stderr);
  });

  it('a good policy is enforced within seconds and reported Ready with its digest', async () => {
    assert.match(await kubectl(['apply', '-f', '-'], policy('no-latest', '1.0.0', [noLatest('deny')])), /tracegatepolicy\.tracegate\.io\/no-latest created/);
    const view = await until('the policy in /policies', async () => {
      const v = await policiesView();
      return v.policies.length === 1 && v;
    });
    assert.deepEqual(view.policies[0].rules[0].parameters.disallowedTags, ['latest']);
    assert.equal(view.policies[0].source, 'tracegatepolicy.tracegate.io/no-latest');
    assert.match(view.loadedAt, /^\d{4}-\d{2}-\d{2}T/);
    const refused = await applyDeployment('web', 'nginx:latest');
    assert.notEqual(refused.code, 0, 'denied');
    assert.match(refused.stderr, /admission webhook .*denied the request|no-latest/);
    assert.match(refused.stderr, /no-latest/);
    const last = validations.at(-1)!;
    assert.equal(last.auditAnnotations['policy-set'], view.digest, 'the decision names the set it used');
    assert.equal(last.auditAnnotations.policies, `no-latest@1.0.0=${view.policies[0].digest}`);

    const ready = await until('Ready=True on the object', async () => readyCondition('no-latest')?.['status'] === 'True' && readyCondition('no-latest'));
    assert.deepEqual([ready['reason'], ready['observedGeneration']], ['Loaded', 1]);
    assert.equal(object('no-latest')!['status']['digest'], view.policies[0].digest);
    const table = await kubectl(['get', 'tracegatepolicies']);
    assert.match(table, /^NAME\s+VERSION\s+RULES\s+READY\s+AGE$/m);
    assert.match(table, /^no-latest\s+1\.0\.0\s+1\s+True\s+\S+$/m);
  });

  it('a change takes effect without a restart', async () => {
    const before = (await policiesView()).digest;
    await kubectl(['apply', '-f', '-'], policy('no-latest', '1.1.0', [noLatest('warn')]));
    await until('the new version in force', async () => (await policiesView()).policies[0]?.version === '1.1.0');
    assert.notEqual((await policiesView()).digest, before);
    const res = await applyDeployment('web', 'nginx:latest');
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /Warning: .*latest/, 'kubectl prints the warn rule');
  });

  it('a schema-violating object is refused by the apiserver at kubectl apply', async () => {
    const res = await kubectlRun(['apply', '-f', '-'], policy('bad-action', '1', [{ id: 'r', action: 'block', images: { requireTag: true } }]));
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /The TracegatePolicy "bad-action" is invalid: spec\.rules\[0\]\.action: Unsupported value: "block": supported values: "deny", "warn", "audit"/);
    const two = await kubectlRun(['apply', '-f', '-'], policy('two-checks', '1', [{ id: 'r', images: { requireTag: true }, revisionHistory: { minimum: 2 } }]));
    assert.notEqual(two.code, 0);
    assert.match(two.stderr, /must validate one and only one schema \(oneOf\)/);
    assert.equal(object('bad-action'), undefined);
  });

  it('a schema-valid but inconsistent change keeps the last good set, with Ready=False, a log line and the metric', async () => {
    const good = await policiesView();
    const dup = [noLatest('warn'), { id: 'no-latest', revisionHistory: { minimum: 3 } }];
    assert.match(await kubectl(['apply', '-f', '-'], policy('no-latest', '2.0.0', dup)), /configured/);
    const cond = await until('Ready=False on the object', async () => readyCondition('no-latest')?.['status'] === 'False' && readyCondition('no-latest'));
    assert.equal(cond['reason'], 'Invalid');
    assert.equal(cond['message'], 'spec.rules[1].id: duplicate rule id "no-latest"');
    assert.equal(cond['observedGeneration'], object('no-latest')!['metadata']['generation']);
    assert.equal(object('no-latest')!['status']['digest'], good.policies[0].digest, 'the status keeps the digest in force');

    const view = await policiesView();
    assert.equal(view.digest, good.digest, 'the last good set is in force');
    assert.deepEqual(view.refused.map((r: Any) => [r.name, r.reason, r.enforced.version]), [['no-latest', 'Invalid', '1.1.0']]);
    const metrics = (await h.get('/metrics')).text;
    assert.match(metrics, /^tracegate_policy_load_errors_total\{policy="no-latest"\} 1$/m);
    const warn = h.logs.records().find((r) => r['msg'] === 'policy refused; its last good generation stays in force');
    assert.ok(warn, 'a warn line');
    assert.deepEqual([warn['policy'], warn['reason'], warn['problems'], warn['enforced']], ['no-latest', 'Invalid', ['spec.rules[1].id: duplicate rule id "no-latest"'], `1.1.0=${good.policies[0].digest}`]);
    const res = await applyDeployment('web2', 'nginx:latest');
    assert.equal(res.code, 0, 'still the warn rule of 1.1.0');

    const wide = await kubectl(['get', 'tgp', '-o', 'wide']);
    assert.match(wide, /^no-latest\s+2\.0\.0\s+1\s+False\s+Invalid\s+sha256:[0-9a-f]{64}\s+\S+$/m);
    const listed = await cli(['policies', '--cluster', '--kubeconfig', adminKubeconfig]);
    assert.equal(listed.code, 1, 'a refused object');
    assert.match(listed.stdout, /^REFUSED no-latest generation \d+ \(Invalid; not in force\): spec\.rules\[1\]\.id: duplicate rule id "no-latest"$/m);
  });

  it('a deleted policy is removed from the set', async () => {
    await kubectl(['apply', '-f', '-'], policy('no-latest', '3.0.0', [noLatest('deny')]));
    await until('the fixed version in force', async () => (await policiesView()).policies[0]?.version === '3.0.0');
    assert.notEqual((await applyDeployment('web3', 'nginx:latest')).code, 0);
    await kubectl(['delete', 'tracegatepolicy', 'no-latest']);
    await until('an empty set', async () => (await policiesView()).policies.length === 0);
    const res = await applyDeployment('web3', 'nginx:latest');
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await policiesView()).refused.length, 0);
  });

  it('--policy-source both: the files are a floor an object cannot replace; replicas that disagree write a status once each', async () => {
    const both = await startGateHarness({ config: { policySource: 'both', kubeconfig: gateKubeconfigFile } });
    try {
      await until('the both-gate ready', async () => (await both.get('/readyz')).status === 200);
      // "resources" is a bundled policy: the both-gate refuses the object (DuplicateName), the cluster-only gate loads it.
      await kubectl(['apply', '-f', '-'], policy('resources', '9.0.0', [noLatest('warn')]));
      await kubectl(['apply', '-f', '-'], policy('marker', '1', [noLatest('audit')]));
      const view = await until('both gates judged the objects', async () => {
        const [v2, v1] = [(await both.get('/policies')).json, await policiesView()];
        return v2.policies.some((p: Any) => p.name === 'marker') && v1.policies.length === 2 && v2;
      });
      assert.deepEqual(view.policies.map((p: Any) => p.name).sort(), ['image-hygiene', 'marker', 'provenance', 'resources', 'rollback-history']);
      const resources = view.policies.find((p: Any) => p.name === 'resources');
      assert.match(resources.source, /policies\/resources\.yaml$/, 'the file stays in force');
      assert.deepEqual(view.refused.map((r: Any) => [r.name, r.reason, r.enforced]), [['resources', 'DuplicateName', null]]);
      assert.match((await both.get('/metrics')).text, /^tracegate_policy_load_errors_total\{policy="resources"\} 1$/m);

      // Each gate writes its verdict on generation 1 once; then neither overwrites the other. A later
      // change the two gates have both judged is the sync point: "resources" was not written meanwhile.
      const ready = await until('a verdict on resources', async () => readyCondition('resources')?.['observedGeneration'] === 1 && readyCondition('resources'));
      assert.ok(['Loaded', 'DuplicateName'].includes(ready['reason']), ready['reason']);
      await until('both gates wrote their verdict', async () => {
        const rv = object('resources')!['metadata']['resourceVersion'];
        await kubectl(['apply', '-f', '-'], policy('marker', String(Date.now()), [noLatest('audit')]));
        const version = JSON.parse(await kubectl(['get', 'tgp', 'marker', '-o', 'json']))['spec']['version'];
        await until('both gates saw the marker', async () => {
          const [v2, v1] = [(await both.get('/policies')).json, await policiesView()];
          const mark = (v: Any) => v.policies.find((p: Any) => p.name === 'marker')?.version;
          return mark(v2) === version && mark(v1) === version && readyCondition('marker')?.['observedGeneration'] === object('marker')!['metadata']['generation'];
        });
        return object('resources')!['metadata']['resourceVersion'] === rv;
      });
    } finally {
      await both.close();
      await kubectl(['delete', 'tracegatepolicy', 'resources', 'marker']);
    }
  });
});
