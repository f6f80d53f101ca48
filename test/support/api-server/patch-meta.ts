/**
 * How each list field merges, from the `patchStrategy` / `patchMergeKey` / `listMapKeys` tags of the
 * Go types: what strategic merge patch, server-side apply and managedFields need to know. Paths are
 * field names from the object root with list positions left out
 * (`['spec','template','spec','containers','ports']`).
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** A list's merge behaviour: keyed (map-like), a set of scalars, or atomic (replaced whole). */
export type ListMeta =
  | { kind: 'keyed'; mergeKey: string; keys: readonly string[]; defaults: Readonly<Record<string, unknown>> }
  | { kind: 'set' }
  | { kind: 'atomic' };

const CONTAINER_LISTS = new Set(['containers', 'initContainers', 'ephemeralContainers']);

function keyed(mergeKey: string, keys: readonly string[] = [mergeKey], defaults: Record<string, unknown> = {}): ListMeta {
  return { kind: 'keyed', mergeKey, keys, defaults };
}

/** The merge behaviour of the list at `path`. */
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
    return { kind: 'atomic' };
  }
  if (parent === 'metadata' && last === 'finalizers') return { kind: 'set' };
  if (parent === 'metadata' && last === 'ownerReferences') return keyed('uid');
  if (parent === 'spec') {
    if (last === 'volumes' || last === 'imagePullSecrets' || last === 'resourceClaims' || last === 'schedulingGates') return keyed('name');
    if (last === 'hostAliases') return keyed('ip');
    if (last === 'topologySpreadConstraints') return keyed('topologyKey', ['topologyKey', 'whenUnsatisfiable']);
  }
  if (parent === 'status' && last === 'conditions') return keyed('type');
  return { kind: 'atomic' };
}

/** Structs marked `+structType=atomic` (owned and replaced as a whole): a LabelSelector. */
export function isAtomicMap(path: readonly string[]): boolean {
  const last = path[path.length - 1];
  return last === 'selector' && path.length === 2 && path[0] === 'spec';
}

/** The SSA key of a keyed-list item, with schema defaults filled (`protocol: TCP`). */
export function itemKey(meta: Extract<ListMeta, { kind: 'keyed' }>, item: JsonObject): JsonObject {
  const key: JsonObject = {};
  for (const k of meta.keys) {
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
