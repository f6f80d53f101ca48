/**
 * The cluster-wide install: `manifests/` rendered by the real kubectl (`kubectl kustomize`), checked
 * for the safety properties the webhooks and the Deployments (gate and recorder) must have, the
 * recorder's RBAC checked against every request a real recorder makes, and both Deployments evaluated
 * against tracegate's own bundled policies.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { CliIo } from '../../src/cli/io.js';
import { RECORD_USAGE, runRecordCommand } from '../../src/cli/record.js';
import { CONFIG_DEFAULTS } from '../../src/config.js';
import { parseImageRef } from '../../src/images/index.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { bundledPoliciesDir, policySchemaPath } from '../../src/paths.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';
import { compareQuantities, parseQuantity } from '../../src/quantities/index.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import { createRecorderHarness } from '../support/recorder-harness.js';
import { ensureRealTools } from '../support/tools.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const manifestsDir = join(repoRoot, 'manifests');
const NS = 'tracegate';
const EXCLUDED = ['kube-system', 'kube-node-lease', NS];

/** Loose view of the rendered objects: tests walk them as plain JSON. */
type Obj = Record<string, any>;

let docs: Obj[] = [];

before(async () => {
  const tools = await ensureRealTools();
  const rendered = await createKubectlLocal(tools).kustomize(manifestsDir);
  docs = parseAllDocuments(rendered).map((d) => d.toJS() as Obj);
});

function all(kind: string): Obj[] {
  return docs.filter((d) => d.kind === kind);
}

function one(kind: string): Obj {
  const found = all(kind);
  assert.equal(found.length, 1, `expected exactly one ${kind}, found ${found.length}`);
  return found[0]!;
}

/** The object of `kind` named `name` (the gate's and the recorder's objects share kinds). */
function named(kind: string, name: string): Obj {
  const found = all(kind).filter((d) => d.metadata.name === name);
  assert.equal(found.length, 1, `expected exactly one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

/** The gate's Deployment. */
function gateDeployment(): Obj {
  return named('Deployment', 'tracegate');
}

/** The recorder's Deployment. */
function recorderDeployment(): Obj {
  return named('Deployment', 'tracegate-recorder');
}

function webhooks(): { kind: string; hook: Obj }[] {
  return ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].flatMap((kind) =>
    all(kind).flatMap((c) => (c.webhooks as Obj[]).map((hook) => ({ kind, hook }))),
  );
}

function hook(name: string): Obj {
  const found = webhooks().find((w) => w.hook.name === name);
  assert.ok(found, `webhook ${name} exists`);
  return found.hook;
}

/** Does an admission rule select `group/resource` (optionally with a subresource), with apiserver wildcard semantics? */
function ruleSelects(rule: Obj, group: string, resource: string, sub?: string): boolean {
  const groups: string[] = rule.apiGroups ?? [];
  const resources: string[] = rule.resources ?? [];
  if (!groups.includes('*') && !groups.includes(group)) return false;
  const wanted = sub ? `${resource}/${sub}` : resource;
  return resources.some((r) => {
    if (r === '*/*' || r === wanted) return true;
    if (r === '*') return !sub; // "*" is every resource but no subresource
    const [res, s] = r.split('/');
    return sub !== undefined && ((res === '*' && s === sub) || (res === resource && s === '*'));
  });
}

function podLabels(): Record<string, string> {
  return gateDeployment().spec.template.metadata.labels as Record<string, string>;
}

function selects(selector: Obj | undefined, labels: Record<string, string>): boolean {
  const match = (selector?.matchLabels ?? {}) as Record<string, string>;
  return Object.keys(match).length > 0 && Object.entries(match).every(([k, v]) => labels[k] === v);
}

describe('manifests/ rendered with the real kubectl kustomize', () => {
  it('renders the whole install and nothing that needs a secret value', () => {
    const kinds = docs.map((d) => d.kind as string).sort();
    assert.deepEqual(kinds, [
      'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'Deployment', 'Deployment',
      'MutatingWebhookConfiguration', 'Namespace', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service',
      'ServiceAccount', 'ServiceAccount', 'ValidatingWebhookConfiguration',
    ]);
    for (const d of docs.filter((x) => ['Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'].includes(x.kind))) {
      assert.equal(d.metadata.namespace, NS, `${d.kind} ${d.metadata.name} is in ${NS}`);
    }
  });

  it('labels the namespace so the webhooks can exclude it, and enforces restricted pod security', () => {
    const ns = one('Namespace');
    assert.equal(ns.metadata.name, NS);
    assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], NS);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  it('grants only get/list/watch on namespaces, cluster-wide, to the gate ServiceAccount', () => {
    const sa = named('ServiceAccount', 'tracegate');
    const bindings = [...all('ClusterRoleBinding'), ...all('RoleBinding')].filter((b) => (b.subjects as Obj[]).some((x) => x.name === sa.metadata.name));
    assert.equal(bindings.length, 1, 'one binding for the gate');
    const [binding] = bindings;
    assert.equal(binding!.kind, 'ClusterRoleBinding');
    const role = named('ClusterRole', binding!.roleRef.name);
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }]);
    assert.deepEqual(binding!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    assert.deepEqual(binding!.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NS }]);
    assert.equal(gateDeployment().spec.template.spec.serviceAccountName, sa.metadata.name);
  });

  it('runs three spread-out replicas protected by a PodDisruptionBudget of 2', () => {
    const dep = gateDeployment();
    assert.equal(dep.spec.replicas, 3);
    assert.ok(selects(dep.spec.selector, podLabels()), 'the selector matches the pod template');
    const pod = dep.spec.template.spec;
    const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution as Obj[];
    assert.ok(anti.some((t) => t.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && selects(t.podAffinityTerm.labelSelector, podLabels())));
    assert.equal(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, undefined, 'preferred, not required');
    const spread = pod.topologySpreadConstraints as Obj[];
    assert.ok(spread.length > 0 && spread.every((c) => selects(c.labelSelector, podLabels()) && c.maxSkew >= 1));
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0, 'rollouts never drop below three replicas');

    const pdb = one('PodDisruptionBudget');
    assert.equal(pdb.apiVersion, 'policy/v1');
    assert.equal(pdb.spec.minAvailable, 2);
    assert.ok(pdb.spec.minAvailable < dep.spec.replicas, 'a drain can still evict one replica');
    assert.deepEqual(pdb.spec.selector, dep.spec.selector);
  });

  it('runs the gate under the restricted pod security profile', () => {
    const pod = gateDeployment().spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork ?? false, false);
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])] as Obj[]) {
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false, c.name);
      assert.equal(sc.readOnlyRootFilesystem, true, c.name);
      assert.deepEqual(sc.capabilities.drop, ['ALL'], c.name);
      assert.equal(sc.capabilities.add, undefined, c.name);
      assert.notEqual(sc.privileged, true, c.name);
    }
  });

  it('probes /healthz and /readyz over HTTPS on 8443 and bounds cpu and memory', () => {
    const [gate, ...rest] = gateDeployment().spec.template.spec.containers as Obj[];
    assert.ok(gate);
    assert.equal(rest.length, 0);
    const port = (gate.ports as Obj[]).find((p) => p.containerPort === CONFIG_DEFAULTS.port);
    assert.ok(port, 'the container exposes the gate port');
    const portOf = (p: number | string) => (typeof p === 'number' ? p : (gate.ports as Obj[]).find((x) => x.name === p)?.containerPort);
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
      const get: Obj = gate[probe].httpGet;
      assert.equal(get.path, path);
      assert.equal(get.scheme, 'HTTPS');
      assert.equal(portOf(get.port), CONFIG_DEFAULTS.port);
    }
    for (const res of ['cpu', 'memory']) {
      const req = parseQuantity(gate.resources.requests[res]);
      const lim = parseQuantity(gate.resources.limits[res]);
      assert.ok(req.ok && lim.ok, `${res} request and limit are quantities`);
      assert.ok(compareQuantities(req.value, lim.value) <= 0, `${res} request ≤ limit`);
    }
  });

  it('pins the image to the package version, never latest', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    const image = (gateDeployment().spec.template.spec.containers as Obj[])[0]!.image as string;
    const ref = parseImageRef(image);
    assert.ok(ref.ok, image);
    assert.equal(ref.value.tag, pkg.version);
  });

  it('serves TLS from the tracegate-tls Secret, mounted read-only as a directory that renewals reach', () => {
    const pod = gateDeployment().spec.template.spec;
    const volume = (pod.volumes as Obj[]).find((v) => v.secret?.secretName === 'tracegate-tls');
    assert.ok(volume, 'a volume from Secret tracegate-tls');
    assert.equal(volume.secret.defaultMode & 0o007, 0, 'the key is not world-readable');
    const gate = (pod.containers as Obj[])[0]!;
    const mount = (gate.volumeMounts as Obj[]).find((m) => m.name === volume.name);
    assert.ok(mount);
    assert.equal(mount.readOnly, true);
    assert.equal(mount.subPath, undefined, 'subPath mounts never see a renewed certificate');
    assert.equal(gate.args[0], 'serve');
    assert.ok(gate.args.includes(`--tls-cert=${mount.mountPath}/tls.crt`), gate.args.join(' '));
    assert.ok(gate.args.includes(`--tls-key=${mount.mountPath}/tls.key`), gate.args.join(' '));
  });

  it('gives the gate longer to stop than its shutdown delay plus drain', () => {
    const grace = gateDeployment().spec.template.spec.terminationGracePeriodSeconds as number;
    assert.ok(grace * 1000 > CONFIG_DEFAULTS.shutdownDelayMs + CONFIG_DEFAULTS.shutdownGraceMs, `${grace}s`);
  });

  it('exposes the gate on Service port 443 → container 8443', () => {
    const svc = one('Service');
    assert.ok(selects({ matchLabels: svc.spec.selector }, podLabels()));
    const [port] = svc.spec.ports as Obj[];
    assert.equal(port?.port, 443);
    const gate = (gateDeployment().spec.template.spec.containers as Obj[])[0]!;
    const target = typeof port?.targetPort === 'number' ? port.targetPort : (gate.ports as Obj[]).find((p) => p.name === port?.targetPort)?.containerPort;
    assert.equal(target, CONFIG_DEFAULTS.port);
  });
});

describe('webhook configurations', () => {
  it('speak v1, have no side effects, short timeouts, Equivalent matching and an explicit failure policy', () => {
    const hooks = webhooks();
    assert.equal(hooks.length, 3);
    const svc = one('Service');
    for (const { hook: h } of hooks) {
      assert.deepEqual(h.admissionReviewVersions, ['v1'], h.name);
      assert.equal(h.sideEffects, 'None', h.name);
      assert.ok(Number.isInteger(h.timeoutSeconds) && h.timeoutSeconds >= 1 && h.timeoutSeconds <= 5, `${h.name}: ${h.timeoutSeconds}s`);
      assert.equal(h.matchPolicy, 'Equivalent', h.name);
      assert.ok(h.failurePolicy === 'Fail' || h.failurePolicy === 'Ignore', h.name);
      assert.deepEqual(h.clientConfig.service, { name: svc.metadata.name, namespace: NS, path: h.clientConfig.service.path, port: 443 }, h.name);
      assert.equal(h.clientConfig.caBundle, undefined, `${h.name}: the caBundle comes from tracegate certs`);
      assert.equal(h.objectSelector, undefined, `${h.name}: relabelling must not skip the gate`);
    }
  });

  it('exclude kube-system, kube-node-lease and tracegate by the apiserver-set name label', () => {
    for (const { hook: h } of webhooks()) {
      const exprs = h.namespaceSelector.matchExpressions as Obj[];
      const byName = exprs.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn');
      assert.ok(byName, h.name);
      for (const ns of EXCLUDED) assert.ok(byName.values.includes(ns), `${h.name} excludes ${ns}`);
    }
  });

  it('never match leader-election or control-plane resources, and use no wildcards', () => {
    const critical: [string, string][] = [
      ['coordination.k8s.io', 'leases'], ['', 'configmaps'], ['', 'endpoints'], ['', 'secrets'],
      ['discovery.k8s.io', 'endpointslices'], ['', 'pods'], ['', 'namespaces'], ['', 'nodes'],
    ];
    for (const { hook: h } of webhooks()) {
      for (const rule of h.rules as Obj[]) {
        for (const field of ['apiGroups', 'apiVersions', 'resources', 'operations']) {
          assert.ok((rule[field] as string[]).every((v) => !v.includes('*')), `${h.name}.${field}: ${rule[field]}`);
        }
        for (const [group, resource] of critical) assert.equal(ruleSelects(rule, group, resource), false, `${h.name} matches ${group}/${resource}`);
      }
    }
  });

  it('mutate Deployments CREATE/UPDATE, failing open and re-invoked when needed', () => {
    const h = hook('mutate.tracegate.io');
    assert.equal(h.clientConfig.service.path, '/mutate');
    assert.equal(h.failurePolicy, 'Ignore');
    assert.equal(h.reinvocationPolicy, 'IfNeeded');
    assert.deepEqual(h.rules, [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }]);
  });

  it('validate Deployments CREATE/UPDATE failing closed, and observe deployments/scale failing open', () => {
    const v = hook('validate.tracegate.io');
    assert.equal(v.clientConfig.service.path, '/validate');
    assert.equal(v.failurePolicy, 'Fail');
    assert.deepEqual(v.rules, [{ apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }]);
    assert.equal(ruleSelects((v.rules as Obj[])[0]!, 'apps', 'deployments', 'scale'), false, 'the enforcing webhook never blocks scaling');

    const s = hook('scale.validate.tracegate.io');
    assert.equal(s.clientConfig.service.path, '/validate');
    assert.equal(s.failurePolicy, 'Ignore', 'a gate outage must not stop the HPA or kubectl scale');
    assert.ok(s.timeoutSeconds <= v.timeoutSeconds);
    assert.ok((s.rules as Obj[]).every((r) => ruleSelects(r, 'apps', 'deployments', 'scale') && !ruleSelects(r, 'apps', 'deployments')));
    assert.equal(ruleSelects(hook('mutate.tracegate.io').rules[0], 'apps', 'deployments', 'scale'), false);
  });

  it('explain each failure policy and the deployments/scale decision in a comment', () => {
    const source = readFileSync(join(manifestsDir, 'webhooks.yaml'), 'utf8');
    let checked = 0;
    for (const doc of parseAllDocuments(source)) {
      const seq = doc.get('webhooks');
      assert.ok(isSeq(seq));
      for (const item of seq.items) {
        assert.ok(isMap(item));
        const pair = item.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === 'failurePolicy');
        assert.ok(pair && isScalar(pair.key) && isScalar(pair.value));
        const why = `${item.commentBefore ?? ''}\n${pair.key.commentBefore ?? ''}`;
        assert.ok(why.includes(String(pair.value.value)), `${String(item.get('name'))}: a comment explains failurePolicy ${String(pair.value.value)}`);
        if (String(item.get('name')).startsWith('scale.')) assert.match(why, /deployments\/scale/);
        checked++;
      }
    }
    assert.equal(checked, 3);
  });
});

describe('the recorder install (manifests/recorder)', () => {
  const SA = 'tracegate-recorder';

  function recorderPod(): Obj {
    return recorderDeployment().spec.template.spec;
  }

  function recorderContainer(): Obj {
    const [container, ...rest] = recorderPod().containers as Obj[];
    assert.ok(container);
    assert.equal(rest.length, 0);
    return container;
  }

  /** The value of `--name=value` in the container args, if given. */
  function flag(name: string): string | undefined {
    const arg = (recorderContainer().args as string[]).find((a) => a.startsWith(`--${name}=`));
    return arg?.slice(name.length + 3);
  }

  /** Every RBAC rule granted to the recorder's ServiceAccount, with the namespace it applies in (undefined: all). */
  function grants(): { namespace: string | undefined; rule: Obj }[] {
    const out: { namespace: string | undefined; rule: Obj }[] = [];
    for (const binding of [...all('ClusterRoleBinding'), ...all('RoleBinding')]) {
      if (!(binding.subjects as Obj[]).some((x) => x.kind === 'ServiceAccount' && x.name === SA && x.namespace === NS)) continue;
      const role = binding.roleRef.kind === 'ClusterRole' ? named('ClusterRole', binding.roleRef.name) : named('Role', binding.roleRef.name);
      if (binding.roleRef.kind === 'Role') assert.equal(role.metadata.namespace, binding.metadata.namespace);
      const namespace = binding.kind === 'RoleBinding' ? (binding.metadata.namespace as string) : undefined;
      for (const rule of role.rules as Obj[]) out.push({ namespace, rule });
    }
    return out;
  }

  /** RBAC's decision for one request attribute set (no aggregation, no wildcards: the manifests use none). */
  function permits(group: string, resource: string, verb: string, namespace: string, name: string | undefined): boolean {
    return grants().some(
      ({ namespace: scope, rule }) =>
        (scope === undefined || scope === namespace) &&
        (rule.apiGroups as string[]).includes(group) &&
        (rule.resources as string[]).includes(resource) &&
        (rule.verbs as string[]).includes(verb) &&
        (rule.resourceNames === undefined || (name !== undefined && (rule.resourceNames as string[]).includes(name))),
    );
  }

  it('runs two replicas of tracegate record, selected apart from the gate, on the same pinned image', async () => {
    const dep = recorderDeployment();
    assert.equal(dep.metadata.namespace, NS);
    assert.equal(dep.spec.replicas, 2);
    const labels = dep.spec.template.metadata.labels as Record<string, string>;
    assert.ok(selects(dep.spec.selector, labels), 'the selector matches the pod template');
    assert.equal(selects(dep.spec.selector, podLabels()), false, 'the recorder does not adopt gate pods');
    assert.equal(selects(gateDeployment().spec.selector, labels), false, 'the gate does not adopt recorder pods');
    assert.equal(selects({ matchLabels: one('Service').spec.selector }, labels), false, 'the webhook Service never routes to the recorder');
    assert.equal(selects(one('PodDisruptionBudget').spec.selector, labels), false, "the gate's PDB does not count recorder pods");
    assert.equal(dep.spec.strategy.rollingUpdate.maxUnavailable, 0, 'a rollout keeps a replica to take the Lease');
    const container = recorderContainer();
    assert.equal(container.args[0], 'record');
    // The args parse as `tracegate record` options (--help stops right after parsing them).
    let printed = '';
    const io: CliIo = { stdout: (t) => void (printed += t), stderr: () => undefined, readStdin: async () => '', env: {}, cwd: repoRoot };
    assert.equal(await runRecordCommand([...(container.args as string[]).slice(1), '--help'], io), 0);
    assert.equal(printed, RECORD_USAGE);
    assert.equal(container.image, (gateDeployment().spec.template.spec.containers as Obj[])[0]!.image);
    assert.equal(recorderPod().serviceAccountName, SA);
    assert.equal(named('ServiceAccount', SA).metadata.namespace, NS);
  });

  it('runs under the restricted pod security profile with a read-only root filesystem', () => {
    const pod = recorderPod();
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork ?? false, false);
    const sc = recorderContainer().securityContext;
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.capabilities.add, undefined);
    assert.notEqual(sc.privileged, true);
    assert.equal(pod.volumes, undefined, 'nothing to mount: no TLS, no scratch space');
  });

  it('probes /healthz and /readyz on the metrics port, and bounds cpu and memory', () => {
    const container = recorderContainer();
    const metricsPort = Number(flag('metrics-port') ?? 8080);
    const port = (container.ports as Obj[]).find((p) => p.containerPort === metricsPort);
    assert.ok(port, `the container exposes --metrics-port ${metricsPort}`);
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']] as const) {
      const get: Obj = container[probe].httpGet;
      assert.equal(get.path, path);
      assert.equal(get.scheme ?? 'HTTP', 'HTTP');
      assert.ok(get.port === port.name || get.port === metricsPort, `${probe} targets the metrics port`);
    }
    for (const res of ['cpu', 'memory']) {
      const req = parseQuantity(container.resources.requests[res]);
      const lim = parseQuantity(container.resources.limits[res]);
      assert.ok(req.ok && lim.ok, `${res} request and limit are quantities`);
      assert.ok(compareQuantities(req.value, lim.value) <= 0, `${res} request ≤ limit`);
    }
  });

  it('gets its Lease identity and namespace from the downward API', () => {
    const env = recorderContainer().env as Obj[];
    const fieldOf = (name: string) => env.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.equal(fieldOf('POD_NAME'), 'metadata.name');
    assert.equal(fieldOf('POD_NAMESPACE'), 'metadata.namespace');
    assert.equal(flag('identity'), undefined, 'the identity is the pod name');
    assert.equal(flag('lease-namespace'), undefined, 'the Lease lives in the pod namespace');
  });

  it('grants least privilege: watch Deployments, Helm release Secrets, its own Lease; never a Deployment write', () => {
    assert.deepEqual(named('ClusterRole', SA).rules, [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'create', 'update', 'delete'] },
    ]);
    const leaseName = /--lease-name NAME\s+Lease name \(([^)]+)\)/.exec(RECORD_USAGE)?.[1];
    assert.equal(flag('lease-name') ?? leaseName, 'tracegate-recorder');
    const leader = named('Role', 'tracegate-recorder-leader');
    assert.equal(leader.metadata.namespace, NS);
    assert.deepEqual(leader.rules, [
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['tracegate-recorder'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    for (const verb of ['create', 'update', 'patch', 'delete']) assert.equal(permits('apps', 'deployments', verb, 'shop', 'web'), false, verb);
    assert.equal(permits('coordination.k8s.io', 'leases', 'update', 'kube-system', 'kube-controller-manager'), false);
    assert.equal(permits('', 'secrets', 'watch', 'shop', undefined), false);
    const source = readFileSync(join(manifestsDir, 'recorder', 'rbac.yaml'), 'utf8');
    assert.match(source, /RBAC cannot restrict by name prefix/, 'the Secret grant explains why it is that wide');
  });

  it('allows every request a real recorder makes (adopt, record, prune, lease) and nothing it does not need', async () => {
    const h = await createRecorderHarness();
    try {
      h.namespace('shop');
      const user = `system:serviceaccount:${NS}:${SA}`;
      const rec = await h.startRecorder({ namespaces: [], identity: 'tracegate-recorder-0', user, leaseName: 'tracegate-recorder', historyMax: 2 });
      await h.ok(h.tools.kubectl, ['create', 'deployment', 'web', '--image=nginx:1.25', '-n', 'shop']);
      await rec.settled('shop', 'web');
      for (const tag of ['1.26', '1.27']) {
        await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', `nginx=nginx:${tag}`, '-n', 'shop']);
        await rec.settled('shop', 'web');
      }
      await rec.stop();
      // A request is logged when it ends: the informer's watch ends with the stop.
      await h.waitFor('the watch to be logged', () => h.server.requests.some((r) => r.user === user && r.query['watch'] === 'true'));
      assert.deepEqual(h.revisions('shop', 'web').map((r) => r.version), [2, 3], 'pruned to --history-max');
      const used = new Set<string>();
      for (const r of h.server.requests.filter((x) => x.user === user)) {
        const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
        assert.ok(m, `a resource request: ${r.method} ${r.path}`);
        const [, group = '', namespace = '', resource = '', name] = m;
        const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
        const verb = r.method === 'GET' ? (name ? 'get' : r.query['watch'] === 'true' ? 'watch' : 'list') : verbs[r.method]!;
        // A create is authorised before the object (and its name) exists.
        assert.ok(permits(group, resource, verb, namespace, verb === 'create' ? undefined : name), `RBAC allows ${verb} ${group}/${resource} ${namespace}/${name ?? ''}`);
        used.add(`${verb} ${resource}`);
      }
      assert.deepEqual([...used].sort(), [
        'create leases', 'create secrets', 'delete secrets', 'get leases', 'list deployments', 'list secrets',
        'update leases', 'update secrets', 'watch deployments',
      ]);
    } finally {
      await h.close();
    }
  });
});

describe("tracegate's own Deployments (gate and recorder) under the bundled policies", () => {
  let policies: PolicySet;
  before(async () => {
    const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath) });
    policies = await loader.load([bundledPoliciesDir], repoRoot);
  });

  const flux: RequestContext = {
    operation: 'CREATE',
    namespace: NS,
    username: 'system:serviceaccount:flux-system:kustomize-controller',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:flux-system', 'system:authenticated'],
    fieldManager: 'kustomize-controller',
  };

  it('are admitted on CREATE by Flux and by a kubectl apply, with every bundled policy applied', () => {
    const applied = policies.policies.map((p) => p.name).sort();
    assert.ok(applied.includes('provenance') && applied.includes('resources') && applied.includes('image-hygiene'));
    const kubectl: RequestContext = { ...flux, username: 'alice@example.com', groups: ['system:authenticated'], fieldManager: 'kubectl-client-side-apply' };
    for (const dep of [gateDeployment(), recorderDeployment()] as KubeObject[]) {
      for (const ctx of [flux, kubectl]) {
        const result = evaluate(policies, ctx, dep, null);
        assert.deepEqual(result.violations.map((v) => `${v.policy}/${v.rule}: ${v.message}`), [], `${dep.metadata?.name} by ${ctx.username}`);
        assert.equal(result.verdict, 'allow');
        assert.deepEqual(result.applied.map((p) => p.name).sort(), applied);
      }
    }
  });

  function assertDeniedWithout(deployment: Obj): void {
    const bare = structuredClone(deployment) as Obj;
    delete bare.spec.template.metadata.annotations;
    const noProvenance = evaluate(policies, flux, bare as KubeObject, null);
    assert.equal(noProvenance.verdict, 'deny');
    assert.ok(noProvenance.violations.some((v) => v.policy === 'provenance'));

    const unlimited = structuredClone(deployment) as Obj;
    delete unlimited.spec.template.spec.containers[0].resources.limits;
    const noLimits = evaluate(policies, flux, unlimited as KubeObject, null);
    assert.equal(noLimits.verdict, 'deny');
    assert.ok(noLimits.violations.some((v) => v.policy === 'resources'));
  }

  it('would be denied without their provenance annotations or their limits (the check has teeth)', () => {
    for (const deployment of [gateDeployment(), recorderDeployment()]) assertDeniedWithout(deployment);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  it('builds in a separate stage and runs compiled code as the non-root user the Deployment expects', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    assert.equal(froms.length, 2, 'multi-stage');
    assert.match(dockerfile, /ARG NODE_IMAGE=node:20[.\d]*-/);
    for (const step of ['npm ci', 'npm run build', 'npm prune --omit=dev']) assert.ok(dockerfile.includes(step), step);
    const users = lines.filter((l) => l.startsWith('USER '));
    const uid = Number(users.at(-1)?.slice('USER '.length).split(':')[0]);
    assert.ok(uid > 0, 'numeric non-root USER, so runAsNonRoot can be verified');
    assert.equal(gateDeployment().spec.template.spec.securityContext.runAsUser, uid);
    assert.ok(lines.includes('ENTRYPOINT ["node", "/app/bin/tracegate.js"]'));
    assert.ok(lines.includes('CMD ["serve"]'));
  });

  it('keeps keys and local state out of the build context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    assert.equal(ignore.find((l) => l && !l.startsWith('#')), '*', 'allow-list: everything is excluded first');
    for (const secretish of ['certs', 'node_modules', '.cache', 'dist']) assert.ok(!ignore.includes(`!${secretish}`), secretish);
  });
});
