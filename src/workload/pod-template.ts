/**
 * Where each workload kind keeps its pod template. Pure: reads objects, never changes them.
 */
import { isRecord, type KubeObject, type PodTemplate } from '../k8s/types.js';

/** Path (as keys) from the object root to its pod template; the Pod is its own template. */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
  Pod: [],
};

/** True for the kinds whose pods tracegate can evaluate. */
export function isWorkloadKind(kind: unknown): kind is string {
  return typeof kind === 'string' && Object.hasOwn(TEMPLATE_PATHS, kind);
}

/** Dotted prefix for messages: `spec.template.` for a Deployment, `` for a Pod. */
export function templatePathPrefix(kind: string): string {
  const path = TEMPLATE_PATHS[kind] ?? [];
  return path.length === 0 ? '' : `${path.join('.')}.`;
}

/**
 * The pod template of a workload object, or undefined when the kind is unknown or the object has none.
 * For a Pod, the template view is the Pod's own metadata and spec.
 */
export function podTemplateOf(obj: KubeObject | null | undefined): PodTemplate | undefined {
  if (!isRecord(obj) || typeof obj.kind !== 'string') return undefined;
  const path = TEMPLATE_PATHS[obj.kind];
  if (path === undefined) return undefined;
  let node: unknown = obj;
  for (const key of path) {
    if (!isRecord(node)) return undefined;
    node = node[key];
  }
  return isRecord(node) ? (node as PodTemplate) : undefined;
}

/**
 * The part of a workload whose change is a change of what runs: its pod template, or a Pod's spec
 * alone — a Pod's metadata is the object's own, which `kubectl label` and `annotate` edit without
 * touching the running containers.
 */
export function changeViewOf(obj: KubeObject | null | undefined): PodTemplate | undefined {
  const template = podTemplateOf(obj);
  if (!template || obj?.kind !== 'Pod') return template;
  return isRecord(template.spec) ? { spec: template.spec } : {};
}
