/**
 * The `scale` subresource of Deployments, ReplicaSets, StatefulSets and ReplicationControllers: the
 * `autoscaling/v1 Scale` view of the object (`scaleFrom<Kind>` in pkg/registry/{apps,core}/…/storage)
 * and writing its replicas back.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { selectorToString } from './selectors.js';
import type { JsonObject } from './types.js';

/** Scale carries only these metadata fields of the Deployment (+ managedFields). */
const SCALE_META = ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields'];

/** The label selector of the scaled object: a map for ReplicationControllers, a LabelSelector otherwise. */
function selectorOf(obj: JsonObject, spec: JsonObject): string {
  const selector = spec['selector'];
  return obj['kind'] === 'ReplicationController' ? selectorToString({ matchLabels: selector }) : selectorToString(selector);
}

/** The Scale view of a scalable object (`deployment` names the common case). */
export function scaleOf(deployment: JsonObject): JsonObject {
  const meta = isRecord(deployment['metadata']) ? deployment['metadata'] : {};
  const spec = isRecord(deployment['spec']) ? deployment['spec'] : {};
  const status = isRecord(deployment['status']) ? deployment['status'] : {};
  const scaleMeta: JsonObject = {};
  for (const k of SCALE_META) if (meta[k] !== undefined) scaleMeta[k] = structuredClone(meta[k]);
  const scaleSpec: JsonObject = {};
  if (typeof spec['replicas'] === 'number' && spec['replicas'] !== 0) scaleSpec['replicas'] = spec['replicas'];
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: scaleMeta,
    spec: scaleSpec,
    status: { replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0, selector: selectorOf(deployment, spec) },
  };
}

/** The replicas a (patched or PUT) Scale asks for; a missing `spec.replicas` means 0, as in Go. */
export function replicasOf(scale: unknown): number | undefined {
  if (!isRecord(scale)) return undefined;
  const spec = scale['spec'];
  if (spec !== undefined && !isRecord(spec)) return undefined;
  const replicas = isRecord(spec) ? spec['replicas'] : undefined;
  if (replicas === undefined) return 0;
  return typeof replicas === 'number' && Number.isInteger(replicas) ? replicas : undefined;
}

/** A copy of `deployment` with `spec.replicas` set. */
export function withReplicas(deployment: JsonObject, replicas: number): JsonObject {
  const out = structuredClone(deployment);
  const spec = isRecord(out['spec']) ? out['spec'] : (out['spec'] = {});
  (spec as JsonObject)['replicas'] = replicas;
  return out;
}
