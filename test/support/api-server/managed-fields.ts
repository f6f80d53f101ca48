/**
 * `metadata.managedFields` in the FieldsV1 format (`f:<field>`, `k:{<key>}`, `v:<value>`, `.`), kept
 * the way server-side apply does: an Update entry owns what its writes changed, an Apply entry owns
 * exactly the applied configuration's fields, and fields an Apply stops mentioning are removed when no
 * other manager owns them. Ownership conflicts are not detected (every apply behaves as `force=true`).
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { ManagedFieldsEntry } from '../../../src/k8s/types.js';
import { isAtomicMap, itemKey, itemMatches, listMeta } from './patch-meta.js';
import type { JsonObject } from './types.js';

/** A field path: FieldsV1 keys from the root, e.g. `["f:spec","f:replicas"]`. */
type FieldPath = string[];
/** Leaf paths (and keyed-list item nodes) as JSON-encoded paths, with the JSON of their values. */
type FieldValues = Map<string, string>;

/** Metadata the server owns; never part of any manager's fields. */
const SYSTEM_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'deletionTimestamp']);

/** The fields an object sets, with their values. `scope` limits the walk to `spec`/`metadata` or `status`. */
export function fieldValues(obj: JsonObject, scope: 'main' | 'status'): FieldValues {
  const out: FieldValues = new Map();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind') continue;
    if ((key === 'status') !== (scope === 'status')) continue;
    if (key === 'metadata' && isRecord(value)) {
      for (const [mk, mv] of Object.entries(value)) {
        if (!SYSTEM_META.has(mk)) walk(mv, ['f:metadata', `f:${mk}`], ['metadata', mk], out);
      }
      continue;
    }
    walk(value, [`f:${key}`], [key], out);
  }
  return out;
}

function walk(value: unknown, path: FieldPath, names: string[], out: FieldValues): void {
  if (isRecord(value) && !isAtomicMap(names) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) walk(v, [...path, `f:${k}`], [...names, k], out);
    return;
  }
  if (Array.isArray(value)) {
    const meta = listMeta(names);
    if (meta.kind === 'keyed') {
      for (const item of value) {
        if (!isRecord(item)) continue;
        const itemPath = [...path, `k:${JSON.stringify(itemKey(meta, item))}`];
        out.set(JSON.stringify(itemPath), '');
        for (const [k, v] of Object.entries(item)) walk(v, [...itemPath, `f:${k}`], [...names, k], out);
      }
      return;
    }
    if (meta.kind === 'set') {
      for (const item of value) out.set(JSON.stringify([...path, `v:${JSON.stringify(item)}`]), '');
      return;
    }
  }
  out.set(JSON.stringify(path), JSON.stringify(value));
}

/** FieldsV1 tree → set of JSON-encoded paths (nodes marked `.` and leaves). */
function decodeFieldsV1(tree: unknown, prefix: FieldPath = [], out = new Set<string>()): Set<string> {
  if (!isRecord(tree)) return out;
  const children = Object.keys(tree).filter((k) => k !== '.');
  if (prefix.length > 0 && ('.' in tree || children.length === 0)) out.add(JSON.stringify(prefix));
  for (const k of children) decodeFieldsV1(tree[k], [...prefix, k], out);
  return out;
}

/** Set of JSON-encoded paths → FieldsV1 tree; a node that is itself owned and has children gets `.`. */
function encodeFieldsV1(paths: Set<string>): JsonObject {
  const root: JsonObject = {};
  const sorted = [...paths].map((p) => JSON.parse(p) as FieldPath).sort((a, b) => a.length - b.length);
  for (const path of sorted) {
    let node = root;
    for (const seg of path) node = (node[seg] ??= {}) as JsonObject;
  }
  for (const path of sorted) {
    let node = root;
    for (const seg of path) node = node[seg] as JsonObject;
    if (Object.keys(node).some((k) => k !== '.')) node['.'] = {};
  }
  return root;
}

function timeNow(now: Date): string {
  return `${now.toISOString().slice(0, 19)}Z`; // managedFields times have second precision
}

function isUnder(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor.slice(0, -1) + ',');
}

/** What a write looks like for managedFields. */
export interface FieldsWrite {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  /** For Apply: the applied configuration. */
  applied?: JsonObject;
  now: Date;
}

function entriesOf(obj: JsonObject): ManagedFieldsEntry[] {
  const meta = obj['metadata'];
  const list = isRecord(meta) ? meta['managedFields'] : undefined;
  return Array.isArray(list) ? (structuredClone(list) as ManagedFieldsEntry[]) : [];
}

function sameEntry(e: ManagedFieldsEntry, w: FieldsWrite): boolean {
  return e.manager === w.manager && e.operation === w.operation && (e.subresource ?? '') === (w.subresource ?? '');
}

/**
 * Computes the new `managedFields` of `next` (written over `prev`, `undefined` on create) and, for an
 * Apply, removes from `next` the fields the manager applied last time but no longer applies and nobody
 * else owns. Returns the pruned object with its managedFields set.
 */
export function updateManagedFields(prev: JsonObject | undefined, next: JsonObject, write: FieldsWrite): JsonObject {
  const scope = write.subresource === 'status' ? 'status' : 'main';
  const before = prev === undefined ? new Map<string, string>() : fieldValues(prev, scope);
  const after = fieldValues(next, scope);
  const changed = new Set([...after].filter(([p, v]) => before.get(p) !== v).map(([p]) => p));
  const removed = new Set([...before.keys()].filter((p) => !after.has(p)));

  const entries = entriesOf(prev ?? {});
  let mine = entries.find((e) => sameEntry(e, write));
  const oldSet = decodeFieldsV1(mine?.fieldsV1);
  let newSet: Set<string>;
  if (write.operation === 'Apply') {
    newSet = new Set(fieldValues(write.applied ?? {}, scope).keys());
  } else {
    newSet = new Set([...oldSet, ...changed]);
    for (const p of removed) newSet.delete(p);
  }
  const others = entries.filter((e) => e !== mine);
  for (const e of others) {
    const set = decodeFieldsV1(e.fieldsV1);
    for (const p of [...set]) if (changed.has(p) || removed.has(p)) set.delete(p);
    e.fieldsV1 = encodeFieldsV1(set);
  }

  let result = next;
  if (write.operation === 'Apply') {
    const ownedByOthers = others.flatMap((e) => [...decodeFieldsV1(e.fieldsV1)]);
    // Removing a field removes everything below it, so it stays while anyone else owns part of it.
    const stale = [...oldSet].filter((p) => !newSet.has(p) && !ownedByOthers.some((o) => isUnder(o, p)));
    result = pruneFields(next, stale);
  }

  if (mine === undefined) {
    mine = { manager: write.manager, operation: write.operation, apiVersion: write.apiVersion, time: timeNow(write.now), fieldsType: 'FieldsV1' };
    if (write.subresource !== undefined) mine.subresource = write.subresource;
  } else if (!isDeepStrictEqual(oldSet, newSet)) {
    mine.time = timeNow(write.now);
  }
  mine.fieldsV1 = encodeFieldsV1(newSet);
  // The writer's entry keeps its place (a no-op write must leave managedFields identical).
  const all = entries.includes(mine) ? entries : [...entries, mine];
  const kept = all.filter((e) => decodeFieldsV1(e.fieldsV1).size > 0);
  // Apply entries come first, as the apiserver sorts them; sort is stable otherwise.
  kept.sort((a, b) => (a.operation === b.operation ? 0 : a.operation === 'Apply' ? -1 : 1));
  const meta = { ...((result['metadata'] ?? {}) as JsonObject) };
  if (kept.length > 0) meta['managedFields'] = kept;
  else delete meta['managedFields'];
  return { ...result, metadata: meta };
}

/** A field another manager owns with a different value than an apply wants. */
export interface ApplyConflict {
  manager: string;
  apiVersion: string;
  /** As the apiserver prints it: `.spec.template.spec.containers[name="web"].image`. */
  field: string;
}

function formatPath(path: FieldPath): string {
  return path
    .map((seg) => {
      if (seg.startsWith('f:')) return `.${seg.slice(2)}`;
      if (seg.startsWith('k:')) {
        const key = JSON.parse(seg.slice(2)) as JsonObject;
        return `[${Object.entries(key).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
      }
      if (seg.startsWith('v:')) return `[=${seg.slice(2)}]`;
      return `[${seg.slice(2)}]`;
    })
    .join('');
}

/**
 * The conflicts of applying `applied` over `live` as `manager`: fields the apply sets to a value
 * different from the live one while another manager owns them. An apply with `force=true` ignores
 * them (and takes the fields over); without it the apiserver answers 409.
 */
export function applyConflicts(live: JsonObject, applied: JsonObject, manager: string): ApplyConflict[] {
  const current = fieldValues(live, 'main');
  const wanted = fieldValues(applied, 'main');
  const conflicts: ApplyConflict[] = [];
  for (const e of entriesOf(live)) {
    if (e.manager === manager && e.operation === 'Apply') continue;
    if (e.subresource === 'status') continue;
    for (const p of decodeFieldsV1(e.fieldsV1)) {
      const value = wanted.get(p);
      if (value !== undefined && value !== '' && current.has(p) && current.get(p) !== value) {
        conflicts.push({ manager: e.manager ?? '', apiVersion: e.apiVersion ?? '', field: formatPath(JSON.parse(p) as FieldPath) });
      }
    }
  }
  return conflicts;
}

/** Removes the given paths (shortest first) from a copy of `obj`; empty label/annotation maps go too. */
function pruneFields(obj: JsonObject, paths: string[]): JsonObject {
  const out = structuredClone(obj);
  const sorted = paths.map((p) => JSON.parse(p) as FieldPath).sort((a, b) => a.length - b.length);
  for (const path of sorted) removePath(out, path, []);
  const meta = out['metadata'];
  if (isRecord(meta)) {
    for (const k of ['labels', 'annotations']) if (isRecord(meta[k]) && Object.keys(meta[k]).length === 0) delete meta[k];
  }
  return out;
}

function removePath(node: unknown, path: FieldPath, names: string[]): void {
  const [seg, ...rest] = path;
  if (seg === undefined) return;
  if (seg.startsWith('f:') && isRecord(node)) {
    const field = seg.slice(2);
    if (rest.length === 0) delete node[field];
    else removePath(node[field], rest, [...names, field]);
    return;
  }
  if (!Array.isArray(node)) return;
  const meta = listMeta(names);
  if (seg.startsWith('k:') && meta.kind === 'keyed') {
    const key = JSON.parse(seg.slice(2)) as JsonObject;
    const idx = node.findIndex((item) => itemMatches(meta, item, key));
    if (idx < 0) return;
    if (rest.length === 0) node.splice(idx, 1);
    else removePath(node[idx], rest, names);
    return;
  }
  if (seg.startsWith('v:')) {
    const value = JSON.parse(seg.slice(2)) as unknown;
    const idx = node.findIndex((item) => isDeepStrictEqual(item, value));
    if (idx >= 0) node.splice(idx, 1);
  }
}
