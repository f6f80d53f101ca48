/**
 * What the registry strategies do besides defaulting and validation (pkg/registry/*\/strategy.go):
 * `PrepareForCreate` (Job selector and labels, DaemonSet template generation, Pod status),
 * `PrepareForUpdate` (DaemonSet template generation) and when `metadata.generation` moves.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { prepareCrdCreate, prepareCrdUpdate } from './crd-strategy.js';
import { customGenerationChanged } from './custom-resources.js';
import type { ResourceInfo } from './resources.js';
import type { JsonObject } from './types.js';
import { JOB_CONTROLLER_UID } from './validation-workloads.js';

/** apps/v1 carries the internal DaemonSet `spec.templateGeneration` in this annotation. */
export const DS_TEMPLATE_GENERATION = 'deprecated.daemonset.template.generation';
/** The labels `generateSelector` puts on a Job's pod template (legacy and `batch.kubernetes.io/` forms). */
const JOB_NAME_LABELS = ['job-name', 'batch.kubernetes.io/job-name'];
const JOB_UID_LABELS = ['controller-uid', JOB_CONTROLLER_UID];
/** Resources that decide a Pod's QoS class. */
const QOS_RESOURCES = ['cpu', 'memory'];

function child(parent: JsonObject, key: string): JsonObject {
  if (!isRecord(parent[key])) parent[key] = {};
  return parent[key] as JsonObject;
}

/** `generateSelector` of the Job strategy, unless the user asked for a manual selector. */
function generateJobSelector(job: JsonObject): void {
  const spec = child(job, 'spec');
  if (spec['manualSelector'] === true) return;
  const meta = child(job, 'metadata');
  const labels = child(child(child(spec, 'template'), 'metadata'), 'labels');
  // Labels the user set are kept: a conflict is then reported by validation.
  for (const k of JOB_NAME_LABELS) labels[k] ??= meta['name'];
  for (const k of JOB_UID_LABELS) labels[k] ??= meta['uid'];
  const matchLabels = child(child(spec, 'selector'), 'matchLabels');
  matchLabels[JOB_CONTROLLER_UID] ??= meta['uid'];
}

/** `qos.ComputePodQOS`: Guaranteed when every container limits cpu and memory at its requests, BestEffort with nothing set. */
export function podQosClass(spec: unknown): string {
  const containers = [...(isRecord(spec) && Array.isArray(spec['containers']) ? spec['containers'] : []), ...(isRecord(spec) && Array.isArray(spec['initContainers']) ? spec['initContainers'] : [])];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const resources = isRecord(c) && isRecord(c['resources']) ? c['resources'] : {};
    const requests = isRecord(resources['requests']) ? resources['requests'] : {};
    const limits = isRecord(resources['limits']) ? resources['limits'] : {};
    for (const r of QOS_RESOURCES) {
      if (requests[r] !== undefined || limits[r] !== undefined) any = true;
      if (limits[r] === undefined || (requests[r] !== undefined && String(requests[r]) !== String(limits[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** `PrepareForCreate`, after admission; uid and name are already set (the Job selector needs them). */
export function prepareForCreate(info: ResourceInfo, obj: JsonObject): void {
  // customResourceStrategy.PrepareForCreate only drops status (done by the caller with a status subresource).
  if (info.custom !== undefined) return;
  switch (info.kind) {
    case 'CustomResourceDefinition':
      prepareCrdCreate(obj);
      break;
    case 'Job':
      generateJobSelector(obj);
      break;
    case 'DaemonSet':
      child(child(obj, 'metadata'), 'annotations')[DS_TEMPLATE_GENERATION] = '1';
      break;
    case 'Pod': {
      const status: JsonObject = { phase: 'Pending', qosClass: podQosClass(obj['spec']) };
      const spec = child(obj, 'spec');
      // applySchedulingGatedCondition: a gated Pod says why it is not scheduled.
      if (Array.isArray(spec['schedulingGates']) && spec['schedulingGates'].length > 0) {
        status['conditions'] = [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated', message: 'Scheduling is blocked due to non-empty scheduling gates', lastProbeTime: null, lastTransitionTime: null }];
      }
      obj['status'] = status;
      break;
    }
  }
}

/** `PrepareForUpdate` beyond keeping status: the DaemonSet template generation only the server moves. */
export function prepareForUpdate(info: ResourceInfo, obj: JsonObject, old: JsonObject, subresource: string | undefined): void {
  if (info.custom !== undefined) return;
  if (info.kind === 'CustomResourceDefinition' && subresource !== 'status') prepareCrdUpdate(obj);
  if (info.kind !== 'DaemonSet') return;
  const oldGeneration = Number(child(child(old, 'metadata'), 'annotations')[DS_TEMPLATE_GENERATION] ?? 1);
  const changed = subresource !== 'status' && !isDeepStrictEqual(child(obj, 'spec')['template'], child(old, 'spec')['template']);
  child(child(obj, 'metadata'), 'annotations')[DS_TEMPLATE_GENERATION] = String(oldGeneration + (changed ? 1 : 0));
}

/** Whether an update bumps `metadata.generation` (spec changes; Deployments also on annotation changes). */
export function generationChanged(info: ResourceInfo, obj: JsonObject, old: JsonObject): boolean {
  if (info.custom !== undefined) return customGenerationChanged(obj, old);
  if (!isDeepStrictEqual(obj['spec'], old['spec'])) return true;
  // Webhook configurations have no spec: their strategies bump generation when the webhooks change.
  if (info.kind.endsWith('WebhookConfiguration') && !isDeepStrictEqual(obj['webhooks'], old['webhooks'])) return true;
  // Deployments also bump on annotation changes: they are copied to the ReplicaSets.
  const annotations = (o: JsonObject): unknown => (isRecord(o['metadata']) ? o['metadata']['annotations'] : undefined) ?? {};
  return info.kind === 'Deployment' && !isDeepStrictEqual(annotations(obj), annotations(old));
}
