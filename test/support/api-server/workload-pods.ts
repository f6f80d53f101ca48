/**
 * The Pods the workload controllers create, built as kube-controller-manager builds them:
 * `controller.GetPodFromTemplate` (template labels, annotations, finalizers and spec, `generateName:
 * <owner>-`, a controller ownerReference with blockOwnerDeletion), plus per kind the Job tracking
 * finalizer, the StatefulSet identity (`newVersionedStatefulSetPod`: name, hostname, subdomain,
 * pod-name / pod-index / revision labels, claim volumes) and the DaemonSet node pinning
 * (`CreatePodTemplate` labels, `AddOrUpdateDaemonPodTolerations`, node affinity to the node).
 */
import { isRecord } from '../../../src/k8s/types.js';
import { podTemplateHash } from './controller.js';
import { DS_TEMPLATE_GENERATION } from './strategies.js';
import type { JsonObject } from './types.js';

/** The label naming a pod's revision (StatefulSet, DaemonSet). */
export const REVISION_LABEL = 'controller-revision-hash';
/** The Job controller's finalizer that keeps a finished pod until it is counted. */
const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';
/** A prefix longer than a pod name allows is used without the dash (`getPodsPrefix`). */
const MAX_PREFIX_WITH_DASH = 252;

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function meta(obj: JsonObject): JsonObject {
  return rec(obj['metadata']);
}

/** `metav1.NewControllerRef`. */
export function controllerRef(owner: JsonObject): JsonObject {
  return { apiVersion: owner['apiVersion'], kind: owner['kind'], name: meta(owner)['name'], uid: meta(owner)['uid'], controller: true, blockOwnerDeletion: true };
}

/** `controller.GetPodFromTemplate` for `owner` with the template `template`. */
export function podFromTemplate(owner: JsonObject, template: JsonObject): JsonObject {
  const templateMeta = rec(template['metadata']);
  const name = String(meta(owner)['name'] ?? '');
  // No namespace: the controller posts to the owner's namespace.
  const podMeta: JsonObject = { generateName: name.length < MAX_PREFIX_WITH_DASH ? `${name}-` : name };
  for (const k of ['labels', 'annotations', 'finalizers']) if (templateMeta[k] !== undefined) podMeta[k] = structuredClone(templateMeta[k]);
  podMeta['ownerReferences'] = [controllerRef(owner)];
  return { apiVersion: 'v1', kind: 'Pod', metadata: podMeta, spec: structuredClone(rec(template['spec'])), status: {} };
}

/** The pod template of a workload: `spec.template`. */
export function templateOf(owner: JsonObject): JsonObject {
  return rec(rec(owner['spec'])['template']);
}

/** A Job's pod: the template plus the job-tracking finalizer. */
export function podForJob(job: JsonObject): JsonObject {
  const pod = podFromTemplate(job, templateOf(job));
  const m = rec(pod['metadata']);
  m['finalizers'] = [...(Array.isArray(m['finalizers']) ? m['finalizers'] : []), JOB_TRACKING_FINALIZER];
  return pod;
}

/** `<set>-<hash>`: the StatefulSet revision (a ControllerRevision name) of the current template. */
export function statefulSetRevision(set: JsonObject): string {
  return `${String(meta(set)['name'])}-${podTemplateHash(templateOf(set))}`;
}

/** The Pod of ordinal `ordinal` at revision `revision` (`newStatefulSetPod` + `setPodRevision`). */
export function podForStatefulSet(set: JsonObject, ordinal: number, revision: string): JsonObject {
  const pod = podFromTemplate(set, templateOf(set));
  const name = `${String(meta(set)['name'])}-${ordinal}`;
  const m = rec(pod['metadata']);
  m['name'] = name;
  m['labels'] = { ...rec(m['labels']), 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(ordinal), [REVISION_LABEL]: revision };
  const spec = rec(pod['spec']);
  spec['hostname'] = name;
  const serviceName = rec(set['spec'])['serviceName'];
  if (typeof serviceName === 'string' && serviceName !== '') spec['subdomain'] = serviceName;
  const claims = Array.isArray(rec(set['spec'])['volumeClaimTemplates']) ? (rec(set['spec'])['volumeClaimTemplates'] as unknown[]).filter(isRecord) : [];
  if (claims.length > 0) {
    // updateStorage: a volume per claim template, replacing a template volume of the same name.
    const claimNames = claims.map((c) => String(rec(c['metadata'])['name'] ?? ''));
    const volumes = (Array.isArray(spec['volumes']) ? spec['volumes'].filter(isRecord) : []).filter((v) => !claimNames.includes(String(v['name'])));
    spec['volumes'] = [...volumes, ...claimNames.map((c) => ({ name: c, persistentVolumeClaim: { claimName: `${c}-${name}` } }))];
  }
  return pod;
}

/** The DaemonSet's `controller-revision-hash` (a ControllerRevision hash, no name prefix). */
export function daemonSetRevision(ds: JsonObject): string {
  return podTemplateHash(templateOf(ds));
}

/** Taints every daemon pod tolerates (`AddOrUpdateDaemonPodTolerations`). */
const DAEMON_TOLERATIONS: readonly [string, string][] = [
  ['node.kubernetes.io/not-ready', 'NoExecute'],
  ['node.kubernetes.io/unreachable', 'NoExecute'],
  ['node.kubernetes.io/disk-pressure', 'NoSchedule'],
  ['node.kubernetes.io/memory-pressure', 'NoSchedule'],
  ['node.kubernetes.io/pid-pressure', 'NoSchedule'],
  ['node.kubernetes.io/unschedulable', 'NoSchedule'],
];

/** The daemon pod for `node`. */
export function podForDaemonSet(ds: JsonObject, node: string): JsonObject {
  const pod = podFromTemplate(ds, templateOf(ds));
  const m = rec(pod['metadata']);
  const generation = rec(meta(ds)['annotations'])[DS_TEMPLATE_GENERATION] ?? '1';
  m['labels'] = { ...rec(m['labels']), [REVISION_LABEL]: daemonSetRevision(ds), 'pod-template-generation': String(generation) };
  const spec = rec(pod['spec']);
  const tolerations = Array.isArray(spec['tolerations']) ? [...spec['tolerations']] : [];
  const taints = spec['hostNetwork'] === true ? [...DAEMON_TOLERATIONS, ['node.kubernetes.io/network-unavailable', 'NoSchedule'] as [string, string]] : DAEMON_TOLERATIONS;
  for (const [key, effect] of taints) {
    if (!tolerations.some((t) => isRecord(t) && t['key'] === key && t['effect'] === effect)) tolerations.push({ key, operator: 'Exists', effect });
  }
  spec['tolerations'] = tolerations;
  // ReplaceDaemonSetPodNodeNameNodeAffinity: the pod may only run on its node.
  const affinity = rec(spec['affinity']);
  affinity['nodeAffinity'] = {
    ...rec(affinity['nodeAffinity']),
    requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }] },
  };
  spec['affinity'] = affinity;
  return pod;
}
