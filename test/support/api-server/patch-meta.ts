/**
 * How each list and map field merges, from the tags of the Go types: `patchStrategy` /
 * `patchMergeKey` for strategic merge patch, `listType` / `listMapKey` / `mapType` / `structType`
 * for server-side apply (structured-merge-diff reads them from the OpenAPI `x-kubernetes-*`
 * extensions). Paths are field names from the object root with list positions left out
 * (`['spec','template','spec','containers','ports']`).
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/**
 * A list's merge behaviour: keyed (`listType=map`; SMP merges by `mergeKey` alone, SSA keys items by
 * all of `keys`, schema defaults filled), a set of scalars, or atomic (replaced whole).
 */
export type ListMeta =
  | { kind: 'keyed'; mergeKey: string; keys: readonly string[]; defaults: Readonly<Record<string, unknown>> }
  | { kind: 'set' }
  | { kind: 'atomic' };

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);
/** PodSpec lists keyed by `name` (`+listType=map +listMapKey=name` in k8s.io/api/core/v1/types.go). */
const POD_NAMED_LISTS = new Set(['volumes', 'imagePullSecrets', 'resourceClaims', 'schedulingGates']);
/**
 * Fields whose value is replaced and owned as a whole by server-side apply: every `LabelSelector`
 * (`+structType=atomic` in apimachinery's meta/v1 types.go) and the `+mapType=atomic` maps
 * (`PodSpec.nodeSelector`, `ServiceSpec.selector`, `ReplicationControllerSpec.selector`).
 */
const ATOMIC_MAP_FIELDS = new Set(['selector', 'podSelector', 'namespaceSelector', 'objectSelector', 'labelSelector', 'nodeSelector']);

function keyed(mergeKey: string, keys: readonly string[] = [mergeKey], defaults: Record<string, unknown> = {}): ListMeta {
  return { kind: 'keyed', mergeKey, keys, defaults };
}

const ATOMIC: ListMeta = { kind: 'atomic' };

/** The merge behaviour of the list at `path` (lists not named here are atomic: `command`, `args`, `tolerations`, RBAC `rules`, …). */
export function listMeta(path: readonly string[]): ListMeta {
  const last = path[path.length - 1] ?? '';
  const parent = path[path.length - 2] ?? '';
  if (CONTAINER_LISTS.has(last)) return keyed('name');
  if (CONTAINER_LISTS.has(parent)) {
    // SMP merges ports by containerPort alone; SSA keys them by containerPort + protocol (default TCP).
    if (last === 'ports') return keyed('containerPort', ['containerPort', 'protocol'], { protocol: 'TCP' });
    if (last === 'env') return keyed('name');
    if (last === 'volumeMounts') return keyed('mountPath');
    if (last === 'volumeDevices') return keyed('devicePath');
    if (last === 'resizePolicy') return keyed('resourceName');
    return ATOMIC;
  }
  if (parent === 'metadata' && last === 'finalizers') return { kind: 'set' };
  if (parent === 'metadata' && last === 'ownerReferences') return keyed('uid');
  // ServiceSpec.ports: `patchMergeKey=port`, `listMapKey=port` + `protocol` (the only top-level `spec.ports`).
  if (path.length === 2 && parent === 'spec' && last === 'ports') return keyed('port', ['port', 'protocol'], { protocol: 'TCP' });
  if (parent === 'spec') {
    if (POD_NAMED_LISTS.has(last)) return keyed('name');
    if (last === 'hostAliases') return keyed('ip');
    if (last === 'topologySpreadConstraints') return keyed('topologyKey', ['topologyKey', 'whenUnsatisfiable']);
  }
  // ServiceAccount.secrets; {Validating,Mutating}WebhookConfiguration.webhooks and their matchConditions.
  if (path.length === 1 && (last === 'secrets' || last === 'webhooks')) return keyed('name');
  if (last === 'matchConditions') return keyed('name');
  if (last === 'conditions' && parent === 'status') return keyed('type');
  return ATOMIC;
}

/** Maps and structs server-side apply replaces and owns as a whole (see {@link ATOMIC_MAP_FIELDS}). */
export function isAtomicMap(path: readonly string[]): boolean {
  const last = path[path.length - 1] ?? '';
  // `metadata.labels.selector` would be a label key, not a field.
  if (path[0] === 'metadata' || (path.includes('metadata') && (path.includes('labels') || path.includes('annotations')))) return false;
  return ATOMIC_MAP_FIELDS.has(last);
}

/** The SSA key of a keyed-list item, with schema defaults filled (`protocol: TCP`), fields sorted as FieldsV1 writes them. */
export function itemKey(meta: Extract<ListMeta, { kind: 'keyed' }>, item: JsonObject): JsonObject {
  const key: JsonObject = {};
  for (const k of [...meta.keys].sort()) {
    const value = item[k] ?? meta.defaults[k];
    if (value !== undefined) key[k] = value;
  }
  return key;
}

/** True when a keyed-list item has the given SSA key. */
export function itemMatches(meta: Extract<ListMeta, { kind: 'keyed' }>, item: unknown, key: JsonObject): boolean {
  if (!isRecord(item)) return false;
  const own = itemKey(meta, item);
  return Object.keys(key).every((k) => JSON.stringify(own[k]) === JSON.stringify(key[k]));
}
