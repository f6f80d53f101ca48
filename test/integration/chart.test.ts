/**
 * The Helm chart charts/tracegate, judged by the real helm 4 and helm 3: `helm lint --strict`, the
 * values schema (helm's own error for a bad value), `helm template` in every mode — objects and their
 * namespaces, webhooks that never intercept the control plane or the release namespace, RBAC compared
 * rule by rule, certificates, policies as TracegatePolicy objects, NetworkPolicy, ServiceMonitor — and
 * the files generated from it: the chart's copies of the policies and CRDs, manifests/ (the kustomize
 * base) and the README's values table. chart-install.test.ts installs it into the test API server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { valueRows, valuesTable, withValuesTable, TABLE_END, TABLE_START } from '../../scripts/lib/chart-docs.js';
import { chartSyncDrift, expectedCopies } from '../../scripts/lib/chart-sync.js';
import { manifestsDrift, renderManifests } from '../../scripts/lib/manifests.js';
import type { CliIo } from '../../src/cli/io.js';
import { policyLoader } from '../../src/cli/policies-option.js';
import { RECORD_USAGE, runRecordCommand } from '../../src/cli/record.js';
import { runServeCommand, SERVE_USAGE } from '../../src/cli/serve.js';
import { runUiCommand, UI_USAGE } from '../../src/cli/ui.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { evaluate } from '../../src/policy/evaluate.js';
import type { RequestContext } from '../../src/policy/types.js';
import { buildRecordConfig } from '../../src/recorder/config.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const chartDir = join(root, 'charts', 'tracegate');
/** Objects of the chart as the tests walk them. */
type Obj = Record<string, any>;

let tools: RealTools;
let pkgVersion: string;

before(async () => {
  tools = await ensureRealTools();
  pkgVersion = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
});

async function helm(bin: string, args: string[]): Promise<ToolResult> {
  return runTool(bin, args);
}

/** `helm template` of the chart into namespace `ns` with `--set` pairs; fails the test on an error. */
async function render(sets: string[] = [], ns = 'tracegate', bin = tools.helm): Promise<Obj[]> {
  const res = await helm(bin, ['template', 'tracegate', chartDir, '--namespace', ns, ...sets.flatMap((s) => ['--set', s])]);
  assert.equal(res.code, 0, `helm template ${sets.join(' ')}: ${res.stderr}`);
  return parseAllDocuments(res.stdout).map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

function named(docs: Obj[], kind: string, name: string): Obj {
  const found = docs.filter((d) => d.kind === kind && d.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name}`);
  return found[0]!;
}

function kinds(docs: Obj[]): string[] {
  return docs.map((d) => `${d.kind} ${d.metadata.name}`).sort();
}

const gateContainer = (docs: Obj[]): Obj => named(docs, 'Deployment', 'tracegate').spec.template.spec.containers[0];
const recorderContainer = (docs: Obj[]): Obj => named(docs, 'Deployment', 'tracegate-recorder').spec.template.spec.containers[0];
const uiContainer = (docs: Obj[]): Obj => named(docs, 'Deployment', 'tracegate-ui').spec.template.spec.containers[0];
/** The value of `--name=value` in a container's args (the last one), if given. */
const flag = (container: Obj, name: string): string | undefined => (container.args as string[]).filter((a) => a.startsWith(`--${name}=`)).at(-1)?.slice(name.length + 3);
const quietIo: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: fileURLToPath(new URL('../..', import.meta.url)) };

/**
 * RBAC's decision for a request of ServiceAccount `namespace/sa` as the rendered roles grant it (the
 * chart uses no wildcards, which a test checks, so exact matching is RBAC's matching). `ns` '' is a
 * cluster-scoped request or a list across all namespaces; a RoleBinding applies in its namespace only.
 */
function permits(docs: Obj[], namespace: string, sa: string, req: { verb: string; group: string; resource: string; ns: string; name?: string }): boolean {
  return docs
    .filter((d) => (d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding') && (d.subjects as Obj[]).some((x) => x.kind === 'ServiceAccount' && x.name === sa && x.namespace === namespace))
    .some((b) => {
      if (b.kind === 'RoleBinding' && b.metadata.namespace !== req.ns) return false;
      const role = named(docs, b.roleRef.kind, b.roleRef.name);
      return (role.rules as Obj[]).some(
        (r) => r.apiGroups.includes(req.group) && r.resources.includes(req.resource) && r.verbs.includes(req.verb) && (r.resourceNames === undefined || (req.name !== undefined && r.resourceNames.includes(req.name))),
      );
    });
}

/** Every `group/resource` a ServiceAccount is granted any verb on. */
function grantedResources(docs: Obj[], namespace: string, sa: string): Set<string> {
  return new Set(Object.values(grants(docs, namespace, sa)).flatMap((rules) => rules.flatMap((r) => (r.apiGroups as string[]).flatMap((g) => (r.resources as string[]).map((res) => `${g}/${res}`)))));
}

function allWebhooks(docs: Obj[]): Obj[] {
  return docs.filter((d) => d.kind === 'MutatingWebhookConfiguration' || d.kind === 'ValidatingWebhookConfiguration').flatMap((c) => c.webhooks as Obj[]);
}

/** The rules each role bound to `namespace/sa` grants: `Kind name@bindingNamespace` → rules. */
function grants(docs: Obj[], namespace: string, sa: string): Record<string, Obj[]> {
  const out: Record<string, Obj[]> = {};
  for (const b of docs.filter((d) => d.kind === 'ClusterRoleBinding' || d.kind === 'RoleBinding')) {
    if (!(b.subjects as Obj[]).some((s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === namespace)) continue;
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: sa, namespace }], `${b.metadata.name} binds ${sa} alone`);
    const role = named(docs, b.roleRef.kind, b.roleRef.name);
    if (b.roleRef.kind === 'Role') assert.equal(role.metadata.namespace, b.metadata.namespace, 'a RoleBinding refers to a Role of its own namespace');
    const where = b.kind === 'RoleBinding' ? `@${b.metadata.namespace}` : '';
    out[`${b.roleRef.kind} ${b.roleRef.name}${where}`] = role.rules;
  }
  return out;
}

const NAMESPACE_READER = [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }];
const DELETION_NOTES = [{ apiGroups: [''], resources: ['events'], verbs: ['create'] }];
const POLICY_READER = [
  { apiGroups: ['tracegate.io'], resources: ['tracegatepolicies'], verbs: ['list', 'watch'] },
  { apiGroups: ['tracegate.io'], resources: ['tracegatepolicies/status'], verbs: ['update'] },
];
function recorderRules(workloadVerbs: string[]): Obj[] {
  return [
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: workloadVerbs },
    { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: workloadVerbs },
    { apiGroups: [''], resources: ['replicationcontrollers'], verbs: workloadVerbs },
    { apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'create', 'update'] },
    { apiGroups: [''], resources: ['events'], verbs: ['list'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
  ];
}
const LEADER = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['tracegate-recorder'], verbs: ['get', 'update'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
];
const CERTS_SECRET = [
  // The serving Secret the gate mounts and, beside it, the CA key only the recorder reads (templates/recorder/certs-rbac.yaml).
  { apiGroups: [''], resources: ['secrets'], resourceNames: ['tracegate-tls', 'tracegate-tls-ca'], verbs: ['get', 'update'] },
  { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
];
/** The background audit's rights: namespaces (list everywhere, or get each of recorder.namespaces), bare Pods, its PolicyReports. */
function auditRules(namespaceVerb: 'list' | 'get'): Obj[] {
  return [
    { apiGroups: [''], resources: ['namespaces'], verbs: [namespaceVerb] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
  ];
}
const AUDIT_SUMMARY = [{ apiGroups: ['wgpolicyk8s.io'], resources: ['clusterpolicyreports'], verbs: ['get', 'list', 'create', 'update'] }];
/** policies.source cluster or both: the audit follows the TracegatePolicy objects, read-only. */
const AUDIT_POLICIES = [{ apiGroups: ['tracegate.io'], resources: ['tracegatepolicies'], verbs: ['list', 'watch'] }];
const WEBHOOK_CA = [
  { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'], resourceNames: ['tracegate'], verbs: ['get', 'patch'] },
];
const CLUSTER_SCOPED = new Set([
  'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding', 'FlowSchema', 'PriorityLevelConfiguration', 'TracegatePolicy', 'Namespace', 'CustomResourceDefinition',
]);

describe('Chart.yaml and values.schema.json', () => {
  it('is a v2 chart named tracegate at the package version, for Kubernetes 1.30 and later', async () => {
    const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as Obj;
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'tracegate');
    assert.equal(chart.version, pkgVersion);
    assert.equal(chart.appVersion, pkgVersion);
    assert.equal(chart.kubeVersion, '>=1.30.0-0');
    for (const bin of [tools.helm, tools.helm3]) {
      const old = await helm(bin, ['template', 't', chartDir, '--kube-version', '1.29.9']);
      assert.notEqual(old.code, 0, 'refused below 1.30');
      assert.match(old.stderr, /chart requires kubeVersion: >=1\.30\.0-0 which is incompatible with Kubernetes v1\.29\.9/);
    }
  });

  it('passes helm lint --strict with helm 4 and helm 3, in every certificate and policy mode', async () => {
    const modes = [[], ['certs.mode=cert-manager'], ['certs.mode=provided', 'certs.provided.caBundle=Zm9v'], ['policies.source=files'], ['serviceMonitor.enabled=true', 'networkPolicy.metricsNamespace=monitoring']];
    for (const bin of [tools.helm, tools.helm3]) {
      for (const sets of modes) {
        const res = await helm(bin, ['lint', '--strict', chartDir, ...sets.flatMap((s) => ['--set', s])]);
        assert.equal(res.code, 0, `${bin} lint ${sets.join(' ')}:\n${res.stdout}${res.stderr}`);
        assert.match(res.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
      }
    }
  });

  it('closes every object of the schema (draft-07): an unknown key is an error, never ignored', async () => {
    const schema = JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')) as Obj;
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (typeof node !== 'object' || node === null) return;
      const n = node as Obj;
      if (n.properties !== undefined && n.additionalProperties !== false) open.push(path);
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, '#');
    assert.deepEqual(open, []);
    // values.yaml itself is valid (helm template validates it) and documents nothing the schema lacks.
    await render();
  });

  it("rejects bad values with helm's schema error (helm 4 and helm 3)", async () => {
    const cases: [string, RegExp, RegExp][] = [
      ['replicas=abc', /additional properties 'replicas' not allowed/, /Additional property replicas is not allowed/],
      ['gate.replicas=abc', /at '\/gate\/replicas': got string, want integer/, /gate\.replicas: Invalid type\. Expected: integer, given: string/],
      ['certs.mode=vault', /at '\/certs\/mode': value must be one of/, /certs\.mode: certs\.mode must be one of the following/],
      ['webhooks.validate.timeoutSeconds=31', /at '\/webhooks\/validate\/timeoutSeconds': maximum: got 31, want 30/, /timeoutSeconds: Must be less than or equal to 30/],
      ['image.digest=sha256:nothex', /at '\/image\/digest': '.*' does not match pattern/, /image\.digest: Does not match pattern/],
      ['webhooks.excludedNamespaces[0]=Kube_System', /at '\/webhooks\/excludedNamespaces\/0': '.*' does not match pattern/, /Does not match pattern/],
      ['networkPolicy.webhookFrom[0].ipblock.cidr=10.0.0.0/8', /additional properties 'ipblock' not allowed/, /Additional property ipblock is not allowed/],
    ];
    for (const [set, helm4, helm3] of cases) {
      for (const [bin, expected] of [[tools.helm, helm4], [tools.helm3, helm3]] as const) {
        const res = await helm(bin, ['template', 't', chartDir, '--set', set]);
        assert.notEqual(res.code, 0, `${set} is refused`);
        assert.match(res.stderr, /values don't meet the specifications of the schema\(s\) in the following chart\(s\):\ntracegate:/, `${bin} ${set}: ${res.stderr}`);
        assert.match(res.stderr, expected, `${bin} ${set}: ${res.stderr}`);
      }
    }
  });
});

describe('helm template with the default values', () => {
  let h4: Obj[];
  let h3: Obj[];
  before(async () => {
    [h4, h3] = await Promise.all([render(), render([], 'tracegate', tools.helm3)]);
  });

  it('renders the install: gate, recorder (both with PDBs), webhooks, break-glass policy, flow control, NetworkPolicies, the bundled policies and the provenance key', () => {
    const expected = [
      'ClusterRole tracegate-deletion-notes', 'ClusterRole tracegate-namespace-reader', 'ClusterRole tracegate-policy-reader', 'ClusterRole tracegate-recorder',
      'ClusterRole tracegate-recorder-audit', 'ClusterRole tracegate-recorder-audit-summary',
      'ClusterRole tracegate-recorder-webhook-ca', 'ClusterRole tracegate-trail-viewer',
      'ClusterRoleBinding tracegate-deletion-notes', 'ClusterRoleBinding tracegate-namespace-reader', 'ClusterRoleBinding tracegate-policy-reader',
      'ClusterRoleBinding tracegate-recorder', 'ClusterRoleBinding tracegate-recorder-audit', 'ClusterRoleBinding tracegate-recorder-audit-summary',
      'ClusterRoleBinding tracegate-recorder-webhook-ca',
      'CustomResourceDefinition clusterpolicyreports.wgpolicyk8s.io', 'CustomResourceDefinition policyreports.wgpolicyk8s.io',
      'Deployment tracegate', 'Deployment tracegate-recorder', 'FlowSchema tracegate-rollback', 'MutatingWebhookConfiguration tracegate',
      'NetworkPolicy tracegate', 'NetworkPolicy tracegate-recorder', 'PodDisruptionBudget tracegate', 'PodDisruptionBudget tracegate-recorder',
      'PriorityLevelConfiguration tracegate-rollback', 'Role tracegate-recorder-certs', 'Role tracegate-recorder-leader',
      'RoleBinding tracegate-recorder-certs', 'RoleBinding tracegate-recorder-leader', 'Secret tracegate-provenance-key', 'Service tracegate',
      'ServiceAccount tracegate', 'ServiceAccount tracegate-recorder',
      'TracegatePolicy image-hygiene', 'TracegatePolicy provenance', 'TracegatePolicy resources', 'TracegatePolicy rollback-history',
      'ValidatingAdmissionPolicy tracegate-break-glass', 'ValidatingAdmissionPolicyBinding tracegate-break-glass', 'ValidatingWebhookConfiguration tracegate',
    ];
    assert.deepEqual(kinds(h4), expected);
    assert.deepEqual(kinds(h3), expected, 'helm 3 renders the same objects');
  });

  it('gives every object apiVersion, kind, a name and Helm labels, namespaced ones the release namespace and cluster-scoped ones none', () => {
    for (const d of h4) {
      assert.match(d.apiVersion, /^[a-z0-9.]*\/?v\d/, `${d.kind} apiVersion`);
      assert.match(d.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      assert.equal(d.metadata.labels['app.kubernetes.io/name'], 'tracegate', `${d.kind} ${d.metadata.name}`);
      assert.equal(d.metadata.labels['app.kubernetes.io/managed-by'], 'Helm');
      assert.equal(d.metadata.namespace, CLUSTER_SCOPED.has(d.kind) ? undefined : 'tracegate', `${d.kind} ${d.metadata.name}`);
    }
  });

  it('runs the gate at system-cluster-critical priority and the recorder at the default, each selected by its own PDB', () => {
    const gate = named(h4, 'Deployment', 'tracegate');
    const recorder = named(h4, 'Deployment', 'tracegate-recorder');
    assert.equal(gate.spec.template.spec.priorityClassName, 'system-cluster-critical');
    assert.equal(recorder.spec.template.spec.priorityClassName, undefined);
    for (const [dep, pdbName] of [[gate, 'tracegate'], [recorder, 'tracegate-recorder']] as const) {
      const pdb = named(h4, 'PodDisruptionBudget', pdbName);
      assert.deepEqual(pdb.spec.selector, dep.spec.selector);
      assert.ok(pdb.spec.minAvailable >= 1 && pdb.spec.minAvailable < dep.spec.replicas, `${pdbName}: a drain can evict one, never all`);
    }
    assert.equal(gate.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
    assert.equal(recorder.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
  });

  it('pins both containers to the chart appVersion on one image, pulled by digest when a digest is given', async () => {
    assert.equal(gateContainer(h4).image, `ghcr.io/tracegate/tracegate:${pkgVersion}`);
    assert.equal(recorderContainer(h4).image, gateContainer(h4).image);
    const digest = `sha256:${'a'.repeat(64)}`;
    const pinned = await render([`image.digest=${digest}`, 'image.tag=9.9.9', 'image.repository=registry.example.com/tracegate']);
    assert.equal(gateContainer(pinned).image, `registry.example.com/tracegate@${digest}`, 'the digest wins over the tag');
    assert.equal(recorderContainer(pinned).image, gateContainer(pinned).image);
    assert.equal(gateContainer(await render(['image.tag=9.9.9'])).image, 'ghcr.io/tracegate/tracegate:9.9.9');
  });

  it('passes the tenant label, the log level and the recorder options as flags the commands accept', async () => {
    const docs = await render(['tenantLabel=example.com/team', 'logLevel=debug', 'recorder.historyMax=0', 'recorder.restoreRollbacks=false', 'policies.source=files', 'certs.mode=provided', 'certs.provided.caBundle=Zm9v']);
    const gateArgs = gateContainer(docs).args as string[];
    assert.ok(gateArgs.includes('--tenant-label=example.com/team') && gateArgs.includes('--log-level=debug'), gateArgs.join(' '));
    const recArgs = recorderContainer(docs).args as string[];
    for (const a of ['--history-max=0', '--restore-rollbacks=false', '--log-level=debug']) assert.ok(recArgs.includes(a), `${a} in ${recArgs.join(' ')}`);
    // --help stops right after the options parsed: an unknown option throws.
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: root };
    assert.equal(await runServeCommand([...gateArgs.slice(1), '--help'], io), 0);
    assert.equal(await runRecordCommand([...recArgs.slice(1), '--help'], io), 0);
  });

  it('approvals.*: the gate mounts the approvers\' keys and the CI issuers read-only and names them in flags serve accepts', async () => {
    const plain = gateContainer(await render());
    assert.equal((plain.args as string[]).some((a) => /^--(approval-keys|ci-issuers|cluster-name)=/.test(a)), false, 'nothing by default');
    const docs = await render(['approvals.keysConfigMap=approver-keys', 'approvals.ciIssuersConfigMap=ci-issuers', 'approvals.clusterName=prod-eu-1']);
    const c = gateContainer(docs);
    assert.equal(flag(c, 'approval-keys'), '/etc/tracegate/approval-keys');
    assert.equal(flag(c, 'ci-issuers'), '/etc/tracegate/ci-issuers/issuers.yaml');
    assert.equal(flag(c, 'cluster-name'), 'prod-eu-1');
    const volumes = named(docs, 'Deployment', 'tracegate').spec.template.spec.volumes as Obj[];
    assert.deepEqual(volumes.filter((v) => v.configMap).map((v) => [v.name, v.configMap.name]), [['approval-keys', 'approver-keys'], ['ci-issuers', 'ci-issuers']]);
    for (const m of (c.volumeMounts as Obj[]).filter((m) => m.name === 'approval-keys' || m.name === 'ci-issuers')) assert.equal(m.readOnly, true);
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: root };
    assert.equal(await runServeCommand([...(c.args as string[]).slice(1), '--help'], io), 0);
    const bad = await helm(tools.helm, ['template', 'tracegate', chartDir, '--set', 'approvals.keysConfigMap=Not_A_Name']);
    assert.notEqual(bad.code, 0, 'the schema refuses a ConfigMap name Kubernetes would');
  });

  it('ui.tokenAudiences: one --token-audience per entry, accepted by tracegate ui', async () => {
    const docs = await render(['ui.enabled=true', 'ui.tokenAudiences={tracegate-ui,auditors}']);
    const args = uiContainer(docs).args as string[];
    assert.deepEqual(args.filter((a) => a.startsWith('--token-audience=')), ['--token-audience=tracegate-ui', '--token-audience=auditors']);
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: root };
    assert.equal(await runUiCommand([...args.slice(1), '--help'], io), 0);
  });
});

describe('webhooks never intercept the control plane or the release namespace', () => {
  for (const ns of ['tracegate', 'policy-system']) {
    it(`in namespace ${ns}, with and without extra exclusions`, async () => {
      for (const sets of [[], ['webhooks.excludedNamespaces={istio-system,kube-system}']]) {
        const docs = await render(sets, ns);
        const hooks = allWebhooks(docs);
        assert.equal(hooks.length, 4);
        for (const h of hooks) {
          const expected = ['kube-system', 'kube-node-lease', ns, ...(sets.length ? ['istio-system'] : [])];
          assert.deepEqual(h.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: expected }] }, `${h.name} ${sets.join(' ')}`);
          assert.deepEqual(h.clientConfig.service, { name: 'tracegate', namespace: ns, path: h.clientConfig.service.path, port: 443 });
        }
        // Everything namespaced follows the release, and so do the identities that name it.
        for (const d of docs) if (!CLUSTER_SCOPED.has(d.kind)) assert.equal(d.metadata.namespace, ns, `${d.kind} ${d.metadata.name}`);
        const fs = named(docs, 'FlowSchema', 'tracegate-rollback');
        assert.deepEqual(fs.spec.rules[0].subjects[0], { kind: 'ServiceAccount', serviceAccount: { name: 'tracegate-recorder', namespace: ns } });
        const provenance = named(docs, 'TracegatePolicy', 'provenance');
        assert.deepEqual(provenance.spec.rules[0].provenance.trustedUsers, [`system:serviceaccount:${ns}:tracegate-recorder`]);
      }
    });
  }

  it('takes each failure policy and timeout from the values', async () => {
    const docs = await render(['webhooks.mutate.failurePolicy=Fail', 'webhooks.validate.timeoutSeconds=10', 'webhooks.scale.failurePolicy=Fail', 'webhooks.delete.timeoutSeconds=1']);
    const byName = Object.fromEntries(allWebhooks(docs).map((h) => [h.name, [h.failurePolicy, h.timeoutSeconds]]));
    assert.deepEqual(byName, {
      'mutate.tracegate.io': ['Fail', 3],
      'validate.tracegate.io': ['Fail', 10],
      'scale.validate.tracegate.io': ['Fail', 2],
      'delete.validate.tracegate.io': ['Ignore', 1],
    });
    const defaults = Object.fromEntries(allWebhooks(await render()).map((h) => [h.name, [h.failurePolicy, h.timeoutSeconds]]));
    assert.deepEqual(defaults, {
      'mutate.tracegate.io': ['Ignore', 3],
      'validate.tracegate.io': ['Fail', 5],
      'scale.validate.tracegate.io': ['Ignore', 2],
      'delete.validate.tracegate.io': ['Ignore', 2],
    });
  });
});

describe('RBAC: exactly what each component needs, bound to its own ServiceAccount in the release namespace', () => {
  it('default (certs self, policies from the cluster): the gate reads namespaces and policies; the recorder also issues the certificate', async () => {
    const ns = 'policy-system';
    const docs = await render([], ns);
    assert.deepEqual(grants(docs, ns, 'tracegate'), {
      'ClusterRole tracegate-namespace-reader': NAMESPACE_READER,
      'ClusterRole tracegate-deletion-notes': DELETION_NOTES,
      'ClusterRole tracegate-policy-reader': POLICY_READER,
    });
    assert.deepEqual(grants(docs, ns, 'tracegate-recorder'), {
      'ClusterRole tracegate-recorder': recorderRules(['get', 'list', 'watch', 'update']),
      'ClusterRole tracegate-recorder-audit': auditRules('list'),
      'ClusterRole tracegate-recorder-audit-summary': [...AUDIT_SUMMARY, ...AUDIT_POLICIES],
      [`Role tracegate-recorder-leader@${ns}`]: LEADER,
      [`Role tracegate-recorder-certs@${ns}`]: CERTS_SECRET,
      'ClusterRole tracegate-recorder-webhook-ca': WEBHOOK_CA,
    });
    // Names of every object a rule limits by name exist in the chart as it renders them.
    assert.equal(named(docs, 'Deployment', 'tracegate').spec.template.spec.volumes.find((v: Obj) => v.name === 'tls').secret.secretName, 'tracegate-tls');
    assert.ok(named(docs, 'MutatingWebhookConfiguration', 'tracegate') && named(docs, 'ValidatingWebhookConfiguration', 'tracegate'));
  });

  it('policies from files, certificates provided, no rollback finishing: no policy, certificate or workload-update rights', async () => {
    const docs = await render(['policies.source=files', 'certs.mode=provided', 'certs.provided.caBundle=Zm9v', 'recorder.restoreRollbacks=false']);
    assert.deepEqual(grants(docs, 'tracegate', 'tracegate'), {
      'ClusterRole tracegate-namespace-reader': NAMESPACE_READER,
      'ClusterRole tracegate-deletion-notes': DELETION_NOTES,
    });
    assert.deepEqual(grants(docs, 'tracegate', 'tracegate-recorder'), {
      'ClusterRole tracegate-recorder': recorderRules(['get', 'list', 'watch']),
      'ClusterRole tracegate-recorder-audit': auditRules('list'),
      'ClusterRole tracegate-recorder-audit-summary': AUDIT_SUMMARY,
      'Role tracegate-recorder-leader@tracegate': LEADER,
    });
    const quiet = await render(['policies.source=files', 'certs.mode=provided', 'certs.provided.caBundle=Zm9v', 'audit.enabled=false']);
    assert.deepEqual(Object.keys(grants(quiet, 'tracegate', 'tracegate-recorder')).sort(), ['ClusterRole tracegate-recorder', 'Role tracegate-recorder-leader@tracegate'], 'no audit: no Pod or PolicyReport rights');
  });

  it('recorder.namespaces: the recorder watches only those and its rights are bound there, not cluster-wide', async () => {
    const docs = await render(['recorder.namespaces={team-a,team-b}', 'certs.mode=cert-manager']);
    assert.deepEqual(grants(docs, 'tracegate', 'tracegate-recorder'), {
      'ClusterRole tracegate-recorder@team-a': recorderRules(['get', 'list', 'watch', 'update']),
      'ClusterRole tracegate-recorder@team-b': recorderRules(['get', 'list', 'watch', 'update']),
      'ClusterRole tracegate-recorder-audit@team-a': auditRules('get'),
      'ClusterRole tracegate-recorder-audit@team-b': auditRules('get'),
      // The summary is cluster-scoped, and the audit asks whether the PolicyReport API is served with a cluster-wide list of one.
      'ClusterRole tracegate-recorder-audit-summary': [...AUDIT_SUMMARY, ...AUDIT_POLICIES, { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['list'] }],
      'Role tracegate-recorder-leader@tracegate': LEADER,
    });
    assert.equal(docs.filter((d) => d.kind === 'ClusterRoleBinding' && ['tracegate-recorder', 'tracegate-recorder-audit'].includes(d.roleRef.name)).length, 0);
    const args = recorderContainer(docs).args as string[];
    assert.deepEqual(args.filter((a) => a.startsWith('--namespace')), ['--namespace=team-a', '--namespace=team-b']);
  });

  it('never uses wildcards, and aggregates only the trail viewer into view', async () => {
    const modes = [[], ['certs.mode=cert-manager', 'serviceMonitor.enabled=true', 'ui.enabled=true'], ['recorder.namespaces={team-a}', 'ui.enabled=true', 'ui.replicas=2', 'policies.source=both']];
    for (const docs of await Promise.all(modes.map((m) => render(m)))) {
      for (const role of docs.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role')) {
        for (const rule of role.rules as Obj[]) {
          for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) assert.ok(((rule[field] ?? []) as string[]).every((v) => !v.includes('*')), `${role.metadata.name}.${field}`);
        }
        const aggregated = Object.keys(role.metadata.labels).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'));
        assert.deepEqual(aggregated, role.metadata.name === 'tracegate-trail-viewer' ? ['rbac.authorization.k8s.io/aggregate-to-view'] : []);
      }
    }
  });
});

describe('certificates', () => {
  const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: root };

  it('self (default): the recorder rotates the Secret the gate mounts and injects the caBundle; the chart writes none', async () => {
    const docs = await render();
    const args = recorderContainer(docs).args as string[];
    for (const a of ['--rotate-certs', '--tls-secret=tracegate-tls', '--webhook-configuration=tracegate']) assert.ok(args.includes(a), `${a} in ${args.join(' ')}`);
    for (const h of allWebhooks(docs)) assert.equal(h.clientConfig.caBundle, undefined, h.name);
    for (const c of docs.filter((d) => d.kind.endsWith('WebhookConfiguration'))) assert.equal(c.metadata.annotations, undefined);
    assert.equal(docs.some((d) => d.apiVersion.startsWith('cert-manager.io/')), false);
    assert.ok(RECORD_USAGE.includes('--rotate-certs'));
    assert.equal(await runRecordCommand([...args.slice(1), '--help'], io), 0);
  });

  it('cert-manager: a CA, an Issuer and a serving Certificate for the Service names, injected into both webhook configurations', async () => {
    const ns = 'policy-system';
    const docs = await render(['certs.mode=cert-manager'], ns);
    assert.deepEqual(docs.filter((d) => d.apiVersion === 'cert-manager.io/v1').map((d) => `${d.kind} ${d.metadata.name}`).sort(), [
      'Certificate tracegate-ca', 'Certificate tracegate-serving', 'Issuer tracegate-ca', 'Issuer tracegate-selfsigned',
    ]);
    const serving = named(docs, 'Certificate', 'tracegate-serving');
    assert.equal(serving.spec.secretName, 'tracegate-tls');
    assert.deepEqual(serving.spec.dnsNames, ['tracegate', `tracegate.${ns}`, `tracegate.${ns}.svc`, `tracegate.${ns}.svc.cluster.local`]);
    assert.deepEqual(serving.spec.issuerRef, { kind: 'Issuer', name: 'tracegate-ca' });
    assert.equal(named(docs, 'Certificate', 'tracegate-ca').spec.isCA, true);
    assert.equal(named(docs, 'Issuer', 'tracegate-ca').spec.ca.secretName, named(docs, 'Certificate', 'tracegate-ca').spec.secretName);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      assert.deepEqual(named(docs, kind, 'tracegate').metadata.annotations, { 'cert-manager.io/inject-ca-from': `${ns}/tracegate-serving` });
    }
    for (const h of allWebhooks(docs)) assert.equal(h.clientConfig.caBundle, undefined);
    assert.equal((recorderContainer(docs).args as string[]).some((a) => a.startsWith('--rotate-certs')), false);
    const own = await render(['certs.mode=cert-manager', 'certs.certManager.issuerRef.name=corp-ca', 'certs.certManager.issuerRef.kind=ClusterIssuer']);
    assert.deepEqual(own.filter((d) => d.apiVersion === 'cert-manager.io/v1').map((d) => `${d.kind} ${d.metadata.name}`), ['Certificate tracegate-serving']);
    assert.deepEqual(named(own, 'Certificate', 'tracegate-serving').spec.issuerRef, { kind: 'ClusterIssuer', name: 'corp-ca' });
  });

  it('provided: the given caBundle on every webhook, the given Secret mounted; a missing caBundle is an error', async () => {
    const docs = await render(['certs.mode=provided', 'certs.provided.caBundle=Zm9vYmFy', 'certs.secretName=my-tls']);
    for (const h of allWebhooks(docs)) assert.equal(h.clientConfig.caBundle, 'Zm9vYmFy', h.name);
    const volumes = named(docs, 'Deployment', 'tracegate').spec.template.spec.volumes as Obj[];
    assert.equal(volumes.find((v) => v.name === 'tls')!.secret.secretName, 'my-tls');
    const missing = await helm(tools.helm, ['template', 't', chartDir, '--set', 'certs.mode=provided']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /certs\.provided\.caBundle is required when certs\.mode is provided/);
    const omitted = await render(['certs.mode=provided', 'certs.provided.omitCaBundle=true']);
    for (const h of allWebhooks(omitted)) assert.equal(h.clientConfig.caBundle, undefined);
  });
});

describe('policies', () => {
  it('installs each bundled policy file as a TracegatePolicy with the same spec (version, description and owner moved into spec)', async () => {
    const docs = await render();
    const policies = docs.filter((d) => d.kind === 'TracegatePolicy');
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(join(root, 'policies'))).filter((f) => f.endsWith('.yaml')).sort();
    assert.equal(policies.length, files.length);
    for (const file of files) {
      const doc = parse(await readFile(join(root, 'policies', file), 'utf8')) as Obj;
      const obj = named(docs, 'TracegatePolicy', doc.metadata.name);
      assert.equal(obj.apiVersion, 'tracegate.io/v1alpha1');
      const { name: _name, ...moved } = doc.metadata as Obj;
      assert.deepEqual(obj.spec, { ...moved, ...doc.spec }, file);
      assert.equal(obj.metadata.namespace, undefined, 'cluster-scoped');
    }
    assert.ok((gateContainer(docs).args as string[]).includes('--policy-source=cluster'));
  });

  it('adds policies.extra, renders none without bundled, and none (nor the flag) with policies from files', async () => {
    const extra = await render(['policies.bundled=false', 'policies.extra[0].metadata.name=team-a', 'policies.extra[0].metadata.version=2', 'policies.extra[0].spec.rules[0].id=r', 'policies.extra[0].spec.rules[0].action=warn', 'policies.extra[0].spec.rules[0].revisionHistory.minimum=3']);
    assert.deepEqual(extra.filter((d) => d.kind === 'TracegatePolicy').map((d) => [d.metadata.name, d.spec]), [
      ['team-a', { version: '2', rules: [{ id: 'r', action: 'warn', revisionHistory: { minimum: 3 } }] }],
    ]);
    const files = await render(['policies.source=files']);
    assert.equal(files.some((d) => d.kind === 'TracegatePolicy'), false);
    assert.equal((gateContainer(files).args as string[]).some((a) => a.startsWith('--policy-source')), false);
    const both = await render(['policies.source=both']);
    assert.ok((gateContainer(both).args as string[]).includes('--policy-source=both'));
  });

  it('renders gate flags `tracegate serve` accepts', async (t) => {
    if (!SERVE_USAGE.includes('--policy-source')) {
      t.diagnostic('tracegate serve has no --policy-source yet (another helper is adding it): the flag is not parsed here');
      return;
    }
    const io: CliIo = { stdout: () => undefined, stderr: () => undefined, readStdin: async () => '', env: {}, cwd: root };
    assert.equal(await runServeCommand([...(gateContainer(await render()).args as string[]).slice(1), '--help'], io), 0);
  });
});

describe('NetworkPolicy and ServiceMonitor', () => {
  it('by default: the gate open on its webhook port alone, the recorder closed, both selecting their own pods', async () => {
    const docs = await render();
    const gate = named(docs, 'NetworkPolicy', 'tracegate');
    assert.deepEqual(gate.spec.podSelector, named(docs, 'Deployment', 'tracegate').spec.selector);
    assert.deepEqual(gate.spec.policyTypes, ['Ingress']);
    assert.deepEqual(gate.spec.ingress, [{ ports: [{ port: 8443, protocol: 'TCP' }] }], 'no from: any source, on 8443 only');
    assert.equal(gateContainer(docs).ports[0].containerPort, 8443);
    const recorder = named(docs, 'NetworkPolicy', 'tracegate-recorder');
    assert.deepEqual(recorder.spec.podSelector, named(docs, 'Deployment', 'tracegate-recorder').spec.selector);
    assert.deepEqual(recorder.spec.ingress, [], 'no ingress at all (the kubelet probes from the node)');
    assert.equal(docs.some((d) => d.kind === 'ServiceMonitor'), false, 'ServiceMonitor off by default');
    assert.equal((await render(['networkPolicy.enabled=false'])).some((d) => d.kind === 'NetworkPolicy'), false);
  });

  it('webhookFrom and metricsNamespace: the apiserver ipBlocks and the metrics namespace, on their ports only', async () => {
    const docs = await render(['networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.10/32', 'networkPolicy.metricsNamespace=monitoring']);
    const monitoring = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    assert.deepEqual(named(docs, 'NetworkPolicy', 'tracegate').spec.ingress, [
      { ports: [{ port: 8443, protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.10/32' } }, monitoring] },
    ]);
    assert.deepEqual(named(docs, 'NetworkPolicy', 'tracegate-recorder').spec.ingress, [{ ports: [{ port: 8080, protocol: 'TCP' }], from: [monitoring] }]);
    const recorderPort = recorderContainer(docs).ports.find((p: Obj) => p.name === 'metrics');
    assert.equal(recorderPort.containerPort, 8080);
  });

  it('serviceMonitor.enabled: one per component, each selecting a Service with the port it scrapes', async () => {
    const docs = await render(['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=prom']);
    for (const [name, service] of [['tracegate', 'tracegate'], ['tracegate-recorder', 'tracegate-recorder']] as const) {
      const sm = named(docs, 'ServiceMonitor', name);
      assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
      assert.equal(sm.metadata.labels.release, 'prom');
      const svc = named(docs, 'Service', service);
      assert.ok(Object.entries(sm.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => svc.metadata.labels[k] === v), `${name} selects Service ${service}`);
      assert.ok((svc.spec.ports as Obj[]).some((p) => p.name === sm.spec.endpoints[0].port), `${name}: port ${sm.spec.endpoints[0].port}`);
    }
    const gate = named(docs, 'ServiceMonitor', 'tracegate').spec.endpoints[0];
    assert.equal(gate.scheme, 'https');
    assert.deepEqual(gate.tlsConfig, { serverName: 'tracegate.tracegate.svc', ca: { secret: { name: 'tracegate-tls', key: 'ca.crt' } } });
  });
});

describe('files generated from the chart and its sources', () => {
  it('the chart holds exact copies of policies/*.yaml and manifests/crds/*.yaml (npm run chart:sync)', async () => {
    assert.deepEqual(await chartSyncDrift(root), []);
    const copies = [...(await expectedCopies(root)).keys()];
    assert.ok(copies.includes('charts/tracegate/crds/changetrail.yaml'));
    assert.ok(copies.includes('charts/tracegate/files/policies/provenance.yaml'));
    // The PolicyReport CRDs are shared with other engines: templated where absent, never in crds/ (Helm 4 would apply over them).
    assert.ok(copies.includes('charts/tracegate/files/crds/wgpolicyk8s-policyreports.yaml'));
    assert.equal(copies.some((c) => c.startsWith('charts/tracegate/crds/wgpolicyk8s')), false);
  });

  it('manifests/ is what the chart renders (npm run manifests)', async () => {
    const runner = async (args: string[]) => {
      const res = await helm(tools.helm, args);
      assert.equal(res.code, 0, res.stderr);
      return res.stdout;
    };
    const rendered = await renderManifests(root, runner);
    assert.ok(rendered.has('webhooks.yaml') && rendered.has('recorder/rbac.yaml') && rendered.has('kustomization.yaml'));
    assert.deepEqual(await manifestsDrift(root, rendered), []);
  });

  it('the README values table is generated from values.schema.json and values.yaml (npm run chart:docs), every value described', async () => {
    const schema = JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')) as Obj;
    const values: unknown = parse(await readFile(join(chartDir, 'values.yaml'), 'utf8'));
    const rows = valueRows(schema, values);
    assert.deepEqual(rows.filter((r) => r.description === '').map((r) => r.key), [], 'every value has a description');
    assert.deepEqual(rows.filter((r) => r.default === '').map((r) => r.key), [], 'every value has a default in values.yaml');
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    assert.ok(readme.includes(TABLE_START) && readme.includes(TABLE_END), 'README.md has the markers');
    // Compared between the markers, so a stale table shows as the table's difference, not the README's.
    const table = (text: string) => text.slice(text.indexOf(TABLE_START), text.indexOf(TABLE_END));
    assert.equal(table(readme), table(withValuesTable(readme, valuesTable(rows))), 'stale: run npm run chart:docs');
  });
});

describe('background audit (audit.*): PolicyReports written by the recorder', () => {
  it('on by default: the interval, the tenant label and the policies the gate enforces, as flags `tracegate record` accepts', async () => {
    const docs = await render(['tenantLabel=example.com/team', 'audit.interval=30m']);
    const c = recorderContainer(docs);
    assert.equal(flag(c, 'audit-interval'), '30m');
    assert.equal(flag(c, 'tenant-label'), 'example.com/team');
    assert.equal(flag(c, 'policy-source'), 'cluster');
    assert.equal((c.args as string[]).some((a) => a.startsWith('--policies')), false, 'the objects, not a copy');
    assert.equal(docs.some((d) => d.kind === 'ConfigMap'), false);
    assert.equal(await runRecordCommand([...(c.args as string[]).slice(1), '--help'], quietIo), 0);
    // What the recorder makes of them: 30 minutes, the label, the source.
    const values = Object.fromEntries((c.args as string[]).slice(1).filter((a) => a.includes('=')).map((a) => a.slice(2).split(/=(.*)/s).slice(0, 2)));
    const config = buildRecordConfig({ flags: { auditInterval: values['audit-interval'], tenantLabel: values['tenant-label'], policySource: values['policy-source'] }, env: {}, hostname: 'h' });
    assert.equal(config.auditIntervalSeconds, 1800);
    assert.equal(config.tenantLabel, 'example.com/team');
    assert.equal(config.policySource, 'cluster');
  });

  it('the audit follows the policy source of the gate: files → the image files and no policy rights; both → the objects too, read-only', async () => {
    const files = await render(['policies.source=files']);
    assert.equal(flag(recorderContainer(files), 'policy-source'), 'files');
    assert.equal(flag(recorderContainer(files), 'audit-interval'), '1h');
    assert.equal(permits(files, 'tracegate', 'tracegate-recorder', { verb: 'list', group: 'tracegate.io', resource: 'tracegatepolicies', ns: '' }), false);
    const both = await render(['policies.source=both']);
    assert.equal(flag(recorderContainer(both), 'policy-source'), 'both');
    for (const verb of ['list', 'watch']) assert.ok(permits(both, 'tracegate', 'tracegate-recorder', { verb, group: 'tracegate.io', resource: 'tracegatepolicies', ns: '' }), verb);
    for (const verb of ['get', 'update', 'patch']) {
      for (const resource of ['tracegatepolicies', 'tracegatepolicies/status']) assert.equal(permits(both, 'tracegate', 'tracegate-recorder', { verb, group: 'tracegate.io', resource, ns: '' }), false, `${verb} ${resource}`);
    }
  });

  it('installs the PolicyReport CRDs as manifests/crds has them, kept on uninstall, and none with audit.installCRDs=false', async () => {
    const docs = await render();
    const source = parseAllDocuments(await readFile(join(root, 'manifests', 'crds', 'wgpolicyk8s-policyreports.yaml'), 'utf8')).map((d) => d.toJS() as Obj);
    assert.deepEqual(source.map((d) => d.metadata.name).sort(), ['clusterpolicyreports.wgpolicyk8s.io', 'policyreports.wgpolicyk8s.io']);
    for (const crd of source) {
      const rendered = named(docs, 'CustomResourceDefinition', crd.metadata.name);
      assert.deepEqual(rendered.spec, crd.spec, crd.metadata.name);
      assert.deepEqual(rendered.metadata.annotations, { 'helm.sh/resource-policy': 'keep' });
    }
    for (const sets of [['audit.installCRDs=false'], ['audit.enabled=false']]) {
      assert.equal((await render(sets)).some((d) => d.kind === 'CustomResourceDefinition'), false, sets.join(' '));
    }
  });

  it('audit.enabled=false: --audit-interval=0 and no Pod or PolicyReport rights', async () => {
    // No policy installed by the chart is no reason to stop: TracegatePolicy objects applied later are followed live.
    assert.equal(flag(recorderContainer(await render(['policies.bundled=false'])), 'audit-interval'), '1h');
    for (const sets of [['audit.enabled=false']]) {
      const docs = await render(sets);
      assert.equal(flag(recorderContainer(docs), 'audit-interval'), '0', sets.join(' '));
      assert.equal((recorderContainer(docs).args as string[]).some((a) => a.startsWith('--policies') || a.startsWith('--policy-source') || a.startsWith('--tenant-label')), false);
      assert.equal(docs.some((d) => d.kind === 'ConfigMap' || d.metadata.name.startsWith('tracegate-recorder-audit')), false, sets.join(' '));
      assert.equal(buildRecordConfig({ flags: { auditInterval: '0' }, env: {}, hostname: 'h' }).auditIntervalSeconds, 0, 'the recorder reads 0 as off');
    }
  });

  it('the recorder may write PolicyReports and the ClusterPolicyReport, no other wgpolicyk8s.io kind, and never patch or watch them', async () => {
    for (const sets of [[], ['recorder.namespaces={team-a,team-b}']]) {
      const docs = await render(sets);
      const sa = 'tracegate-recorder';
      const reports = [...grantedResources(docs, 'tracegate', sa)].filter((r) => r.startsWith('wgpolicyk8s.io/')).sort();
      assert.deepEqual(reports, ['wgpolicyk8s.io/clusterpolicyreports', 'wgpolicyk8s.io/policyreports']);
      const where = sets.length ? 'team-a' : 'shop';
      for (const verb of ['get', 'list', 'create', 'update', 'delete']) assert.ok(permits(docs, 'tracegate', sa, { verb, group: 'wgpolicyk8s.io', resource: 'policyreports', ns: where, name: 'tracegate' }), `${verb} policyreports`);
      for (const verb of ['get', 'list', 'create', 'update']) assert.ok(permits(docs, 'tracegate', sa, { verb, group: 'wgpolicyk8s.io', resource: 'clusterpolicyreports', ns: '', name: 'tracegate' }), `${verb} clusterpolicyreports`);
      for (const verb of ['patch', 'watch', 'deletecollection']) assert.equal(permits(docs, 'tracegate', sa, { verb, group: 'wgpolicyk8s.io', resource: 'policyreports', ns: where, name: 'tracegate' }), false, verb);
      assert.equal(permits(docs, 'tracegate', sa, { verb: 'delete', group: 'wgpolicyk8s.io', resource: 'clusterpolicyreports', ns: '', name: 'tracegate' }), false, 'the summary is never deleted');
      assert.ok(permits(docs, 'tracegate', sa, { verb: 'list', group: '', resource: 'pods', ns: where }), 'bare Pods are audited');
      for (const verb of ['get', 'watch', 'create', 'update', 'patch', 'delete']) assert.equal(permits(docs, 'tracegate', sa, { verb, group: '', resource: 'pods', ns: where, name: 'p' }), false, `${verb} pods`);
      if (sets.length) {
        // Bound per namespace: nothing of the audit reaches another namespace, and Secrets stay where the recorder records.
        assert.equal(permits(docs, 'tracegate', sa, { verb: 'create', group: 'wgpolicyk8s.io', resource: 'policyreports', ns: 'other' }), false);
        assert.equal(permits(docs, 'tracegate', sa, { verb: 'list', group: '', resource: 'pods', ns: 'other' }), false);
        assert.equal(permits(docs, 'tracegate', sa, { verb: 'get', group: '', resource: 'namespaces', ns: 'team-a', name: 'team-a' }), true, "a RoleBinding grants get on its own Namespace object");
        for (const ns of ['other', '']) assert.equal(permits(docs, 'tracegate', sa, { verb: 'get', group: '', resource: 'secrets', ns, name: 'x' }), false, `secrets in ${ns || 'every namespace'}`);
      }
    }
  });

  it("rejects an interval the recorder would refuse with helm's schema error", async () => {
    for (const bad of ['1.5h', 'soon', '90', 'h']) {
      const res = await helm(tools.helm, ['template', 't', chartDir, '--set-string', `audit.interval=${bad}`]);
      assert.notEqual(res.code, 0, bad);
      assert.match(res.stderr, /audit\/interval/, `${bad}: ${res.stderr}`);
    }
    for (const good of ['30m', '1h', '1h30m', '45s']) assert.ok(buildRecordConfig({ flags: { auditInterval: good }, env: {}, hostname: 'h' }).auditIntervalSeconds > 0, good);
  });
});

describe("the reviewer's web view (ui.*)", () => {
  const SA = 'tracegate-ui';
  const UI_ROLE = (policies: boolean): Obj[] => [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['list'] },
    ...(policies ? [{ apiGroups: ['tracegate.io'], resources: ['tracegatepolicies'], verbs: ['list', 'watch'] }] : []),
  ];
  const UI_RECORDS: Obj[] = [
    { apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['secrets'], verbs: ['list'] },
    { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get'] },
    { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get'] },
    { apiGroups: [''], resources: ['replicationcontrollers', 'pods'], verbs: ['get'] },
    { apiGroups: ['wgpolicyk8s.io'], resources: ['policyreports'], verbs: ['list'] },
  ];

  it('is off by default: nothing of it renders', async () => {
    const docs = await render();
    assert.deepEqual(docs.filter((d) => d.metadata.labels?.['app.kubernetes.io/component'] === 'ui' || d.metadata.name.startsWith('tracegate-ui')).map((d) => d.kind), []);
  });

  it('ui.enabled: a Deployment, its Service, ServiceAccount, RBAC and NetworkPolicy; a PDB only with more than one replica', async () => {
    const ns = 'policy-system';
    const docs = await render(['ui.enabled=true'], ns);
    const mine = docs.filter((d) => d.metadata.name.startsWith('tracegate-ui')).map((d) => `${d.kind} ${d.metadata.name}`).sort();
    assert.deepEqual(mine, [
      'ClusterRole tracegate-ui', 'ClusterRole tracegate-ui-records', 'ClusterRoleBinding tracegate-ui', 'ClusterRoleBinding tracegate-ui-records',
      'Deployment tracegate-ui', 'NetworkPolicy tracegate-ui', 'Service tracegate-ui', 'ServiceAccount tracegate-ui',
    ]);
    for (const d of docs) if (!CLUSTER_SCOPED.has(d.kind)) assert.equal(d.metadata.namespace, ns, `${d.kind} ${d.metadata.name}`);
    const dep = named(docs, 'Deployment', 'tracegate-ui');
    assert.equal(dep.spec.replicas, 1);
    const two = await render(['ui.enabled=true', 'ui.replicas=2']);
    const pdb = named(two, 'PodDisruptionBudget', 'tracegate-ui');
    assert.deepEqual(pdb.spec.selector, named(two, 'Deployment', 'tracegate-ui').spec.selector);
    assert.equal(pdb.spec.minAvailable, 1);
    assert.equal((await render(['ui.enabled=true', 'ui.replicas=2', 'ui.pdb.enabled=false'])).some((d) => d.kind === 'PodDisruptionBudget' && d.metadata.name === 'tracegate-ui'), false);
  });

  it('runs `tracegate ui` non-root from a read-only root, bounded, probed on /healthz over HTTPS on the port the Service targets', async () => {
    const docs = await render(['ui.enabled=true', 'policies.source=both', 'tenantLabel=example.com/team', 'logLevel=debug']);
    const dep = named(docs, 'Deployment', 'tracegate-ui');
    const pod = dep.spec.template.spec;
    const c = uiContainer(docs);
    assert.equal(c.args[0], 'ui');
    assert.equal(c.image, gateContainer(docs).image, 'one image');
    assert.equal(pod.serviceAccountName, SA);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory);
    const port = (c.ports as Obj[]).find((p) => p.name === 'https');
    assert.ok(port, 'an https port');
    assert.equal(flag(c, 'listen'), `0.0.0.0:${port.containerPort}`);
    for (const probe of [c.livenessProbe, c.readinessProbe]) assert.deepEqual(probe.httpGet, { path: '/healthz', port: 'https', scheme: 'HTTPS' });
    const svc = named(docs, 'Service', 'tracegate-ui');
    assert.deepEqual(svc.spec.selector, dep.spec.selector.matchLabels);
    assert.deepEqual(svc.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    // Its pods are its own: neither the gate's Service, PDB or Deployment nor the recorder's select them.
    const labels = dep.spec.template.metadata.labels as Record<string, string>;
    for (const other of [named(docs, 'Deployment', 'tracegate'), named(docs, 'Deployment', 'tracegate-recorder')]) {
      assert.equal(Object.entries(other.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v), false, other.metadata.name);
    }
    assert.equal(flag(c, 'tenant-label'), 'example.com/team');
    assert.equal(flag(c, 'log-level'), 'debug');
    assert.equal(flag(c, 'policy-source'), 'both');
    assert.equal(await runUiCommand([...(c.args as string[]).slice(1), '--help'], quietIo), 0, 'the flags parse as tracegate ui options');
    assert.ok(UI_USAGE.includes('--cert-dir'));
    const files = await render(['ui.enabled=true', 'policies.source=files']);
    assert.equal(flag(uiContainer(files), 'policy-source'), undefined, "files: the UI's default, the image's bundled policies");
  });

  it("is admitted by tracegate's own bundled policies, as the gate's and the recorder's Deployments are (provenance, limits, a pinned image)", async () => {
    const docs = await render(['ui.enabled=true']);
    const policies = await (await policyLoader()).load([join(root, 'policies')], root);
    const flux: RequestContext = {
      operation: 'CREATE',
      namespace: 'tracegate',
      username: 'system:serviceaccount:flux-system:kustomize-controller',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:flux-system', 'system:authenticated'],
      fieldManager: 'kustomize-controller',
    };
    const dep = named(docs, 'Deployment', 'tracegate-ui');
    const result = evaluate(policies, flux, dep as KubeObject, null);
    assert.deepEqual(result.violations.map((v) => `${v.policy}/${v.rule}: ${v.message}`), []);
    assert.equal(result.verdict, 'allow');
    const bare = structuredClone(dep);
    delete bare.spec.template.metadata.annotations;
    assert.equal(evaluate(policies, flux, bare as KubeObject, null).verdict, 'deny', 'the check has teeth');
  });

  it('TLS: ephemeral (per pod, in memory), a Secret of yours, or cert-manager; cert-manager without an issuer is an error', async () => {
    const eph = await render(['ui.enabled=true']);
    const ec = uiContainer(eph);
    assert.equal(flag(ec, 'cert-dir'), '/var/run/tracegate-ui/certs');
    assert.equal(flag(ec, 'tls-dir'), undefined);
    assert.deepEqual(named(eph, 'Deployment', 'tracegate-ui').spec.template.spec.volumes, [{ name: 'certs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }]);
    assert.deepEqual(ec.volumeMounts, [{ name: 'certs', mountPath: '/var/run/tracegate-ui/certs' }]);

    const own = await render(['ui.enabled=true', 'ui.tls.mode=secret', 'ui.tls.secretName=corp-ui-tls']);
    const oc = uiContainer(own);
    assert.equal(flag(oc, 'tls-dir'), '/etc/tracegate/ui-tls');
    assert.equal(flag(oc, 'cert-dir'), undefined);
    assert.deepEqual(named(own, 'Deployment', 'tracegate-ui').spec.template.spec.volumes, [{ name: 'tls', secret: { secretName: 'corp-ui-tls', defaultMode: 0o440 } }]);
    assert.deepEqual(oc.volumeMounts, [{ name: 'tls', mountPath: '/etc/tracegate/ui-tls', readOnly: true }]);
    assert.equal(await runUiCommand([...(oc.args as string[]).slice(1), '--help'], quietIo), 0);

    const cm = await render(['ui.enabled=true', 'ui.tls.mode=cert-manager', 'certs.mode=cert-manager', 'ui.tls.dnsNames={review.example.com}'], 'policy-system');
    const cert = named(cm, 'Certificate', 'tracegate-ui');
    assert.equal(cert.spec.secretName, 'tracegate-ui-tls');
    assert.deepEqual(cert.spec.dnsNames, ['tracegate-ui', 'tracegate-ui.policy-system', 'tracegate-ui.policy-system.svc', 'localhost', 'review.example.com']);
    assert.deepEqual(cert.spec.issuerRef, { kind: 'Issuer', name: 'tracegate-ca' });
    assert.equal(named(cm, 'Deployment', 'tracegate-ui').spec.template.spec.volumes[0].secret.secretName, 'tracegate-ui-tls');
    const issued = await render(['ui.enabled=true', 'ui.tls.mode=cert-manager', 'ui.tls.issuerRef.name=corp', 'ui.tls.issuerRef.kind=ClusterIssuer']);
    assert.deepEqual(named(issued, 'Certificate', 'tracegate-ui').spec.issuerRef, { kind: 'ClusterIssuer', name: 'corp' });
    const none = await helm(tools.helm, ['template', 't', chartDir, '--set', 'ui.enabled=true', '--set', 'ui.tls.mode=cert-manager']);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /ui\.tls\.mode cert-manager needs ui\.tls\.issuerRef/);
  });

  it('RBAC: the two reviews, tenants and policies cluster-wide; the records it renders read-only, bound where the recorder records', async () => {
    const docs = await render(['ui.enabled=true']);
    assert.deepEqual(grants(docs, 'tracegate', SA), { 'ClusterRole tracegate-ui': UI_ROLE(true), 'ClusterRole tracegate-ui-records': UI_RECORDS });
    assert.deepEqual(grants(await render(['ui.enabled=true', 'policies.source=files']), 'tracegate', SA), { 'ClusterRole tracegate-ui': UI_ROLE(false), 'ClusterRole tracegate-ui-records': UI_RECORDS });
    const scoped = await render(['ui.enabled=true', 'recorder.namespaces={team-a,team-b}']);
    assert.deepEqual(grants(scoped, 'tracegate', SA), {
      'ClusterRole tracegate-ui': UI_ROLE(true),
      'ClusterRole tracegate-ui-records@team-a': UI_RECORDS,
      'ClusterRole tracegate-ui-records@team-b': UI_RECORDS,
    });
    for (const d of [docs, scoped]) {
      for (const resource of ['tokenreviews', 'subjectaccessreviews']) {
        const group = resource === 'tokenreviews' ? 'authentication.k8s.io' : 'authorization.k8s.io';
        assert.ok(permits(d, 'tracegate', SA, { verb: 'create', group, resource, ns: '' }), `create ${resource}`);
      }
      // Read-only: every verb it holds is a read, but for the two reviews (which store nothing).
      for (const rules of Object.values(grants(d, 'tracegate', SA))) {
        for (const r of rules) if (!['tokenreviews', 'subjectaccessreviews'].includes(r.resources[0])) assert.deepEqual((r.verbs as string[]).filter((v) => !['get', 'list', 'watch'].includes(v)), [], JSON.stringify(r));
      }
      // Never acts as someone else, never reads the policies' status writes or the recorder's Lease.
      for (const resource of ['users', 'groups', 'serviceaccounts']) assert.equal(permits(d, 'tracegate', SA, { verb: 'impersonate', group: '', resource, ns: '' }), false, `impersonate ${resource}`);
      assert.equal(permits(d, 'tracegate', SA, { verb: 'update', group: 'tracegate.io', resource: 'tracegatepolicies/status', ns: '' }), false);
    }
    // With recorder.namespaces, no Secret outside them.
    for (const ns of ['other', 'kube-system', '']) assert.equal(permits(scoped, 'tracegate', SA, { verb: 'list', group: '', resource: 'secrets', ns }), false, `secrets in ${ns || 'every namespace'}`);
    assert.equal(permits(docs, 'tracegate', SA, { verb: 'get', group: '', resource: 'secrets', ns: 'team-a', name: 'x' }), false, 'Helm records are listed by label, never read one by name');
    assert.ok(permits(scoped, 'tracegate', SA, { verb: 'list', group: '', resource: 'secrets', ns: 'team-a' }));
  });

  it('NetworkPolicy: nobody on the pod network by default (port-forward still works), networkPolicy.uiFrom on its port only', async () => {
    const docs = await render(['ui.enabled=true']);
    const np = named(docs, 'NetworkPolicy', 'tracegate-ui');
    assert.deepEqual(np.spec.podSelector, named(docs, 'Deployment', 'tracegate-ui').spec.selector);
    assert.deepEqual(np.spec.ingress, []);
    const open = await render(['ui.enabled=true', 'networkPolicy.uiFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=ingress-nginx']);
    assert.deepEqual(named(open, 'NetworkPolicy', 'tracegate-ui').spec.ingress, [
      { ports: [{ port: 9443, protocol: 'TCP' }], from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }] },
    ]);
    assert.equal((await render(['ui.enabled=true', 'networkPolicy.enabled=false'])).some((d) => d.kind === 'NetworkPolicy'), false);
  });

  it('passes helm lint --strict (helm 4 and helm 3) with the web view in each TLS mode, and refuses unknown ui values', async () => {
    const modes = [['ui.enabled=true'], ['ui.enabled=true', 'ui.replicas=2', 'ui.tls.mode=secret'], ['ui.enabled=true', 'certs.mode=cert-manager', 'ui.tls.mode=cert-manager', 'recorder.namespaces={a}']];
    for (const bin of [tools.helm, tools.helm3]) {
      for (const sets of modes) {
        const res = await helm(bin, ['lint', '--strict', chartDir, ...sets.flatMap((s) => ['--set', s])]);
        assert.equal(res.code, 0, `${bin} lint ${sets.join(' ')}:\n${res.stdout}${res.stderr}`);
      }
      for (const bad of ['ui.port=80', 'ui.tls.mode=self', 'ui.replicas=0']) {
        const res = await helm(bin, ['template', 't', chartDir, '--set', bad]);
        assert.notEqual(res.code, 0, `${bad} is refused`);
        assert.match(res.stderr, /values don't meet the specifications of the schema/, `${bin} ${bad}: ${res.stderr}`);
      }
    }
  });
});
