/**
 * The kinds a cluster add-on installs (issue 15), served by the test API server: discovery, the real
 * kubectl's get/apply/delete with the apiserver's printers, defaulting (Service ClusterIP and ports,
 * webhook and binding defaults, NetworkPolicy policyTypes) and the validation a chart trips over in
 * the apiserver's wording; and a chart holding one of each installed and uninstalled with the real
 * helm 4 (server-side apply) and helm 3 (POST).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
const ns = 'addon';

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-addon-test-'));
  kubeconfig = await server.kubeconfig(dir);
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(bin: string, ...args: string[]): Promise<ToolResult> {
  return runTool(bin, args, { env: { KUBECONFIG: kubeconfig } });
}

async function kubectl(...args: string[]): Promise<ToolResult> {
  const res = await run(tools.kubectl, ...args);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

async function applyFile(name: string, docs: unknown[], ...flags: string[]): Promise<ToolResult> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, docs.map((d) => JSON.stringify(d)).join('\n---\n'));
  return run(tools.kubectl, 'apply', '-f', file, ...flags);
}

function stored(resource: string, namespace: string, name: string): Any {
  const obj = server.store.get(resource, namespace, name);
  assert.ok(obj, `${resource} ${namespace}/${name} is stored`);
  return obj as Any;
}

/** One object of each add-on kind, names prefixed (cluster-scoped ones must not collide between releases). */
function addonObjects(prefix: string, namespace: string): Any[] {
  const labels = { app: prefix };
  const rule = { apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['deployments'] };
  const service = { namespace, name: prefix, path: '/validate' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: prefix, namespace, labels } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: prefix, namespace, labels }, spec: { selector: labels, ports: [{ name: 'https', port: 443, targetPort: 8443 }] } },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: prefix, namespace }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: prefix, namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: prefix }, subjects: [{ kind: 'ServiceAccount', name: prefix, namespace }] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: `${prefix}:reader` }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { [`${prefix}/aggregate`]: 'true' } }] }, rules: [] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${prefix}:reader` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${prefix}:reader` }, subjects: [{ kind: 'ServiceAccount', name: prefix, namespace }, { kind: 'Group', name: 'tracegate:break-glass' }] },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: prefix }, webhooks: [{ name: `validate.${prefix}.tracegate.io`, clientConfig: { service }, rules: [rule], sideEffects: 'None', admissionReviewVersions: ['v1'] }] },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: prefix }, webhooks: [{ name: `mutate.${prefix}.tracegate.io`, clientConfig: { service: { ...service, path: '/mutate' } }, rules: [rule], sideEffects: 'None', admissionReviewVersions: ['v1'] }] },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: `${prefix}-replicas` }, spec: { matchConstraints: { resourceRules: [rule] }, validations: [{ expression: 'object.spec.replicas <= 5' }] } },
    { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: `${prefix}-replicas` }, spec: { policyName: `${prefix}-replicas`, validationActions: ['Deny'] } },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: prefix, namespace }, spec: { minAvailable: 1, selector: { matchLabels: labels } } },
    { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: prefix, namespace }, spec: { podSelector: { matchLabels: labels }, ingress: [{ ports: [{ port: 8443 }] }] } },
    { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: `${prefix}-critical` }, value: 1000000, description: 'tracegate' },
  ];
}

describe('the add-on kinds through kubectl', () => {
  it('discovery lists them; apply creates them with the apiserver defaults; get prints their tables', async () => {
    const resources = await kubectl('api-resources', '--no-headers');
    for (const line of [/^serviceaccounts\s+sa\s+v1\s+true\s+ServiceAccount$/m, /^services\s+svc\s+v1\s+true\s+Service$/m, /^poddisruptionbudgets\s+pdb\s+policy\/v1\s+true\s+PodDisruptionBudget$/m, /^priorityclasses\s+pc\s+scheduling\.k8s\.io\/v1\s+false\s+PriorityClass$/m, /^validatingadmissionpolicybindings\s+admissionregistration\.k8s\.io\/v1\s+false\s+ValidatingAdmissionPolicyBinding$/m]) {
      assert.match(resources.stdout, line);
    }
    await kubectl('create', 'serviceaccount', 'by-kubectl', '-n', ns);
    const res = await applyFile('addon', addonObjects('web', ns));
    assert.equal(res.code, 0, res.stderr);

    const svc = stored('services', ns, 'web');
    assert.match(svc['spec']['clusterIP'], /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
    assert.deepEqual(svc['spec']['clusterIPs'], [svc['spec']['clusterIP']]);
    assert.deepEqual(svc['spec']['ports'], [{ name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' }]);
    assert.deepEqual([svc['spec']['type'], svc['spec']['sessionAffinity'], svc['spec']['internalTrafficPolicy'], svc['spec']['ipFamilyPolicy']], ['ClusterIP', 'None', 'Cluster', 'SingleStack']);
    assert.deepEqual(svc['status'], { loadBalancer: {} });
    const hook = stored('validatingwebhookconfigurations', '', 'web')['webhooks'][0];
    assert.deepEqual(
      [hook['failurePolicy'], hook['matchPolicy'], hook['namespaceSelector'], hook['objectSelector'], hook['timeoutSeconds'], hook['clientConfig']['service']['port'], hook['rules'][0]['scope']],
      ['Fail', 'Equivalent', {}, {}, 10, 443, '*'],
    );
    assert.equal(stored('mutatingwebhookconfigurations', '', 'web')['webhooks'][0]['reinvocationPolicy'], 'Never');
    assert.equal(stored('clusterrolebindings', '', 'web:reader')['subjects'][1]['apiGroup'], 'rbac.authorization.k8s.io');
    assert.deepEqual(stored('clusterroles', '', 'web:reader')['aggregationRule'], { clusterRoleSelectors: [{ matchLabels: { 'web/aggregate': 'true' } }] }, 'stored only: no aggregation controller');
    assert.deepEqual(stored('networkpolicies', ns, 'web')['spec']['policyTypes'], ['Ingress']);
    assert.equal(stored('networkpolicies', ns, 'web')['spec']['ingress'][0]['ports'][0]['protocol'], 'TCP');
    assert.equal(stored('priorityclasses', '', 'web-critical')['preemptionPolicy'], 'PreemptLowerPriority');
    assert.equal(stored('validatingadmissionpolicies', '', 'web-replicas')['spec']['failurePolicy'], 'Fail');

    assert.match((await kubectl('get', 'svc', '-n', ns)).stdout, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\nweb\s+ClusterIP\s+10\.\S+\s+<none>\s+443\/TCP\s+\d+s\n$/);
    assert.match((await kubectl('get', 'sa', '-n', ns)).stdout, /^NAME\s+SECRETS\s+AGE\nby-kubectl\s+0\s+\d+s\nweb\s+0\s+\d+s\n$/);
    assert.match((await kubectl('get', 'pdb', '-n', ns)).stdout, /^NAME\s+MIN AVAILABLE\s+MAX UNAVAILABLE\s+ALLOWED DISRUPTIONS\s+AGE\nweb\s+1\s+N\/A\s+0\s+\d+s\n$/);
    assert.match((await kubectl('get', 'rolebinding', '-n', ns, '-o', 'wide')).stdout, /^NAME\s+ROLE\s+AGE\s+USERS\s+GROUPS\s+SERVICEACCOUNTS\nweb\s+Role\/web\s+\d+s\s+addon\/web\n$/);
    assert.match((await kubectl('get', 'role', '-n', ns)).stdout, /^NAME\s+CREATED AT\nweb\s+\d{4}-\d\d-\d\dT/);
    assert.match((await kubectl('get', 'netpol', '-n', ns)).stdout, /^NAME\s+POD-SELECTOR\s+AGE\nweb\s+app=web\s+\d+s\n$/);
    assert.match((await kubectl('get', 'validatingwebhookconfiguration', 'web')).stdout, /^NAME\s+WEBHOOKS\s+AGE\nweb\s+1\s+\d+s\n$/);
    assert.match((await kubectl('get', 'validatingadmissionpolicy,validatingadmissionpolicybinding')).stdout, /web-replicas\s+1\s+<unset>\s+\d+s[\s\S]*web-replicas\s+web-replicas\s+<unset>\s+\d+s/);
    const classes = await kubectl('get', 'priorityclasses');
    assert.match(classes.stdout, /^NAME\s+VALUE\s+GLOBAL-DEFAULT\s+AGE\s+PREEMPTIONPOLICY\n/);
    assert.match(classes.stdout, /\nsystem-cluster-critical\s+2000000000\s+false\s+\d+s\s+PreemptLowerPriority\n/, 'the system classes exist as objects');
    assert.match(classes.stdout, /\nweb-critical\s+1000000\s+false\s+\d+s\s+PreemptLowerPriority\n/);
  });

  it('a re-apply keeps the allocated ClusterIP; a changed ClusterIP, a changed roleRef or PriorityClass value are refused in the apiserver wording', async () => {
    const ip = stored('services', ns, 'web')['spec']['clusterIP'];
    const objs = addonObjects('web', ns);
    assert.equal((await applyFile('again', objs)).code, 0);
    assert.equal(stored('services', ns, 'web')['spec']['clusterIP'], ip);

    const svc = { ...objs[1], spec: { ...(objs[1] as Any)['spec'], clusterIP: '10.96.7.7' } };
    const moved = await applyFile('moved', [svc]);
    assert.equal(moved.code, 1);
    assert.match(moved.stderr, /The Service "web" is invalid: spec\.clusterIPs\[0\]: Invalid value: \["10\.96\.7\.7"\]: may not change once set/);

    const binding = { ...objs[5], roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } };
    const rebound = await applyFile('rebound', [binding]);
    assert.equal(rebound.code, 1);
    assert.match(rebound.stderr, /The ClusterRoleBinding "web:reader" is invalid: roleRef: Invalid value: \{"apiGroup":"rbac\.authorization\.k8s\.io","kind":"ClusterRole","name":"view"\}: cannot change roleRef/);

    const revalued = await applyFile('revalued', [{ ...objs[12], value: 5 }]);
    assert.equal(revalued.code, 1);
    assert.match(revalued.stderr, /The PriorityClass "web-critical" is invalid: value: Forbidden: may not be changed in an update\./);
  });

  it('a chart author\'s usual mistakes are 422s with every problem listed', async () => {
    const bad = await applyFile('bad', [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'no-ports', namespace: ns }, spec: { selector: { app: 'x' } } },
      { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'half' }, webhooks: [{ name: 'half.example.com', clientConfig: { url: 'https://x.example.com' } }] },
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'both', namespace: ns }, spec: { minAvailable: 1, maxUnavailable: '50%' } },
      { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'system-mine' }, value: 2000000000 },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'orphan' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' }, subjects: [{ kind: 'ServiceAccount', name: 'x' }] },
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Service "no-ports" is invalid: spec\.ports: Required value/);
    assert.match(bad.stderr, /ValidatingWebhookConfiguration\.admissionregistration\.k8s\.io "half" is invalid: \[webhooks\[0\]\.admissionReviewVersions: Required value: must specify one of v1, v1beta1, webhooks\[0\]\.sideEffects: Required value: must specify one of None, NoneOnDryRun\]/);
    assert.match(bad.stderr, /PodDisruptionBudget\.policy "both" is invalid: spec: Invalid value: \{"minAvailable":1,"maxUnavailable":"50%"\}: minAvailable and maxUnavailable cannot be both set/);
    assert.match(bad.stderr, /PriorityClass\.scheduling\.k8s\.io "system-mine" is invalid: \[metadata\.name: Invalid value: "system-mine": priority class names with 'system-' prefix are reserved, value: Forbidden: maximum allowed value of a user defined priority is 1000000000\]/);
    assert.match(bad.stderr, /ClusterRoleBinding\.rbac\.authorization\.k8s\.io "orphan" is invalid: \[roleRef\.kind: Unsupported value: "Role": supported values: "ClusterRole", subjects\[0\]\.namespace: Required value\]/);
  });

  it('webhook configurations and admission policies refuse a PUT without resourceVersion (AllowUnconditionalUpdate false); a Service takes one', async () => {
    const put = async (path: string, body: Any): Promise<{ status: number; json: Any }> => {
      const res = await fetch(new URL(path, server.url), { method: 'PUT', headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Any };
    };
    const hook = stored('validatingwebhookconfigurations', '', 'web');
    delete hook['metadata']['resourceVersion'];
    const refused = await put('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/web', hook);
    assert.deepEqual([refused.status, refused.json['message']], [422, 'ValidatingWebhookConfiguration.admissionregistration.k8s.io "web" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update']);
    const svc = stored('services', ns, 'web');
    delete svc['metadata']['resourceVersion'];
    delete svc['spec']['clusterIP'];
    delete svc['spec']['clusterIPs'];
    const replaced = await put(`/api/v1/namespaces/${ns}/services/web`, svc);
    assert.equal(replaced.status, 200, JSON.stringify(replaced.json));
    assert.equal(replaced.json['spec']['clusterIP'], stored('services', ns, 'web')['spec']['clusterIP'], 'the allocated ClusterIP is kept (patchAllocatedValues)');
  });

  it('a Pod naming a stored PriorityClass gets its value; an unknown class is refused by the Priority plugin', async () => {
    const pod = (name: string, cls: string): Any => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: { priorityClassName: cls, containers: [{ name: 'c', image: 'busybox:1' }] } });
    const created = await applyFile('pod', [pod('prio', 'web-critical')]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(stored('pods', ns, 'prio')['spec']['priority'], 1000000);
    const unknown = await applyFile('pod-unknown', [pod('unknown', 'nope')]);
    assert.match(unknown.stderr, /pods "unknown" is forbidden: no PriorityClass with name nope was found/);
  });

  it('delete removes them', async () => {
    await kubectl('delete', 'svc,sa,pdb,netpol,role,rolebinding', '--all', '-n', ns);
    await kubectl('delete', 'clusterrolebinding/web:reader', 'clusterrole/web:reader', 'validatingwebhookconfiguration/web', 'mutatingwebhookconfiguration/web', 'validatingadmissionpolicybinding/web-replicas', 'validatingadmissionpolicy/web-replicas', 'priorityclass/web-critical');
    assert.deepEqual(server.store.list('services', ns), []);
    assert.equal(server.store.get('clusterroles', '', 'web:reader'), undefined);
    assert.equal(server.store.get('priorityclasses', '', 'web-critical'), undefined);
  });
});

describe('a chart with one of each kind, with the real helm', () => {
  let chart: string;
  before(async () => {
    chart = join(dir, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: addon\nversion: 0.1.0\n');
    const docs = addonObjects('RELEASE', 'NAMESPACE').map((d) => JSON.stringify(d).replace(/RELEASE/g, '{{ .Release.Name }}').replace(/NAMESPACE/g, '{{ .Release.Namespace }}'));
    await writeFile(join(chart, 'templates', 'all.yaml'), docs.join('\n---\n'));
  });

  for (const [label, bin, release] of [
    ['helm 4', (): string => tools.helm, 'four'],
    ['helm 3', (): string => tools.helm3, 'three'],
  ] as const) {
    it(`${label} install succeeds and uninstall removes every object`, async () => {
      const start = server.requests.length;
      const install = await run(bin(), 'install', release, chart, '-n', ns);
      assert.equal(install.code, 0, `${install.stdout}${install.stderr}`);
      assert.match(install.stdout, /STATUS: deployed/);
      // Chart objects go as apply YAML (helm 4) or JSON (helm 3); only the release Secret is protobuf.
      const writes = server.requests.slice(start).filter((r) => (r.method === 'POST' || r.method === 'PATCH') && !r.path.includes('/secrets'));
      assert.equal(writes.length, 13);
      assert.deepEqual([...new Set(writes.map((r) => r.contentType))], [label === 'helm 4' ? 'application/apply-patch+yaml' : 'application/json']);
      assert.ok(stored('services', ns, release)['spec']['clusterIP']);
      assert.equal(stored('clusterroles', '', `${release}:reader`)['metadata']['labels']['app.kubernetes.io/managed-by'], 'Helm');
      assert.equal(stored('validatingadmissionpolicybindings', '', `${release}-replicas`)['metadata']['annotations']['meta.helm.sh/release-name'], release);
      const upgrade = await run(bin(), 'upgrade', release, chart, '-n', ns);
      assert.equal(upgrade.code, 0, `${upgrade.stdout}${upgrade.stderr}`);
      const uninstall = await run(bin(), 'uninstall', release, '-n', ns);
      assert.equal(uninstall.code, 0, `${uninstall.stdout}${uninstall.stderr}`);
      for (const [resource, namespace, name] of [
        ['serviceaccounts', ns, release],
        ['services', ns, release],
        ['roles', ns, release],
        ['rolebindings', ns, release],
        ['clusterroles', '', `${release}:reader`],
        ['clusterrolebindings', '', `${release}:reader`],
        ['validatingwebhookconfigurations', '', release],
        ['mutatingwebhookconfigurations', '', release],
        ['validatingadmissionpolicies', '', `${release}-replicas`],
        ['validatingadmissionpolicybindings', '', `${release}-replicas`],
        ['poddisruptionbudgets', ns, release],
        ['networkpolicies', ns, release],
        ['priorityclasses', '', `${release}-critical`],
      ] as const) {
        assert.equal(server.store.get(resource, namespace, name), undefined, `${resource} ${name} is gone`);
      }
    });
  }
});
