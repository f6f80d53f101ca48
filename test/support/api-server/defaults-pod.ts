/**
 * Pod-level defaulting from k8s.io/kubernetes/pkg/apis/core/v1/defaults.go: `SetDefaults_PodSpec`,
 * `SetDefaults_Container` (also applied to ephemeral containers by `SetDefaults_EphemeralContainer`),
 * `SetDefaults_Probe`, the volume sources, and `SetDefaults_Pod` (Pods only, not templates).
 * Idempotent: applied before and after admission.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** Probe defaults (`SetDefaults_Probe`). */
const PROBE_DEFAULTS = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
/** `0644` in decimal: the default mode of secret / configMap / projected volumes. */
const DEFAULT_VOLUME_MODE = 420;
/** Seconds between SIGTERM and SIGKILL (`v1.DefaultTerminationGracePeriodSeconds`). */
const DEFAULT_GRACE_SECONDS = 30;
/** Resources whose requests get a default resize policy (InPlacePodVerticalScaling, on by default since 1.33). */
const RESIZABLE = ['cpu', 'memory'];

/** `parent[key]` as an object, created empty if missing. */
export function child(parent: JsonObject, key: string): JsonObject {
  const value = parent[key];
  if (isRecord(value)) return value;
  const fresh: JsonObject = {};
  parent[key] = fresh;
  return fresh;
}

/** Sets `obj[key]` unless it already has a (non-null) value. */
export function setDefault(obj: JsonObject, key: string, value: unknown): void {
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
  if (isRecord(v['persistentVolumeClaim']) || isRecord(v['ephemeral'])) return;
  const sources = ['secret', 'configMap', 'projected', 'downwardAPI', 'emptyDir', 'hostPath', 'csi', 'nfs', 'image'];
  if (!sources.some((s) => v[s] !== undefined)) v['emptyDir'] = {};
}

/** `SetDefaults_PodSpec` and the defaults of everything in it, in place. */
export function defaultPodSpec(spec: JsonObject): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', DEFAULT_GRACE_SECONDS);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  // The deprecated serviceAccount field mirrors serviceAccountName (v1 conversion).
  if (typeof spec['serviceAccountName'] === 'string' && spec['serviceAccountName'] !== '') setDefault(spec, 'serviceAccount', spec['serviceAccountName']);
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) if (Array.isArray(spec[list])) for (const c of spec[list]) defaultContainer(c);
  if (Array.isArray(spec['volumes'])) for (const v of spec['volumes']) defaultVolume(v);
}

/** `SetDefaults_Pod`: what only a Pod (not a template) gets, on top of {@link defaultPodSpec}. */
export function defaultPod(pod: JsonObject): void {
  const spec = child(pod, 'spec');
  defaultPodSpec(spec);
  for (const list of ['containers', 'initContainers']) {
    for (const c of Array.isArray(spec[list]) ? spec[list] : []) {
      if (!isRecord(c) || !isRecord(c['resources'])) continue;
      const resources = c['resources'];
      // Requests default to limits on Pods only.
      if (isRecord(resources['limits'])) resources['requests'] = { ...resources['limits'], ...(isRecord(resources['requests']) ? resources['requests'] : {}) };
      const requests = isRecord(resources['requests']) ? resources['requests'] : {};
      if (list === 'containers' && Object.keys(requests).length > 0) {
        const policy = Array.isArray(c['resizePolicy']) ? [...c['resizePolicy']] : [];
        for (const r of RESIZABLE) {
          if (r in requests && !policy.some((p) => isRecord(p) && p['resourceName'] === r)) policy.push({ resourceName: r, restartPolicy: 'NotRequired' });
        }
        if (policy.length > 0) c['resizePolicy'] = policy;
      }
    }
  }
  setDefault(spec, 'enableServiceLinks', true);
  if (spec['hostNetwork'] === true) {
    for (const list of ['containers', 'initContainers']) {
      for (const c of Array.isArray(spec[list]) ? spec[list] : []) {
        for (const p of isRecord(c) && Array.isArray(c['ports']) ? c['ports'] : []) if (isRecord(p)) setDefault(p, 'hostPort', p['containerPort']);
      }
    }
  }
}
