/**
 * The apiserver's defaulting (`SetDefaults_*` in k8s.io/kubernetes/pkg/apis/{apps,core}/v1) for the
 * fields clients and webhooks notice. Applied to every write before admission and again after it,
 * so it must be idempotent.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** Probe defaults (`SetDefaults_Probe`). */
const PROBE_DEFAULTS = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
/** `0644` in decimal: the default mode of secret / configMap / projected volumes. */
const DEFAULT_VOLUME_MODE = 420;
/** Rolling updates may take a quarter of the pods down and add a quarter more. */
const DEFAULT_ROLLING = '25%';
/** Old ReplicaSets kept for `kubectl rollout undo`. */
const DEFAULT_REVISION_HISTORY = 10;
/** Seconds before a stuck rollout reports ProgressDeadlineExceeded. */
const DEFAULT_PROGRESS_DEADLINE = 600;
/** Seconds between SIGTERM and SIGKILL. */
const DEFAULT_GRACE_SECONDS = 30;

function record(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isRecord(value)) return value;
  const fresh: JsonObject = {};
  parent[key] = fresh;
  return fresh;
}

function setDefault(obj: JsonObject, key: string, value: unknown): void {
  if (obj[key] === undefined || obj[key] === null) obj[key] = value;
}

/** `Always` for `:latest` or untagged images without a digest, else `IfNotPresent`. */
export function defaultPullPolicy(image: unknown): string {
  if (typeof image !== 'string' || image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  const tag = colon >= 0 ? lastSegment.slice(colon + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(probe: unknown): void {
  if (!isRecord(probe)) return;
  for (const [k, v] of Object.entries(PROBE_DEFAULTS)) setDefault(probe, k, v);
  if (isRecord(probe['httpGet'])) setDefault(probe['httpGet'], 'scheme', 'HTTP');
}

function defaultContainer(c: unknown): void {
  if (!isRecord(c)) return;
  setDefault(c, 'resources', {});
  setDefault(c, 'terminationMessagePath', '/dev/termination-log');
  setDefault(c, 'terminationMessagePolicy', 'File');
  setDefault(c, 'imagePullPolicy', defaultPullPolicy(c['image']));
  if (Array.isArray(c['ports'])) for (const p of c['ports']) if (isRecord(p)) setDefault(p, 'protocol', 'TCP');
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) defaultProbe(c[probe]);
  if (Array.isArray(c['env'])) {
    for (const e of c['env']) {
      const fieldRef = isRecord(e) && isRecord(e['valueFrom']) ? e['valueFrom']['fieldRef'] : undefined;
      if (isRecord(fieldRef)) setDefault(fieldRef, 'apiVersion', 'v1');
    }
  }
}

function defaultVolume(v: unknown): void {
  if (!isRecord(v)) return;
  for (const source of ['secret', 'configMap', 'projected', 'downwardAPI']) {
    if (isRecord(v[source])) setDefault(v[source], 'defaultMode', DEFAULT_VOLUME_MODE);
  }
  const sources = ['secret', 'configMap', 'projected', 'downwardAPI', 'emptyDir', 'persistentVolumeClaim', 'hostPath', 'csi', 'ephemeral', 'nfs'];
  if (!sources.some((s) => v[s] !== undefined)) v['emptyDir'] = {};
}

/** `SetDefaults_PodSpec` and friends, in place. */
export function defaultPodSpec(spec: JsonObject): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', DEFAULT_GRACE_SECONDS);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  // The deprecated serviceAccount field mirrors serviceAccountName.
  if (typeof spec['serviceAccountName'] === 'string' && spec['serviceAccountName'] !== '') setDefault(spec, 'serviceAccount', spec['serviceAccountName']);
  for (const list of ['containers', 'initContainers']) if (Array.isArray(spec[list])) for (const c of spec[list]) defaultContainer(c);
  if (Array.isArray(spec['volumes'])) for (const v of spec['volumes']) defaultVolume(v);
}

function defaultTemplated(obj: JsonObject): void {
  const spec = record(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  const template = record(spec, 'template');
  defaultPodSpec(record(template, 'spec'));
}

function defaultDeployment(obj: JsonObject): void {
  defaultTemplated(obj);
  const spec = record(obj, 'spec');
  const strategy = record(spec, 'strategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy['type'] === 'RollingUpdate') {
    const rolling = record(strategy, 'rollingUpdate');
    setDefault(rolling, 'maxUnavailable', DEFAULT_ROLLING);
    setDefault(rolling, 'maxSurge', DEFAULT_ROLLING);
  }
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY);
  setDefault(spec, 'progressDeadlineSeconds', DEFAULT_PROGRESS_DEADLINE);
}

/** Applies the defaults of `kind` to `obj` in place. */
export function applyDefaults(kind: string, obj: JsonObject): void {
  switch (kind) {
    case 'Deployment':
      defaultDeployment(obj);
      break;
    case 'ReplicaSet':
      defaultTemplated(obj);
      break;
    case 'Pod':
      defaultPodSpec(record(obj, 'spec'));
      break;
    case 'Secret':
      setDefault(obj, 'type', 'Opaque');
      break;
    case 'Namespace': {
      const meta = record(obj, 'metadata');
      // Added by the apiserver since 1.21 so namespaceSelectors can match on the name.
      if (typeof meta['name'] === 'string') record(meta, 'labels')['kubernetes.io/metadata.name'] = meta['name'];
      setDefault(record(obj, 'spec'), 'finalizers', ['kubernetes']);
      setDefault(record(obj, 'status'), 'phase', 'Active');
      break;
    }
  }
}
