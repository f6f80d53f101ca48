/**
 * Where each workload kind keeps its pod template. Pure: reads objects, never changes them.
 */
import { isRecord, type KubeObject, type PodTemplate } from '../k8s/types.js';
import { workloadKind } from './kinds.js';

/** True for the kinds whose pods tracegate can evaluate. */
export function isWorkloadKind(kind: unknown): kind is string {
  return workloadKind(kind) !== undefined;
}

/** Dotted prefix for messages: `spec.template.` for a Deployment, `` for a Pod. */
export function templatePathPrefix(kind: string): string {
  const path = workloadKind(kind)?.templatePath ?? [];
  return path.length === 0 ? '' : `${path.join('.')}.`;
}

/**
 * The pod template of a workload object, or undefined when the kind is unknown or the object has none.
 * For a Pod, the template view is the Pod's own metadata and spec.
 */
export function podTemplateOf(obj: KubeObject | null | undefined): PodTemplate | undefined {
  if (!isRecord(obj) || typeof obj.kind !== 'string') return undefined;
  const path = workloadKind(obj.kind)?.templatePath;
  if (path === undefined) return undefined;
  let node: unknown = obj;
  for (const key of path) {
    if (!isRecord(node)) return undefined;
    node = node[key];
  }
  return isRecord(node) ? (node as PodTemplate) : undefined;
}

/** The labels the Job strategy writes into a Job's pod template when it generates its selector (PrepareForCreate). */
export const JOB_GENERATED_LABELS: readonly string[] = ['batch.kubernetes.io/controller-uid', 'controller-uid', 'batch.kubernetes.io/job-name', 'job-name'];

/**
 * The part of a workload whose change is a change of what runs, without what the system writes there
 * after the mutating webhooks: a Pod's spec alone (its metadata is the object's own, which `kubectl
 * label` and `annotate` edit without touching the running containers) without its ephemeral containers
 * (`kubectl debug` adds one to look inside a running Pod; its image is still judged by the image rules,
 * which read the whole spec) and without `nodeName` (the scheduler's binding); a Job's template without
 * the selector labels the apiserver generates for it.
 */
export function changeViewOf(obj: KubeObject | null | undefined): PodTemplate | undefined {
  const template = podTemplateOf(obj);
  if (!template) return template;
  if (obj?.kind === 'Job') return withoutJobLabels(template);
  if (obj?.kind !== 'Pod') return template;
  if (!isRecord(template.spec)) return {};
  if (!('ephemeralContainers' in template.spec) && !('nodeName' in template.spec)) return { spec: template.spec };
  const { ephemeralContainers: _debugOnly, nodeName: _bound, ...spec } = template.spec;
  return { spec };
}

function withoutJobLabels(template: PodTemplate): PodTemplate {
  const labels = template.metadata?.labels;
  if (!isRecord(labels) || !JOB_GENERATED_LABELS.some((key) => Object.hasOwn(labels, key))) return template;
  const kept = Object.fromEntries(Object.entries(labels).filter(([key]) => !JOB_GENERATED_LABELS.includes(key)));
  return { ...template, metadata: { ...template.metadata, labels: kept } };
}
