/**
 * The AdmissionReviews the benchmark sends, built from real kubectl output (test/support/kubectl-local)
 * and encoded compactly as the apiserver sends them (Go's encoding/json: no whitespace):
 * - `create`: a ~60-line two-container Deployment CREATE that passes the default policies;
 * - `update`: a Helm-style UPDATE of a richer Deployment with oldObject, managedFields and status (~20 KB);
 * - `large`: the same kind of UPDATE on a Deployment with thousands of env vars, just under 1 MiB;
 * - `deny`: a CREATE the default policies refuse (latest and untagged images, no resources, no provenance).
 * Each in the two forms the apiserver sends: to /mutate as the client wrote it, to /validate after the
 * gate's own mutation (the real mutate handler with the benchmark's key, its JSONPatch applied as the
 * apiserver applies it), so /validate finds exactly the stamps /mutate wrote. An UPDATE's oldObject
 * carries stamps signed with the same key, as the gate left them on the last change.
 */
import { stringify } from 'yaml';
import type { AdmissionRequest } from '../src/admission/types.js';
import type { Handled } from '../src/admission/validate.js';
import type { KubeObject } from '../src/k8s/types.js';
import type { MacKeyring } from '../src/provenance/mac.js';
import { decodeReview } from '../src/server/review-body.js';
import { reviewFor, storedObject } from '../test/support/gate-harness.js';
import { applyPatchAsApiserver } from '../test/support/json-patch.js';
import { createKubectlLocal, type KubectlLocal } from '../test/support/kubectl-local.js';
import { stampAsGate } from '../test/support/stamps.js';
import { ensureRealTools } from '../test/support/tools.js';
import { fieldsV1Of } from './fields-v1.js';

/** The workloads of every phase, in the order they run. */
export const REVIEW_NAMES = ['create', 'update', 'large', 'deny'] as const;
/** One of {@link REVIEW_NAMES}. */
export type ReviewName = (typeof REVIEW_NAMES)[number];

/** The two webhooks. */
export type Webhook = 'validate' | 'mutate';

/** One review's request bodies and what the gate must answer to them. */
export interface BenchReview {
  name: ReviewName;
  description: string;
  /**
   * Compact JSON of the whole AdmissionReview per webhook: /mutate's object as the client sent it,
   * /validate's after the gate's mutation (the same uid: one request, two admission stages).
   */
  bodies: Record<Webhook, Buffer>;
  /** Lines of `object` as YAML without managedFields, to compare with what people write. */
  objectYamlLines: number;
  /** Expected `response.allowed` from each webhook. */
  allowed: { validate: boolean; mutate: boolean };
}

const NAMESPACE = 'shop';
const CI_USER = 'system:serviceaccount:ci:deployer';
const CI_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:ci'];
const APPROVER = 'bob@example.com';
const OLD_COMMIT = '3f9c2e1a7b4d6c8e0f1a2b3c4d5e6f7a8b9c0d1e';
const NEW_COMMIT = '8e41d0c2b9a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3';
// The bodies the apiserver accepts top out at 3 MiB; "near 1 MiB" is the size the issue asks about.
const LARGE_TARGET_BYTES = 1_000_000;
// object + oldObject of a Helm-managed two-container Deployment with a realistic env list.
const UPDATE_TARGET_BYTES = 20_000;
// Four containers are a common shape for big pods (app, proxy, log shipper, metrics agent).
const LARGE_CONTAINERS = 4;

function compact(review: unknown): Buffer {
  return Buffer.from(JSON.stringify(review));
}

/** What the reviews are admitted and stamped with: the benchmark's own gate handlers and key. */
export interface Admission {
  mutate: (request: AdmissionRequest) => Handled;
  keyring: MacKeyring;
}

/**
 * The review as the apiserver sends it to each webhook: to /mutate as built, to /validate with the object
 * the gate's JSONPatch makes of it (applied as kube-apiserver applies it, test/support/json-patch.ts).
 */
function asSent(name: string, review: ReturnType<typeof reviewFor>, admission: Admission): Record<Webhook, Buffer> {
  const mutate = compact(review);
  const { response } = admission.mutate(decodeReview(mutate));
  if (!response.allowed) throw new Error(`${name}: /mutate refused the review: ${response.status?.message}`);
  let object: unknown = review.request.object;
  if (response.patch) {
    const patched = applyPatchAsApiserver(object, response.patch);
    if (!patched.ok) throw new Error(`${name}: the gate's patch does not apply: ${patched.error}`);
    object = patched.value;
  }
  return { mutate, validate: compact({ ...review, request: { ...review.request, object } }) };
}

/** Lines of the object as a person writes it: YAML without the managedFields the apiserver adds. */
function yamlLines(obj: KubeObject | null | undefined): number {
  const { managedFields: _added, ...metadata } = obj?.metadata ?? {};
  return stringify({ ...obj, metadata }).trimEnd().split('\n').length;
}

function managedEntry(manager: string, operation: 'Apply' | 'Update', time: string, owned: Record<string, unknown>, subresource?: string) {
  return { manager, operation, apiVersion: 'apps/v1', time, fieldsType: 'FieldsV1', fieldsV1: fieldsV1Of(owned), ...(subresource ? { subresource } : {}) };
}

/** `n` env vars of realistic shape: plain settings, and every fifth one from a Secret. */
function envList(container: string, n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `${container.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_SETTING_${String(i).padStart(4, '0')}`;
    return i % 5 === 4
      ? { name, valueFrom: { secretKeyRef: { name: `${container}-secrets`, key: `setting-${i}` } } }
      : { name, value: `https://config.${NAMESPACE}.svc.cluster.local/${container}/settings/${i}?profile=production&region=eu-west-1` };
  });
}

/** The chart's view of the workload: what Helm renders on top of kubectl's skeleton. */
function enrich(base: KubeObject, envPerContainer: number): KubeObject {
  const obj = structuredClone(base);
  const labels = { 'app.kubernetes.io/instance': 'web', 'app.kubernetes.io/managed-by': 'Helm', 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/version': '1.4.2', 'helm.sh/chart': 'web-0.7.3' };
  obj.metadata = { ...obj.metadata, labels: { ...obj.metadata?.labels, ...labels }, annotations: { 'meta.helm.sh/release-name': 'web', 'meta.helm.sh/release-namespace': NAMESPACE } };
  const spec = obj.spec as { template: { metadata: Record<string, unknown>; spec: { containers: Record<string, unknown>[]; [k: string]: unknown } }; [k: string]: unknown };
  spec.template.metadata = { labels: { ...(spec.template.metadata.labels as object), ...labels }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } };
  spec.template.spec.containers = spec.template.spec.containers.map((c, i) => ({
    ...c,
    ports: [{ name: i === 0 ? 'http' : `port-${i}`, containerPort: 8080 + i, protocol: 'TCP' }],
    env: envList(String(c.name), envPerContainer),
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 8080 + i, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/readyz', port: 8080 + i, scheme: 'HTTP' }, periodSeconds: 5, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    volumeMounts: [{ name: 'config', mountPath: `/etc/${String(c.name)}`, readOnly: true }, { name: 'tmp', mountPath: '/tmp' }],
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  }));
  Object.assign(spec.template.spec, {
    volumes: [{ name: 'config', configMap: { name: 'web-config', defaultMode: 420 } }, { name: 'tmp', emptyDir: {} }],
    serviceAccountName: 'web',
    serviceAccount: 'web',
    securityContext: { fsGroup: 2000, seccompProfile: { type: 'RuntimeDefault' } },
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    schedulerName: 'default-scheduler',
  });
  Object.assign(spec, { revisionHistoryLimit: 10, progressDeadlineSeconds: 600, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } } });
  return obj;
}

/**
 * The stored object as the gate last admitted it (Helm's previous upgrade, stamped and MAC'd with the
 * benchmark's key, bound to the object's uid), with status and the managedFields of Helm and the controller.
 */
function stored(chart: KubeObject, keyring: MacKeyring): KubeObject {
  const obj = storedObject(chart, { resourceVersion: '184467', generation: 6 });
  obj.metadata!.annotations = {
    ...obj.metadata!.annotations,
    'deployment.kubernetes.io/revision': '6',
    'tracegate.io/commit': OLD_COMMIT,
    'tracegate.io/approver': APPROVER,
    'kubernetes.io/change-cause': `${CI_USER} via helm: image web: registry.example.com/shop/web:1.4.1 → registry.example.com/shop/web:1.4.2 (commit ${OLD_COMMIT}, approved by ${APPROVER})`,
  };
  stampAsGate(obj, { tenant: NAMESPACE, changedBy: CI_USER, fieldManager: 'helm', commit: OLD_COMMIT, approver: APPROVER }, { keyring });
  obj.status = {
    observedGeneration: 6,
    replicas: 3,
    updatedReplicas: 3,
    readyReplicas: 3,
    availableReplicas: 3,
    conditions: [
      { type: 'Available', status: 'True', lastUpdateTime: '2026-03-02T09:14:19Z', lastTransitionTime: '2026-03-02T09:14:19Z', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
      { type: 'Progressing', status: 'True', lastUpdateTime: '2026-03-02T09:31:52Z', lastTransitionTime: '2026-03-02T09:14:07Z', reason: 'NewReplicaSetAvailable', message: 'ReplicaSet "web-6d9f7c5b8d" has successfully progressed.' },
    ],
  };
  const helmOwned = { metadata: { labels: obj.metadata!.labels, annotations: { 'meta.helm.sh/release-name': '', 'meta.helm.sh/release-namespace': '', 'tracegate.io/commit': '', 'tracegate.io/approver': '' } }, spec: obj.spec };
  obj.metadata!.managedFields = [
    managedEntry('helm', 'Apply', '2026-03-02T09:31:44Z', helmOwned),
    managedEntry('kube-controller-manager', 'Update', '2026-03-02T09:31:52Z', { metadata: { annotations: { 'deployment.kubernetes.io/revision': '' } }, status: obj.status as Record<string, unknown> }, 'status'),
  ] as NonNullable<KubeObject['metadata']>['managedFields'];
  return obj;
}

/** `helm upgrade` of the stored object to a new image and commit (Helm 4 applies server-side: an UPDATE by `helm`). */
async function helmUpgrade(kubectl: KubectlLocal, old: KubeObject): Promise<KubeObject> {
  const containers = (old.spec as { template: { spec: { containers: { name: string }[] } } }).template.spec.containers;
  const next = await kubectl.patch(old, {
    metadata: { annotations: { 'tracegate.io/commit': NEW_COMMIT } },
    spec: { template: { spec: { containers: [{ name: containers[0]!.name, image: 'registry.example.com/shop/web:1.4.3' }] } } },
  });
  // The apiserver refreshes the applier's entry before admission; the controller's entry is untouched.
  const mf = next.metadata?.managedFields ?? [];
  if (mf[0]) mf[0] = { ...mf[0], time: '2026-03-03T10:02:11Z' };
  return next;
}

async function updateReview(kubectl: KubectlLocal, skeleton: KubeObject, envPerContainer: number, keyring: MacKeyring) {
  const old = stored(enrich(skeleton, envPerContainer), keyring);
  const next = await helmUpgrade(kubectl, old);
  return { review: reviewFor(next, { oldObject: old, operation: 'UPDATE', username: CI_USER, groups: CI_GROUPS, fieldManager: 'helm' }), object: next };
}

/** Env vars per container that bring an update review to `target` bytes (size is linear in the count). */
async function envCountFor(kubectl: KubectlLocal, skeleton: KubeObject, target: number, keyring: MacKeyring): Promise<number> {
  const probe = 20;
  const [a, b] = await Promise.all([updateReview(kubectl, skeleton, 0, keyring), updateReview(kubectl, skeleton, probe, keyring)]);
  const base = compact(a.review).length;
  const perEnv = (compact(b.review).length - base) / probe;
  return Math.max(0, Math.floor((target - base) / perEnv));
}

/** Builds every review with the real kubectl (extracted once into .cache/tools), admitted with `admission`. */
export async function buildReviews(admission: Admission): Promise<BenchReview[]> {
  const { keyring } = admission;
  const kubectl = createKubectlLocal(await ensureRealTools());

  // The CREATE a CI job sends with `kubectl create -f`: resources set, commit and approver annotated.
  let web = await kubectl.createDeployment('web', { image: ['registry.example.com/shop/web:1.4.2', 'registry.example.com/shop/envoy:1.31.2'], namespace: NAMESPACE, replicas: 3, port: 8080 });
  web = await kubectl.setResources(web, { requests: 'cpu=250m,memory=256Mi', limits: 'cpu=500m,memory=512Mi' });
  web = await kubectl.annotate(web, { 'tracegate.io/commit': OLD_COMMIT, 'tracegate.io/approver': APPROVER });
  web = await kubectl.label(web, { 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop' });
  web = await kubectl.patch(web, {
    spec: {
      template: {
        metadata: { annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080' } },
        spec: { containers: [{ name: 'web', readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 5 }, livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 10 }, imagePullPolicy: 'IfNotPresent' }] },
      },
    },
  });
  web.metadata!.managedFields = [managedEntry('kubectl-create', 'Update', '2026-03-02T09:14:07Z', { metadata: { labels: web.metadata!.labels, annotations: web.metadata!.annotations }, spec: web.spec! })] as NonNullable<KubeObject['metadata']>['managedFields'];
  const create = reviewFor(web, { operation: 'CREATE', username: CI_USER, groups: CI_GROUPS, fieldManager: 'kubectl-create' });

  const debug = await kubectl.createDeployment('debug', { image: ['registry.example.com/shop/web:latest', 'busybox'], namespace: NAMESPACE });
  const deny = reviewFor(debug, { operation: 'CREATE', username: 'alice@example.com', groups: ['developers'], fieldManager: 'kubectl-create' });

  const skeleton = await kubectl.createDeployment('web', { image: ['registry.example.com/shop/web:1.4.2', 'registry.example.com/shop/envoy:1.31.2'], namespace: NAMESPACE, replicas: 3, port: 8080 });
  const update = await updateReview(kubectl, skeleton, await envCountFor(kubectl, skeleton, UPDATE_TARGET_BYTES, keyring), keyring);

  const bigImages = ['registry.example.com/shop/web:1.4.2', 'registry.example.com/shop/envoy:1.31.2', 'registry.example.com/shop/fluent-bit:3.2.4', 'registry.example.com/shop/otel-agent:0.118.0'];
  const bigSkeleton = await kubectl.createDeployment('web', { image: bigImages.slice(0, LARGE_CONTAINERS), namespace: NAMESPACE, replicas: 3, port: 8080 });
  const large = await updateReview(kubectl, bigSkeleton, await envCountFor(kubectl, bigSkeleton, LARGE_TARGET_BYTES, keyring), keyring);

  return [
    { name: 'create', description: 'two-container Deployment CREATE (kubectl create -f), passes the policies', bodies: asSent('create', create, admission), objectYamlLines: yamlLines(create.request.object), allowed: { validate: true, mutate: true } },
    { name: 'update', description: 'Helm UPDATE with oldObject, managedFields and status, passes the policies', bodies: asSent('update', update.review, admission), objectYamlLines: yamlLines(update.object), allowed: { validate: true, mutate: true } },
    { name: 'large', description: `Helm UPDATE of a ${LARGE_CONTAINERS}-container Deployment with thousands of env vars, passes the policies`, bodies: asSent('large', large.review, admission), objectYamlLines: yamlLines(large.object), allowed: { validate: true, mutate: true } },
    { name: 'deny', description: 'CREATE with :latest and untagged images, no resources, no provenance (validate denies; mutate annotates)', bodies: asSent('deny', deny, admission), objectYamlLines: yamlLines(deny.request.object), allowed: { validate: false, mutate: true } },
  ];
}
