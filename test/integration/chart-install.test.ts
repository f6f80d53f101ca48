/**
 * charts/tracegate installed into the test API server with the real `helm install` (helm 4 with
 * server-side apply, then helm 3), upgraded (the provenance key survives) and uninstalled (the key is
 * kept, the webhooks go); and the rendering of every mode sent through `kubectl apply --dry-run=server`,
 * so the server's validation (the CRDs' schemas included) judges each object. The kinds an add-on
 * installs are being added to the test API server: a kind it answers 404 for skips these tests, naming it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chartDir = join(root, 'charts', 'tracegate');
type Obj = Record<string, any>;

/** Every resource the chart's default rendering and its CRDs need, as `kubectl get --raw` paths. */
const NEEDED = [
  '/api/v1/namespaces', '/api/v1/serviceaccounts', '/api/v1/services', '/api/v1/secrets', '/api/v1/configmaps',
  '/apis/apps/v1/deployments', '/apis/policy/v1/poddisruptionbudgets', '/apis/networking.k8s.io/v1/networkpolicies',
  '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  '/apis/rbac.authorization.k8s.io/v1/roles', '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
  '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings',
  '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas', '/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations',
  '/apis/scheduling.k8s.io/v1/priorityclasses', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
];

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
/** Why the tests cannot run against this server (a kind it does not serve), or undefined. */
let missing: string | undefined;

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-chart-install-'));
  kubeconfig = await server.kubeconfig(dir);
  const absent: string[] = [];
  for (const path of NEEDED) {
    const res = await run(tools.kubectl, 'get', '--raw', path);
    if (res.code !== 0) absent.push(`${path} (${res.stderr.trim()})`);
  }
  if (absent.length) missing = `the test API server does not serve ${absent.join(', ')} yet`;
});

after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function run(bin: string, ...args: string[]): Promise<ToolResult> {
  return runTool(bin, args, { env: { KUBECONFIG: kubeconfig } });
}

async function ok(bin: string, ...args: string[]): Promise<ToolResult> {
  const res = await run(bin, ...args);
  assert.equal(res.code, 0, `${args.join(' ')}:\n${res.stdout}${res.stderr}`);
  return res;
}

function stored(resource: string, namespace: string, name: string): Obj | undefined {
  return server.store.get(resource, namespace, name) as Obj | undefined;
}

describe('helm install of charts/tracegate into the test API server', () => {
  it('helm 4: installs every object and the CRDs, upgrades keeping the provenance key, uninstalls keeping it', async (t) => {
    if (missing) return t.skip(missing);
    const ns = 'tracegate';
    // A cluster where Kyverno installed the PolicyReport CRD first, in its own words (another description):
    // helm 4 would server-side apply a crds/ file over it and fail on the conflicting field, so the chart
    // templates these CRDs and renders one only where a lookup finds none.
    const kyverno = parseAllDocuments(await readFile(join(chartDir, 'files', 'crds', 'wgpolicyk8s-policyreports.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
    const policyReports = kyverno.find((d) => d.metadata.name === 'policyreports.wgpolicyk8s.io')!;
    policyReports.metadata.labels = { 'app.kubernetes.io/managed-by': 'kyverno' };
    policyReports.spec.versions[0].schema.openAPIV3Schema.description = "Kyverno's own wording";
    await writeFile(join(dir, 'kyverno-crd.yaml'), JSON.stringify(policyReports));
    await ok(tools.kubectl, 'create', '-f', join(dir, 'kyverno-crd.yaml'));
    await ok(tools.helm, 'install', 'tracegate', chartDir, '--namespace', ns, '--create-namespace', '--set', 'ui.enabled=true');
    const kept = stored('customresourcedefinitions', '', 'policyreports.wgpolicyk8s.io')!;
    assert.deepEqual(kept.metadata.labels, { 'app.kubernetes.io/managed-by': 'kyverno' }, "Kyverno's CRD is left as it was");
    assert.equal(kept.spec.versions[0].schema.openAPIV3Schema.description, "Kyverno's own wording");
    const added = stored('customresourcedefinitions', '', 'clusterpolicyreports.wgpolicyk8s.io')!;
    assert.equal(added.metadata.annotations['meta.helm.sh/release-name'], 'tracegate', 'the one that was missing is installed, owned by the release');
    for (const [resource, name] of [['deployments', 'tracegate-ui'], ['services', 'tracegate-ui'], ['serviceaccounts', 'tracegate-ui'], ['networkpolicies', 'tracegate-ui']] as const) {
      assert.ok(stored(resource, ns, name), `${resource} ${ns}/${name} installed`);
    }
    for (const name of ['tracegate-ui', 'tracegate-ui-records', 'tracegate-recorder-audit', 'tracegate-recorder-audit-summary']) assert.ok(stored('clusterrolebindings', '', name), `ClusterRoleBinding ${name}`);
    for (const [resource, namespace, name] of [
      ['customresourcedefinitions', '', 'changetrails.tracegate.io'], ['customresourcedefinitions', '', 'tracegatepolicies.tracegate.io'],
      ['deployments', ns, 'tracegate'], ['deployments', ns, 'tracegate-recorder'], ['poddisruptionbudgets', ns, 'tracegate-recorder'],
      ['networkpolicies', ns, 'tracegate'], ['validatingwebhookconfigurations', '', 'tracegate'], ['mutatingwebhookconfigurations', '', 'tracegate'],
      ['validatingadmissionpolicies', '', 'tracegate-break-glass'], ['flowschemas', '', 'tracegate-rollback'], ['tracegatepolicies', '', 'provenance'],
    ] as const) {
      assert.ok(stored(resource, namespace, name), `${resource} ${namespace}/${name} installed`);
    }
    const key = stored('secrets', ns, 'tracegate-provenance-key')!;
    assert.deepEqual(Object.keys(key.data).sort(), ['current', 'k1.key']);
    const keyText = Buffer.from(key.data['k1.key'], 'base64').toString('utf8');
    assert.ok(Buffer.from(keyText, 'base64').length >= 32, 'a key file is base64 of at least 32 bytes');

    await ok(tools.helm, 'upgrade', 'tracegate', chartDir, '--namespace', ns, '--set', 'logLevel=debug');
    assert.deepEqual(stored('secrets', ns, 'tracegate-provenance-key')!.data, key.data, 'an upgrade keeps the key (lookup)');
    const gate = stored('deployments', ns, 'tracegate')!;
    assert.ok((gate.spec.template.spec.containers[0].args as string[]).includes('--log-level=debug'));

    await ok(tools.helm, 'uninstall', 'tracegate', '--namespace', ns);
    assert.equal(stored('validatingwebhookconfigurations', '', 'tracegate'), undefined, 'the webhooks go with the release');
    assert.equal(stored('clusterroles', '', 'tracegate-recorder'), undefined);
    assert.deepEqual(stored('secrets', ns, 'tracegate-provenance-key')?.data, key.data, 'helm.sh/resource-policy keep');
    assert.ok(stored('customresourcedefinitions', '', 'changetrails.tracegate.io'), 'Helm never deletes crds/');
    assert.ok(stored('customresourcedefinitions', '', 'clusterpolicyreports.wgpolicyk8s.io'), 'the PolicyReport CRDs stay (resource-policy keep): deleting one deletes every report');
  });

  it('helm 3: installs into another namespace (policy-system), every namespaced object and identity there', async (t) => {
    if (missing) return t.skip(missing);
    const ns = 'policy-system';
    await ok(tools.helm3, 'install', 'tracegate', chartDir, '--namespace', ns, '--create-namespace', '--set', 'certs.mode=provided', '--set', 'certs.provided.caBundle=Zm9v');
    const hook = stored('validatingwebhookconfigurations', '', 'tracegate')!;
    for (const h of hook.webhooks as Obj[]) {
      assert.equal(h.clientConfig.service.namespace, ns);
      assert.ok((h.namespaceSelector.matchExpressions[0].values as string[]).includes(ns));
    }
    const binding = stored('clusterrolebindings', '', 'tracegate-recorder')!;
    // apiGroup '' is the apiserver's default for a ServiceAccount subject (rbac/v1 SetDefaults_Subject).
    assert.deepEqual(binding.subjects, [{ apiGroup: '', kind: 'ServiceAccount', name: 'tracegate-recorder', namespace: ns }]);
    const policy = stored('tracegatepolicies', '', 'provenance')!;
    assert.deepEqual(policy.spec.rules[0].provenance.trustedUsers, [`system:serviceaccount:${ns}:tracegate-recorder`]);
    await ok(tools.helm3, 'uninstall', 'tracegate', '--namespace', ns);
  });

  it("every mode's rendering passes the server's validation (kubectl apply --dry-run=server; cert-manager and Prometheus kinds aside)", async (t) => {
    if (missing) return t.skip(missing);
    // The CRDs first, so TracegatePolicy objects are validated against their schema.
    await ok(tools.kubectl, 'apply', '--server-side', '-f', join(chartDir, 'crds'));
    await ok(tools.kubectl, 'wait', '--for', 'condition=established', 'crd/tracegatepolicies.tracegate.io', 'crd/changetrails.tracegate.io');
    await ok(tools.kubectl, 'create', 'namespace', 'dry-run');
    const modes = [
      [],
      ['certs.mode=cert-manager', 'serviceMonitor.enabled=true', 'networkPolicy.metricsNamespace=monitoring', 'networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24'],
      ['certs.mode=provided', 'certs.provided.caBundle=Zm9v', 'recorder.namespaces={default}', 'recorder.restoreRollbacks=false'],
      ['policies.source=files', 'createNamespace=true', 'image.digest=sha256:' + 'b'.repeat(64)],
      ['ui.enabled=true', 'ui.replicas=2', 'networkPolicy.uiFrom[0].namespaceSelector.matchLabels.team=ingress', 'audit.interval=30m'],
      ['ui.enabled=true', 'ui.tls.mode=secret', 'recorder.namespaces={default}', 'policies.source=both', 'policies.extra[0].metadata.name=extra', 'policies.extra[0].spec.rules[0].id=r', 'policies.extra[0].spec.rules[0].action=warn', 'policies.extra[0].spec.rules[0].revisionHistory.minimum=3'],
      ['ui.enabled=true', 'certs.mode=cert-manager', 'ui.tls.mode=cert-manager', 'audit.enabled=false'],
    ];
    for (const sets of modes) {
      const res = await ok(tools.helm, 'template', 'tracegate', chartDir, '--namespace', 'dry-run', ...sets.flatMap((s) => ['--set', s]));
      const docs = parseAllDocuments(res.stdout).map((d) => d.toJS() as Obj).filter((d) => d && !/^(cert-manager\.io|monitoring\.coreos\.com)\//.test(d.apiVersion));
      // The Namespace of createNamespace exists already (created above): a dry-run create would conflict.
      const file = join(dir, 'rendered.yaml');
      await writeFile(file, docs.filter((d) => d.kind !== 'Namespace').map((d) => JSON.stringify(d)).join('\n---\n'));
      const applied = await run(tools.kubectl, 'apply', '--dry-run=server', '-f', file);
      assert.equal(applied.code, 0, `${sets.join(' ')}:\n${applied.stdout}${applied.stderr}`);
      assert.equal(applied.stdout.trim().split('\n').length, docs.filter((d) => d.kind !== 'Namespace').length, applied.stdout);
    }
  });
});
