/**
 * The cluster-wide install: `manifests/` rendered by the real kubectl (`kubectl kustomize`), checked
 * for the safety properties the webhooks, the RBAC, the ChangeTrail CRD and the Deployments (gate and
 * recorder) must have, the recorder's RBAC (and the gate's, for its deletion note) checked against every
 * request a real recorder (and the gate's deletion-note writer) makes, and both Deployments evaluated
 * against tracegate's own bundled policies.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { CliIo } from '../../src/cli/io.js';
import { RECORD_USAGE, runRecordCommand } from '../../src/cli/record.js';
import { runServeCommand, SERVE_USAGE } from '../../src/cli/serve.js';
import { CONFIG_DEFAULTS } from '../../src/config.js';
import { parseImageRef } from '../../src/images/index.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { createLogger } from '../../src/log.js';
import { bundledPoliciesDir, policySchemaPath } from '../../src/paths.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';
import { createDeletionWriter } from '../../src/provenance/deletion-writer.js';
import { compareQuantities, parseQuantity } from '../../src/quantities/index.js';
import { MAX_ENTRIES_PER_OBJECT, TRAIL_GROUP, TRAIL_KIND, TRAIL_PLURAL, TRAIL_VERSION } from '../../src/recorder/trail.js';
import { RECORDED_KINDS, WORKLOAD_KIND_TABLE, type WorkloadKindInfo } from '../../src/workload/kinds.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import { createRecorderHarness, PREFIX } from '../support/recorder-harness.js';
import { TEST_KEYRING } from '../support/stamps.js';
import { ensureRealTools } from '../support/tools.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const manifestsDir = join(repoRoot, 'manifests');
const NS = 'tracegate';
const EXCLUDED = ['kube-system', 'kube-node-lease', NS];
/** The gate's and the recorder's ServiceAccounts. */
const GATE_SA = 'tracegate';
const RECORDER_SA = 'tracegate-recorder';
/** The Secret both Deployments read the shared MAC key from, and where they mount it. */
const PROVENANCE_SECRET = 'tracegate-provenance-key';
const PROVENANCE_DIR = '/etc/tracegate/provenance';
/** 0440: owner and fsGroup may read, nobody else (the Secret holds a MAC key). */
const KEY_MODE = 0o440;
const DELETE_HOOK = 'delete.validate.tracegate.io';
/**
 * The matchCondition every enforcing, mutating and deletion webhook carries, whitespace-normalised: skip
 * only when a kube-system identity writes an object with a controller ownerReference. The same text is
 * evaluated by admission-chain-match-conditions.test.ts ("the variant in manifests/webhooks.yaml").
 */
const NOT_A_CONTROLLER_REPLICA =
  "!((request.userInfo.username == 'system:kube-controller-manager' || request.userInfo.username.startsWith('system:serviceaccount:kube-system:')) && " +
  '[object, oldObject].exists(o, o != null && has(o.metadata.ownerReferences) && o.metadata.ownerReferences.exists(r, has(r.controller) && r.controller == true)))';
/** Break-glass past the gate: only a fresh `break-glass-by` naming the requester, a member of the group (manifests/break-glass.yaml). */
const NOT_BREAK_GLASS =
  "!(object != null && has(object.metadata.annotations) && 'tracegate.io/break-glass-by' in object.metadata.annotations && " +
  "object.metadata.annotations['tracegate.io/break-glass-by'].startsWith(request.userInfo.username + '/') && " +
  "request.userInfo.groups.exists(g, g == 'tracegate:break-glass') && (oldObject == null || !has(oldObject.metadata.annotations) || " +
  "!('tracegate.io/break-glass-by' in oldObject.metadata.annotations) || " +
  "oldObject.metadata.annotations['tracegate.io/break-glass-by'] != object.metadata.annotations['tracegate.io/break-glass-by']))";

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

/** `group/resource` of every resource an admission rule list selects for `operation`, sorted. */
function selectedFor(rules: Obj[], operation: string): string[] {
  return rules
    .filter((r) => (r.operations as string[]).includes(operation))
    .flatMap((r) => (r.apiGroups as string[]).flatMap((g) => (r.resources as string[]).map((res) => `${g}/${res}`)))
    .sort();
}

/** `group/plural` of workload kinds, sorted, as `selectedFor` lists them. */
function resourcesOf(kinds: readonly WorkloadKindInfo[], sub = ''): string[] {
  return kinds.map((k) => `${k.group}/${k.plural}${sub}`).sort();
}

/** Every RBAC rule granted to ServiceAccount `sa` of tracegate's namespace, with the namespace it applies in (undefined: all). */
function grantsOf(sa: string): { namespace: string | undefined; rule: Obj }[] {
  const out: { namespace: string | undefined; rule: Obj }[] = [];
  for (const binding of [...all('ClusterRoleBinding'), ...all('RoleBinding')]) {
    if (!(binding.subjects as Obj[]).some((x) => x.kind === 'ServiceAccount' && x.name === sa && x.namespace === NS)) continue;
    const role = binding.roleRef.kind === 'ClusterRole' ? named('ClusterRole', binding.roleRef.name) : named('Role', binding.roleRef.name);
    if (binding.roleRef.kind === 'Role') assert.equal(role.metadata.namespace, binding.metadata.namespace);
    const namespace = binding.kind === 'RoleBinding' ? (binding.metadata.namespace as string) : undefined;
    for (const rule of role.rules as Obj[]) out.push({ namespace, rule });
  }
  return out;
}

/**
 * RBAC's decision for one request of `sa` (exact matches only: the install uses no wildcards, which a
 * test below checks, and its one aggregated role is bound to nobody).
 */
function permits(sa: string, group: string, resource: string, verb: string, namespace: string, name: string | undefined): boolean {
  return grantsOf(sa).some(
    ({ namespace: scope, rule }) =>
      (scope === undefined || scope === namespace) &&
      (rule.apiGroups as string[]).includes(group) &&
      (rule.resources as string[]).includes(resource) &&
      (rule.verbs as string[]).includes(verb) &&
      (rule.resourceNames === undefined || (name !== undefined && (rule.resourceNames as string[]).includes(name))),
  );
}

/** RBAC's verb and attributes of one logged API request (a resource request; fails the test otherwise). */
function requestAttributes(r: { method: string; path: string; query: Record<string, string> }): { verb: string; group: string; namespace: string; resource: string; name: string | undefined } {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
  assert.ok(m, `a resource request: ${r.method} ${r.path}`);
  const [, group = '', namespace = '', resource = '', name] = m;
  const verbs: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  const verb = r.method === 'GET' ? (name ? 'get' : r.query['watch'] === 'true' ? 'watch' : 'list') : verbs[r.method]!;
  return { verb, group, namespace, resource, name };
}

/** The Secret volumes of a pod, as `volume name → Secret name`; fails on any other volume source. */
function secretVolumes(pod: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of (pod.volumes ?? []) as Obj[]) {
    assert.deepEqual(Object.keys(v).sort(), ['name', 'secret'], `volume ${v.name} is a Secret and nothing else`);
    out[v.name] = v.secret.secretName;
  }
  return out;
}

describe('manifests/ rendered with the real kubectl kustomize', () => {
  it('renders the whole install, the ChangeTrail CRD included, and nothing that needs a secret value', () => {
    const kinds = docs.map((d) => d.kind as string).sort();
    assert.deepEqual(kinds, [
      'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ClusterRoleBinding',
      'CustomResourceDefinition', 'Deployment', 'Deployment', 'FlowSchema', 'MutatingWebhookConfiguration', 'Namespace', 'PodDisruptionBudget',
      'PriorityLevelConfiguration', 'Role', 'RoleBinding', 'Service', 'ServiceAccount', 'ServiceAccount', 'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding', 'ValidatingWebhookConfiguration',
    ]);
    assert.deepEqual(all('ClusterRole').map((r) => r.metadata.name).sort(), ['tracegate-deletion-notes', 'tracegate-namespace-reader', 'tracegate-recorder', 'tracegate-trail-viewer']);
    const namespaced = ['Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'];
    for (const d of docs) {
      if (namespaced.includes(d.kind)) assert.equal(d.metadata.namespace, NS, `${d.kind} ${d.metadata.name} is in ${NS}`);
      else assert.equal(d.metadata.namespace, undefined, `${d.kind} ${d.metadata.name} is cluster-scoped`);
    }
    // The TLS and provenance-key Secrets come from `tracegate certs --kustomize`, never from the base.
    assert.equal(all('Secret').length, 0);
  });

  it('labels the namespace so the webhooks can exclude it, and enforces restricted pod security', () => {
    const ns = one('Namespace');
    assert.equal(ns.metadata.name, NS);
    assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], NS);
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  });

  it('grants the gate ServiceAccount only get/list/watch on namespaces and create on events, cluster-wide', () => {
    const sa = named('ServiceAccount', GATE_SA);
    assert.equal(sa.metadata.namespace, NS);
    const bindings = [...all('ClusterRoleBinding'), ...all('RoleBinding')].filter((b) => (b.subjects as Obj[]).some((x) => x.name === sa.metadata.name));
    const rulesByRole: Record<string, Obj[]> = {};
    for (const binding of bindings) {
      assert.equal(binding.kind, 'ClusterRoleBinding', binding.metadata.name);
      const role = named('ClusterRole', binding.roleRef.name);
      assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: NS }], `${binding.metadata.name} binds the gate alone`);
      rulesByRole[role.metadata.name] = role.rules;
    }
    assert.deepEqual(rulesByRole, {
      // The tenancy informer.
      'tracegate-namespace-reader': [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] }],
      // The deletion notes: written, never read back, changed or deleted.
      'tracegate-deletion-notes': [{ apiGroups: [''], resources: ['events'], verbs: ['create'] }],
    });
    for (const verb of ['get', 'list', 'watch', 'update', 'patch', 'delete']) assert.equal(permits(GATE_SA, '', 'events', verb, 'shop', 'web.1'), false, `${verb} events`);
    for (const verb of ['create', 'update', 'patch', 'delete']) assert.equal(permits(GATE_SA, '', 'namespaces', verb, '', 'shop'), false, `${verb} namespaces`);
    assert.equal(gateDeployment().spec.template.spec.serviceAccountName, sa.metadata.name);
  });

  it('uses no RBAC wildcards or non-resource URLs, and binds only its own ServiceAccounts', () => {
    const roles = [...all('ClusterRole'), ...all('Role')];
    for (const role of roles) {
      for (const rule of role.rules as Obj[]) {
        assert.equal(rule.nonResourceURLs, undefined, role.metadata.name);
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames']) {
          assert.ok(((rule[field] ?? []) as string[]).every((v) => !v.includes('*')), `${role.metadata.name}.${field}: ${rule[field]}`);
        }
      }
      assert.equal(role.aggregationRule, undefined, `${role.metadata.name} aggregates nothing into itself`);
    }
    const ownAccounts = all('ServiceAccount').map((sa) => `${sa.metadata.namespace}/${sa.metadata.name}`).sort();
    assert.deepEqual(ownAccounts, [`${NS}/${GATE_SA}`, `${NS}/${RECORDER_SA}`]);
    for (const binding of [...all('ClusterRoleBinding'), ...all('RoleBinding')]) {
      for (const s of binding.subjects as Obj[]) {
        assert.ok(s.kind === 'ServiceAccount' && ownAccounts.includes(`${s.namespace}/${s.name}`), `${binding.metadata.name} binds ${s.kind} ${s.name}`);
      }
    }
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

  it('runs the gate under the restricted pod security profile, mounting only the TLS and provenance-key Secrets', () => {
    const pod = gateDeployment().spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork ?? false, false);
    assert.equal(pod.hostPID ?? false, false);
    assert.equal(pod.hostIPC ?? false, false);
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])] as Obj[]) {
      const sc = c.securityContext;
      assert.equal(sc.allowPrivilegeEscalation, false, c.name);
      assert.equal(sc.readOnlyRootFilesystem, true, c.name);
      assert.deepEqual(sc.capabilities.drop, ['ALL'], c.name);
      assert.equal(sc.capabilities.add, undefined, c.name);
      assert.notEqual(sc.privileged, true, c.name);
    }
    assert.deepEqual(secretVolumes(pod), { tls: 'tracegate-tls', 'provenance-key': PROVENANCE_SECRET }, 'no scratch space, no host paths');
  });

  it('passes the gate only options `tracegate serve` accepts, and its pod name for the deletion Events', async () => {
    const gate = (gateDeployment().spec.template.spec.containers as Obj[])[0]!;
    assert.equal(gate.args[0], 'serve');
    // --help stops right after the options parsed (an unknown option throws).
    let printed = '';
    const io: CliIo = { stdout: (t) => void (printed += t), stderr: () => undefined, readStdin: async () => '', env: {}, cwd: repoRoot };
    assert.equal(await runServeCommand([...(gate.args as string[]).slice(1), '--help'], io), 0);
    assert.equal(printed, SERVE_USAGE);
    const podName = (gate.env as Obj[]).find((e) => e.name === 'POD_NAME');
    assert.deepEqual(podName?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } }, 'reportingInstance of the deletion Events');
  });

  it('gives the gate and the recorder the shared provenance key: a read-only Secret directory only they can read', () => {
    for (const dep of [gateDeployment(), recorderDeployment()]) {
      const pod = dep.spec.template.spec;
      const name = dep.metadata.name as string;
      const volume = (pod.volumes as Obj[]).find((v) => v.secret?.secretName === PROVENANCE_SECRET);
      assert.ok(volume, `${name}: a volume from Secret ${PROVENANCE_SECRET}`);
      assert.equal(volume.secret.defaultMode, KEY_MODE, `${name}: 0440, owner and fsGroup only`);
      assert.equal(volume.secret.items, undefined, `${name}: every key file, so a rotation's new key shows up`);
      assert.notEqual(volume.secret.optional, true, `${name}: no key, no pod (never a silent fallback)`);
      // The kubelet writes Secret files as root with group fsGroup: the non-root process reads the key through its group bit.
      assert.ok(Number.isInteger(pod.securityContext.fsGroup) && pod.securityContext.fsGroup > 0, `${name}: fsGroup is set`);
      const [container] = pod.containers as Obj[];
      const mounts = (container!.volumeMounts as Obj[]).filter((m) => m.name === volume.name);
      assert.equal(mounts.length, 1, name);
      assert.deepEqual(mounts[0], { name: volume.name, mountPath: PROVENANCE_DIR, readOnly: true }, `${name}: read-only directory mount (no subPath: rotations reach it)`);
      assert.ok((container!.args as string[]).includes(`--provenance-keys=${PROVENANCE_DIR}`), `${name}: ${container!.args.join(' ')}`);
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
  it('speak v1, declare side effects only on the deletion webhook (none on dry run), short timeouts, Equivalent matching and an explicit failure policy', () => {
    const hooks = webhooks();
    assert.deepEqual(hooks.map(({ kind, hook: h }) => `${kind} ${h.name}`).sort(), [
      'MutatingWebhookConfiguration mutate.tracegate.io',
      `ValidatingWebhookConfiguration ${DELETE_HOOK}`,
      'ValidatingWebhookConfiguration scale.validate.tracegate.io',
      'ValidatingWebhookConfiguration validate.tracegate.io',
    ]);
    const svc = one('Service');
    for (const { hook: h } of hooks) {
      assert.deepEqual(h.admissionReviewVersions, ['v1'], h.name);
      // The deletion webhook writes an Event naming the deleter, never on dry run; every other call is pure.
      assert.equal(h.sideEffects, h.name === DELETE_HOOK ? 'NoneOnDryRun' : 'None', h.name);
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

  it('never match leader-election, control-plane, event or trail resources, and use no wildcards', () => {
    const critical: [string, string][] = [
      ['coordination.k8s.io', 'leases'], ['', 'configmaps'], ['', 'endpoints'], ['', 'secrets'], ['', 'serviceaccounts'],
      ['discovery.k8s.io', 'endpointslices'], ['', 'namespaces'], ['', 'nodes'],
      // The gate writes deletion Events and the recorder ChangeTrails: neither may depend on the gate.
      ['', 'events'], ['events.k8s.io', 'events'], [TRAIL_GROUP, TRAIL_PLURAL],
      ['admissionregistration.k8s.io', 'validatingwebhookconfigurations'], ['admissionregistration.k8s.io', 'mutatingwebhookconfigurations'],
    ];
    for (const { hook: h } of webhooks()) {
      for (const rule of h.rules as Obj[]) {
        for (const field of ['apiGroups', 'apiVersions', 'resources', 'operations']) {
          assert.ok((rule[field] as string[]).every((v) => !v.includes('*')), `${h.name}.${field}: ${rule[field]}`);
        }
        assert.equal(rule.scope, 'Namespaced', h.name);
        for (const [group, resource] of critical) {
          assert.equal(ruleSelects(rule, group, resource), false, `${h.name} matches ${group}/${resource}`);
          assert.equal(ruleSelects(rule, group, resource, 'status'), false, `${h.name} matches ${group}/${resource}/status`);
        }
      }
    }
  });

  it('judge exactly the kinds of the workload table, and observe deletions of exactly the recorded kinds', () => {
    const table = resourcesOf(WORKLOAD_KIND_TABLE);
    const m = hook('mutate.tracegate.io').rules as Obj[];
    const v = hook('validate.tracegate.io').rules as Obj[];
    const d = hook(DELETE_HOOK).rules as Obj[];
    for (const op of ['CREATE', 'UPDATE']) {
      assert.deepEqual(selectedFor(m, op), table, `mutate ${op}`);
      assert.deepEqual(selectedFor(v, op), [...table, '/pods/ephemeralcontainers'].sort(), `validate ${op}`);
      assert.deepEqual(selectedFor(d, op), [], `the deletion webhook sees no ${op}`);
    }
    for (const rules of [m, v]) assert.deepEqual(selectedFor(rules, 'DELETE'), [], 'no deletion is ever enforced');
    assert.deepEqual(selectedFor(d, 'DELETE'), resourcesOf(RECORDED_KINDS), 'DELETE of what the recorder records (not Pods)');
    assert.equal(d.some((r) => ruleSelects(r, '', 'pods')), false);
  });

  it('mutate every pod-bearing kind on CREATE/UPDATE, failing open and re-invoked when needed, never a subresource', () => {
    const h = hook('mutate.tracegate.io');
    assert.equal(h.clientConfig.service.path, '/mutate');
    assert.equal(h.failurePolicy, 'Ignore');
    assert.equal(h.reinvocationPolicy, 'IfNeeded');
    assert.deepEqual(h.rules, [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'replicationcontrollers'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
      { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
    ]);
    // A Scale carries no annotations, and pods/ephemeralcontainers keeps only the ephemeral containers: a stamp would be dropped.
    assert.ok((h.rules as Obj[]).every((r) => (r.resources as string[]).every((res) => !res.includes('/'))));
  });

  it('validate every pod-bearing kind and kubectl debug failing closed, and observe */scale failing open', () => {
    const v = hook('validate.tracegate.io');
    assert.equal(v.clientConfig.service.path, '/validate');
    assert.equal(v.failurePolicy, 'Fail');
    assert.deepEqual(v.rules, [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['pods', 'pods/ephemeralcontainers', 'replicationcontrollers'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
      { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' },
    ]);

    const s = hook('scale.validate.tracegate.io');
    assert.equal(s.clientConfig.service.path, '/validate');
    assert.equal(s.failurePolicy, 'Ignore', 'a gate outage must not stop the HPA or kubectl scale');
    assert.ok(s.timeoutSeconds <= v.timeoutSeconds);
    assert.deepEqual(s.rules, [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['replicationcontrollers/scale'], operations: ['UPDATE'], scope: 'Namespaced' },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments/scale', 'statefulsets/scale', 'replicasets/scale'], operations: ['UPDATE'], scope: 'Namespaced' },
    ]);
    const scalable = WORKLOAD_KIND_TABLE.filter((k) => ['Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController'].includes(k.kind));
    assert.deepEqual(selectedFor(s.rules, 'UPDATE'), resourcesOf(scalable, '/scale'));
    // The enforcing and mutating webhooks never block (or are called for) scaling.
    for (const name of ['validate.tracegate.io', 'mutate.tracegate.io']) {
      for (const k of scalable) assert.equal((hook(name).rules as Obj[]).some((r) => ruleSelects(r, k.group, k.plural, 'scale')), false, `${name} ${k.plural}/scale`);
    }
  });

  it('judge kubectl debug (pods/ephemeralcontainers) on the enforcing webhook only', () => {
    for (const { hook: h } of webhooks()) {
      const selected = (h.rules as Obj[]).some((r) => ruleSelects(r, '', 'pods', 'ephemeralcontainers'));
      assert.equal(selected, h.name === 'validate.tracegate.io', h.name);
    }
  });

  it('observe deletions of recorded workloads failing open, with the Event they write never written on dry run', () => {
    const d = hook(DELETE_HOOK);
    assert.equal(webhooks().find((w) => w.hook.name === DELETE_HOOK)?.kind, 'ValidatingWebhookConfiguration', 'a note of an admitted deletion, never a change to it');
    assert.equal(d.clientConfig.service.path, '/validate');
    assert.equal(d.failurePolicy, 'Ignore', 'a gate outage must never block a deletion');
    assert.equal(d.sideEffects, 'NoneOnDryRun');
    assert.ok(d.timeoutSeconds <= hook('validate.tracegate.io').timeoutSeconds);
    assert.deepEqual(d.rules, [
      { apiGroups: [''], apiVersions: ['v1'], resources: ['replicationcontrollers'], operations: ['DELETE'], scope: 'Namespaced' },
      { apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], operations: ['DELETE'], scope: 'Namespaced' },
      { apiGroups: ['batch'], apiVersions: ['v1'], resources: ['jobs', 'cronjobs'], operations: ['DELETE'], scope: 'Namespaced' },
    ]);
  });

  it("skip only a kube-system identity's writes of controller-owned objects on every enforcing, mutating and deletion webhook, and a fresh break-glass by its own member on the enforcing and mutating ones", () => {
    for (const name of ['mutate.tracegate.io', 'validate.tracegate.io', DELETE_HOOK]) {
      const conditions = ((hook(name).matchConditions ?? []) as Obj[]).map((c) => ({ name: c.name, expression: String(c.expression).replace(/\s+/g, ' ').trim() }));
      const expected = [{ name: 'not-a-controller-replica', expression: NOT_A_CONTROLLER_REPLICA }];
      if (name !== DELETE_HOOK) expected.push({ name: 'not-break-glass', expression: NOT_BREAK_GLASS });
      assert.deepEqual(conditions, expected, name);
    }
  });

  it('explain each failure policy, the */scale decision and the deletion side effect in a comment', () => {
    const source = readFileSync(join(manifestsDir, 'webhooks.yaml'), 'utf8');
    const checked: string[] = [];
    for (const doc of parseAllDocuments(source)) {
      const seq = doc.get('webhooks');
      assert.ok(isSeq(seq));
      for (const item of seq.items) {
        assert.ok(isMap(item));
        const name = String(item.get('name'));
        const pair = item.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === 'failurePolicy');
        assert.ok(pair && isScalar(pair.key) && isScalar(pair.value));
        const why = `${item.commentBefore ?? ''}\n${pair.key.commentBefore ?? ''}`;
        assert.ok(why.includes(String(pair.value.value)), `${name}: a comment explains failurePolicy ${String(pair.value.value)}`);
        if (name.startsWith('scale.')) assert.match(why, /\*\/scale/);
        if (name === DELETE_HOOK) assert.match(why, /NoneOnDryRun/, 'the deletion webhook says why it has side effects');
        checked.push(name);
      }
    }
    assert.deepEqual(checked.sort(), webhooks().map(({ hook: h }) => h.name as string).sort());
  });
});

describe('the recorder install (manifests/recorder)', () => {
  const SA = RECORDER_SA;

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

  it('runs under the restricted pod security profile with a read-only root filesystem, mounting only the provenance-key Secret', () => {
    const pod = recorderPod();
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.hostNetwork ?? false, false);
    assert.equal(pod.hostPID ?? false, false);
    assert.equal(pod.hostIPC ?? false, false);
    assert.equal(pod.initContainers, undefined);
    const sc = recorderContainer().securityContext;
    assert.equal(sc.allowPrivilegeEscalation, false);
    assert.equal(sc.readOnlyRootFilesystem, true);
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.capabilities.add, undefined);
    assert.notEqual(sc.privileged, true);
    assert.deepEqual(secretVolumes(pod), { 'provenance-key': PROVENANCE_SECRET }, 'no TLS, no scratch space, no host paths');
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

  it('runs no background audit: --audit-interval=0 (the recorder would audit hourly by default) and no PolicyReport rights', () => {
    // The audit writes wgpolicyk8s.io PolicyReports, whose CRDs may be another engine's (Kyverno's): the
    // kustomize base installs none and leaves the audit to the chart (scripts/manifests-values.yaml).
    assert.equal(flag('audit-interval'), '0');
    for (const { rule } of grantsOf(SA)) assert.equal((rule.apiGroups as string[]).includes('wgpolicyk8s.io'), false, JSON.stringify(rule));
    assert.equal(all('CustomResourceDefinition').some((c) => c.spec.group === 'wgpolicyk8s.io'), false);
  });

  it('gets its Lease identity and namespace from the downward API', () => {
    const env = recorderContainer().env as Obj[];
    const fieldOf = (name: string) => env.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    assert.equal(fieldOf('POD_NAME'), 'metadata.name');
    assert.equal(fieldOf('POD_NAMESPACE'), 'metadata.namespace');
    assert.equal(flag('identity'), undefined, 'the identity is the pod name');
    assert.equal(flag('lease-namespace'), undefined, 'the Lease lives in the pod namespace');
  });

  it('installs the ChangeTrail CRD the recorder writes, with room for a full trail object', () => {
    const crd = one('CustomResourceDefinition');
    assert.equal(crd.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(crd.metadata.name, `${TRAIL_PLURAL}.${TRAIL_GROUP}`);
    assert.equal(crd.spec.group, TRAIL_GROUP);
    assert.equal(crd.spec.scope, 'Namespaced', 'a trail lives beside its workload');
    assert.equal(crd.spec.names.kind, TRAIL_KIND);
    assert.equal(crd.spec.names.plural, TRAIL_PLURAL);
    const versions = crd.spec.versions as Obj[];
    assert.deepEqual(versions.map((v) => [v.name, v.served, v.storage]), [[TRAIL_VERSION, true, true]]);
    const entries = versions[0]!.schema.openAPIV3Schema.properties.spec.properties.entries;
    // The recorder moves entries to an archive at MAX_ENTRIES_PER_OBJECT; a smaller cap would refuse its writes.
    assert.ok(entries.maxItems >= MAX_ENTRIES_PER_OBJECT, `maxItems ${entries.maxItems} ≥ ${MAX_ENTRIES_PER_OBJECT}`);
  });

  it('grants least privilege: read every recorded kind and update it (finishing a helm rollback), Helm release Secrets, append-only trails, list Events, its own Lease; never a workload create, patch or delete', () => {
    assert.deepEqual(named('ClusterRole', SA).rules, [
      { apiGroups: ['apps'], resources: ['deployments', 'statefulsets', 'daemonsets', 'replicasets'], verbs: ['get', 'list', 'watch', 'update'] },
      { apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: ['get', 'list', 'watch', 'update'] },
      { apiGroups: [''], resources: ['replicationcontrollers'], verbs: ['get', 'list', 'watch', 'update'] },
      { apiGroups: [TRAIL_GROUP], resources: [TRAIL_PLURAL], verbs: ['get', 'create', 'update'] },
      { apiGroups: [''], resources: ['events'], verbs: ['list'] },
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
    // Every kind the recorder's informers watch, everywhere; updated only to finish a rollback, never created, patched or deleted.
    for (const k of RECORDED_KINDS) {
      for (const verb of ['list', 'watch', 'update']) assert.ok(permits(SA, k.group, k.plural, verb, 'shop', undefined), `${verb} ${k.plural}`);
      for (const verb of ['create', 'patch', 'delete']) assert.equal(permits(SA, k.group, k.plural, verb, 'shop', 'web'), false, `${verb} ${k.plural}`);
    }
    for (const verb of ['get', 'list', 'watch', 'create', 'update', 'delete']) assert.equal(permits(SA, '', 'pods', verb, 'shop', 'web'), false, `${verb} pods`);
    for (const verb of ['delete', 'patch', 'watch']) assert.equal(permits(SA, TRAIL_GROUP, TRAIL_PLURAL, verb, 'shop', 'deployment.web'), false, `${verb} changetrails: the trail keeps everything`);
    for (const verb of ['get', 'watch', 'create', 'update', 'patch', 'delete']) assert.equal(permits(SA, '', 'events', verb, 'shop', 'web.1'), false, `${verb} events: the gate writes the notes`);
    assert.equal(permits(SA, 'coordination.k8s.io', 'leases', 'update', 'kube-system', 'kube-controller-manager'), false);
    assert.equal(permits(SA, '', 'secrets', 'watch', 'shop', undefined), false);
    const source = readFileSync(join(manifestsDir, 'recorder', 'rbac.yaml'), 'utf8');
    assert.match(source, /RBAC cannot restrict by name prefix/, 'the Secret grant explains why it is that wide');
  });

  it('lets namespace viewers read trails through the built-in view role, and nobody but the recorder write them', () => {
    const viewer = named('ClusterRole', 'tracegate-trail-viewer');
    assert.deepEqual(viewer.rules, [{ apiGroups: [TRAIL_GROUP], resources: [TRAIL_PLURAL], verbs: ['get', 'list', 'watch'] }]);
    // Aggregated into `view` (and, through it, `edit` and `admin`): whoever views a namespace reads its trails.
    assert.equal(viewer.metadata.labels['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    for (const other of ['aggregate-to-edit', 'aggregate-to-admin']) assert.equal(viewer.metadata.labels[`rbac.authorization.k8s.io/${other}`], undefined, other);
    const bound = [...all('ClusterRoleBinding'), ...all('RoleBinding')].filter((b) => b.roleRef.name === viewer.metadata.name);
    assert.deepEqual(bound, [], 'bound to nobody: the built-in roles carry it');
    for (const role of [...all('ClusterRole'), ...all('Role')]) {
      if (role.metadata.name === SA) continue;
      for (const rule of role.rules as Obj[]) {
        if (!(rule.resources as string[]).includes(TRAIL_PLURAL)) continue;
        assert.deepEqual((rule.verbs as string[]).filter((v) => !['get', 'list', 'watch'].includes(v)), [], `${role.metadata.name} writes trails`);
      }
      const aggregates = Object.keys(role.metadata.labels ?? {}).filter((l) => l.startsWith('rbac.authorization.k8s.io/aggregate-to-'));
      if (role.metadata.name !== viewer.metadata.name) assert.deepEqual(aggregates, [], `${role.metadata.name} is aggregated into a built-in role`);
    }
  });

  it('allows every request a real recorder makes (adopt, record, prune, trail, deletion note, lease) and the gate its deletion note', async () => {
    const h = await createRecorderHarness();
    try {
      h.namespace('shop');
      const user = `system:serviceaccount:${NS}:${SA}`;
      const gateUser = `system:serviceaccount:${NS}:${GATE_SA}`;
      const rec = await h.startRecorder({ namespaces: [], identity: 'tracegate-recorder-0', user, leaseName: 'tracegate-recorder', historyMax: 2 });
      await h.ok(h.tools.kubectl, ['create', 'deployment', 'web', '--image=nginx:1.25', '-n', 'shop']);
      await rec.settled('shop', 'web');
      for (const tag of ['1.26', '1.27']) {
        await h.ok(h.tools.kubectl, ['set', 'image', 'deployment/web', `nginx=nginx:${tag}`, '-n', 'shop']);
        await rec.settled('shop', 'web');
      }

      // The deletion: the gate's note of who deleted it, written as the gate's ServiceAccount through the
      // gate's own writer (as src/server/gate.ts wires it). Written before the DELETE so the recorder's
      // first look finds it; the gate writes it while admitting the DELETE, which the watch may see first.
      const deleter = 'alice@example.com';
      const web = h.deployment('shop', 'web');
      const gateKc = new KubeConfig();
      gateKc.loadFromFile(await h.kubeconfig(gateUser));
      const core = gateKc.makeApiClient(CoreV1Api);
      const gateLog: string[] = [];
      const writer = createDeletionWriter({
        createEvent: async (namespace, body) => void (await core.createNamespacedEvent({ namespace, body: body as never })),
        keyring: TEST_KEYRING,
        prefix: PREFIX,
        instance: 'tracegate-0',
        log: createLogger({ level: 'warn', destination: { write: (line: string) => void gateLog.push(line) } }),
      });
      writer.write({ kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'shop', name: 'web', uid: web.metadata.uid, user: deleter, requestUid: 'deletion-1' });
      await writer.flush();
      assert.deepEqual(gateLog, [], 'the gate wrote its note');
      await h.ok(h.tools.kubectl, ['delete', 'deployment', 'web', '-n', 'shop', '--wait=false'], { kubeconfig: await h.kubeconfig(deleter) });
      const admitted = h.admissions.find((r) => r.operation === 'DELETE' && r.kind.kind === 'Deployment');
      assert.equal(admitted?.userInfo.username, deleter, 'the note names who the apiserver says deleted it');
      assert.equal(admitted?.oldObject?.metadata?.uid, web.metadata.uid);
      let deletion: Obj | undefined;
      await h.waitFor('the deletion to be recorded', () => {
        deletion = rec.processed.find((e) => e.key === 'Deployment/shop/web' && e.deletion?.status === 'done')?.deletion;
        return deletion !== undefined;
      });
      assert.equal(deletion!.entry?.event, 'delete');
      assert.equal(deletion!.entry?.user, deleter, 'the recorder read the note');
      assert.equal(deletion!.entry?.verdict, 'verified');

      await rec.stop();
      // A request is logged when it ends: the informers' watches end with the stop.
      await h.waitFor('the watches to be logged', () => RECORDED_KINDS.every((k) => h.server.requests.some((r) => r.user === user && r.query['watch'] === 'true' && r.path.endsWith(`/${k.plural}`))));
      assert.deepEqual(h.revisions('shop', 'web').map((r) => [r.version, r.status]), [[2, 'superseded'], [3, 'uninstalled']], 'pruned to --history-max; the deletion shown as helm uninstall --keep-history would');

      const used = new Set<string>();
      for (const r of h.server.requests.filter((x) => x.user === user)) {
        const { verb, group, namespace, resource, name } = requestAttributes(r);
        // A create is authorised before the object (and its name) exists.
        assert.ok(permits(SA, group, resource, verb, namespace, verb === 'create' ? undefined : name), `RBAC allows the recorder ${verb} ${group}/${resource} ${namespace}/${name ?? ''}`);
        used.add(`${verb} ${group}/${resource}`);
      }
      const workloadReads = RECORDED_KINDS.flatMap((k) => [`list ${k.group}/${k.plural}`, `watch ${k.group}/${k.plural}`]);
      assert.deepEqual([...used].sort(), [
        ...workloadReads,
        'create /secrets', 'delete /secrets', 'list /secrets', 'update /secrets',
        'list /events',
        `create ${TRAIL_GROUP}/${TRAIL_PLURAL}`, `get ${TRAIL_GROUP}/${TRAIL_PLURAL}`, `update ${TRAIL_GROUP}/${TRAIL_PLURAL}`,
        'create coordination.k8s.io/leases', 'get coordination.k8s.io/leases', 'update coordination.k8s.io/leases',
      ].sort());
      // What is granted but this run never asked for: single gets beside the informers, and the workload
      // update that finishes an inexact helm rollback; every other write the recorder may make, it makes.
      const granted = grantsOf(SA).flatMap(({ rule }) => (rule.apiGroups as string[]).flatMap((g) => (rule.resources as string[]).flatMap((res) => (rule.verbs as string[]).map((v) => `${v} ${g}/${res}`))));
      assert.deepEqual([...new Set(granted)].filter((g) => !used.has(g)).sort(), [
        // Reads and writes of finishing an inexact helm rollback, which this run does not make (test/e2e/rollback.test.ts does).
        ...RECORDED_KINDS.flatMap((k) => [`get ${k.group}/${k.plural}`, `update ${k.group}/${k.plural}`]), 'get /secrets',
      ].sort());

      const gateRequests = h.server.requests.filter((x) => x.user === gateUser);
      assert.equal(gateRequests.length, 1, 'the gate made one request: the note');
      const note = requestAttributes(gateRequests[0]!);
      assert.deepEqual([note.verb, note.group, note.resource, note.namespace], ['create', '', 'events', 'shop']);
      assert.ok(permits(GATE_SA, note.group, note.resource, note.verb, note.namespace, undefined), 'RBAC allows the gate to create the deletion Event');
      assert.equal(gateRequests[0]!.status, 201);
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
