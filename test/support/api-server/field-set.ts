/**
 * Field sets as structured-merge-diff computes them (sigs.k8s.io/structured-merge-diff/v4
 * `typed/tofieldset.go`, `typed/compare.go`, `typed/remove.go`, `fieldpath/set.go`): paths of
 * `f:<field>`, `k:{<key>}` (keyed-list items), `v:<value>` (set items), their FieldsV1 encoding and
 * the way conflicts print them. Paths are JSON-encoded arrays so they can live in a `Set<string>`.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { isAtomicMap, itemKey, listMeta } from './patch-meta.js';
import type { JsonObject } from './types.js';

/** FieldsV1 keys from the root, e.g. `["f:spec","f:replicas"]`. */
export type FieldPath = string[];

/** What a path is in an object: a leaf (scalar, atomic value, empty map), a keyed/set item, or an inner node. */
export interface FieldEntry {
  kind: 'leaf' | 'item' | 'node';
  /** JSON of a leaf's value; `''` otherwise. */
  value: string;
}

/** Every path of an object (`scope` picks `spec`/`metadata` or `status`). */
export type Flattened = Map<string, FieldEntry>;

/**
 * Metadata the server owns, never part of a manager's set (`stripMetaManager` strips them, and
 * `metadata` itself, from every set).
 */
export const SYSTEM_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generateName']);

const key = (path: FieldPath): string => JSON.stringify(path);
export const parsePath = (encoded: string): FieldPath => JSON.parse(encoded) as FieldPath;

/** All paths of `obj` with what they are. */
export function flatten(obj: JsonObject, scope: 'main' | 'status'): Flattened {
  const out: Flattened = new Map();
  for (const [k, value] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if ((k === 'status') !== (scope === 'status')) continue;
    if (k === 'metadata' && isRecord(value)) {
      for (const [mk, mv] of Object.entries(value)) if (!SYSTEM_META.has(mk)) walk(mv, ['f:metadata', `f:${mk}`], ['metadata', mk], out);
      continue;
    }
    walk(value, [`f:${k}`], [k], out);
  }
  return out;
}

function walk(value: unknown, path: FieldPath, names: string[], out: Flattened): void {
  if (isRecord(value) && !isAtomicMap(names) && Object.keys(value).length > 0) {
    out.set(key(path), { kind: 'node', value: '' });
    for (const [k, v] of Object.entries(value)) walk(v, [...path, `f:${k}`], [...names, k], out);
    return;
  }
  if (Array.isArray(value)) {
    const meta = listMeta(names);
    if (meta.kind === 'keyed' && value.every(isRecord)) {
      out.set(key(path), { kind: 'node', value: '' });
      for (const item of value as JsonObject[]) {
        const itemPath = [...path, `k:${JSON.stringify(itemKey(meta, item))}`];
        out.set(key(itemPath), { kind: 'item', value: '' });
        for (const [k, v] of Object.entries(item)) walk(v, [...itemPath, `f:${k}`], [...names, k], out);
      }
      return;
    }
    if (meta.kind === 'set') {
      out.set(key(path), { kind: 'node', value: '' });
      for (const item of value) out.set(key([...path, `v:${canonical(item)}`]), { kind: 'item', value: '' });
      return;
    }
  }
  out.set(key(path), { kind: 'leaf', value: canonical(value) });
}

/**
 * A value's text for comparison, map keys sorted: structured-merge-diff compares atomic values
 * structurally (value.Equals), and maps are unordered — the same CRD from a YAML file and from a Go
 * client that sorts keys is the same value, and applying it over the other is no change (no conflict).
 */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (isRecord(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));
}

/** `ToFieldSet`: leaves (scalars, atomic values, empty maps, nulls) and list items; inner nodes are not members. */
export function toFieldSet(obj: JsonObject, scope: 'main' | 'status'): Set<string> {
  const out = new Set<string>();
  for (const [p, e] of flatten(obj, scope)) if (e.kind !== 'node') out.add(p);
  return out;
}

/** `Compare`: leaves whose value changed, paths only in `after` (inner nodes too), paths only in `before`. */
export interface Comparison {
  modified: Set<string>;
  added: Set<string>;
  removed: Set<string>;
}

export function compare(before: Flattened, after: Flattened): Comparison {
  const modified = new Set<string>();
  const added = new Set<string>();
  const removed = new Set<string>();
  for (const [p, e] of after) {
    const old = before.get(p);
    if (old === undefined) added.add(p);
    else if (e.kind === 'leaf' && old.kind === 'leaf' && old.value !== e.value) modified.add(p);
  }
  for (const p of before.keys()) if (!after.has(p)) removed.add(p);
  return { modified, added, removed };
}

/**
 * `EnsureNamedFieldsAreMembers`: the set plus every field (not list item) on the way to its paths.
 * `metadata` is left out: the apiserver's sets never hold it (stripMetaManager), and the name
 * every apply sends keeps it owned.
 */
export function withNamedFields(set: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of set) {
    out.add(p);
    const path = parsePath(p);
    for (let i = 1; i < path.length; i++) {
      const last = path[i - 1] ?? '';
      if (last.startsWith('f:') && !(i === 1 && last === 'f:metadata')) out.add(key(path.slice(0, i)));
    }
  }
  return out;
}

/**
 * `RemoveItems`: a copy of `obj` without the fields and list items at `paths` (each with everything
 * below it). Server-owned metadata is never removed.
 */
export function removePaths(obj: JsonObject, paths: Set<string>): JsonObject {
  if (paths.size === 0) return obj;
  const out = structuredClone(obj);
  const prune = (node: unknown, path: FieldPath, names: string[]): unknown => {
    if (isRecord(node) && !isAtomicMap(names)) {
      for (const [k, v] of Object.entries(node)) {
        if (path.length === 0 && (k === 'apiVersion' || k === 'kind')) continue;
        if (path.length === 1 && path[0] === 'f:metadata' && SYSTEM_META.has(k)) continue;
        const child = [...path, `f:${k}`];
        if (paths.has(key(child)) && !(path.length === 0 && k === 'metadata')) delete node[k];
        else node[k] = prune(v, child, [...names, k]);
      }
      return node;
    }
    if (Array.isArray(node)) {
      const meta = listMeta(names);
      if (meta.kind === 'keyed' && node.every(isRecord)) {
        return (node as JsonObject[]).flatMap((item) => {
          const itemPath = [...path, `k:${JSON.stringify(itemKey(meta, item))}`];
          return paths.has(key(itemPath)) ? [] : [prune(item, itemPath, names)];
        });
      }
      if (meta.kind === 'set') return node.filter((item) => !paths.has(key([...path, `v:${JSON.stringify(item)}`])));
    }
    return node;
  };
  return prune(out, [], []) as JsonObject;
}

/** FieldsV1 tree → set of paths (nodes marked `.` and leaves). */
export function decodeFieldsV1(tree: unknown, prefix: FieldPath = [], out = new Set<string>()): Set<string> {
  if (!isRecord(tree)) return out;
  const children = Object.keys(tree).filter((k) => k !== '.');
  if (prefix.length > 0 && ('.' in tree || children.length === 0)) out.add(key(prefix));
  for (const k of children) decodeFieldsV1(tree[k], [...prefix, k], out);
  return out;
}

/** Rank of a path element kind in `PathElement.Compare`: field names, then keys, then values, then indexes. */
function rank(seg: string): number {
  return ['f', 'k', 'v', 'i'].indexOf(seg.slice(0, 1));
}

function compareSegments(a: string, b: string): number {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** `Set.Iterate` order: at each level the members first, then each child's subtree, both sorted. */
export function comparePaths(a: FieldPath, b: FieldPath): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const sa = a[i] ?? '';
    const sb = b[i] ?? '';
    if (sa === sb) continue;
    const aMember = a.length === i + 1;
    const bMember = b.length === i + 1;
    if (aMember !== bMember) return aMember ? -1 : 1;
    return compareSegments(sa, sb);
  }
  return a.length - b.length;
}

/** Set of paths → FieldsV1 tree, `.` first on nodes that are owned themselves and have children. */
export function encodeFieldsV1(paths: Set<string>): JsonObject {
  const root: JsonObject = {};
  const sorted = [...paths].map(parsePath).sort((a, b) => a.length - b.length);
  for (const path of sorted) {
    let node = root;
    for (const seg of path) node = (node[seg] ??= {}) as JsonObject;
  }
  const order = (node: JsonObject, path: FieldPath): JsonObject => {
    const out: JsonObject = {};
    const children = Object.keys(node).sort(compareSegments);
    if (children.length > 0 && paths.has(key(path)) && path.length > 0) out['.'] = {};
    for (const c of children) out[c] = order(node[c] as JsonObject, [...path, c]);
    return out;
  };
  return order(root, []);
}

/** `fieldpath.Path.String()`: `.spec.template.spec.containers[name="web"].image`, `[containerPort=80,protocol="TCP"]`, `[="x"]`. */
export function formatPath(path: FieldPath): string {
  return path
    .map((seg) => {
      if (seg.startsWith('f:')) return `.${seg.slice(2)}`;
      if (seg.startsWith('k:')) {
        const k = JSON.parse(seg.slice(2)) as JsonObject;
        return `[${Object.keys(k).sort().map((name) => `${name}=${JSON.stringify(k[name])}`).join(',')}]`;
      }
      if (seg.startsWith('v:')) return `[=${seg.slice(2)}]`;
      return `[${seg.slice(2)}]`;
    })
    .join('');
}
