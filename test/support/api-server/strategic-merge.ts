/**
 * JSON merge patch (RFC 7386) and strategic merge patch as the apiserver applies them
 * (`strategicpatch.StrategicMergeMapPatch` with `MergeParallelList` and `IgnoreUnmatchedNulls`, in
 * k8s.io/apimachinery/pkg/util/strategicpatch/patch.go): keyed list merges (containers by name, ports
 * by containerPort, …) and their ordering (`mergeSlice` → `normalizeElementOrder`), primitive lists
 * with `patchStrategy: merge` (finalizers) as sets, `$setElementOrder/<list>`, `$patch:
 * replace|delete` on maps and list items, `$retainKeys`, `$deleteFromPrimitiveList/<list>`, `null`
 * deletes. Errors carry the HTTP code `interpretStrategicMergePatchError` gives them.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import { listMeta } from './patch-meta.js';
import type { JsonObject } from './types.js';

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return structuredClone(patch);
  const result: JsonObject = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** A strategic merge patch the apiserver refuses, with the status code it answers. */
export interface SmpFailure {
  ok: false;
  /** 400 for the `ErrBadPatchFormat…` errors, 500 (reason unknown) for the rest, as the apiserver maps them. */
  code: 400 | 500;
  error: string;
}

class SmpError extends Error {
  constructor(
    message: string,
    readonly code: 400 | 500,
  ) {
    super(message);
  }
}

const ORDER_PREFIX = '$setElementOrder/';
const DELETE_FROM_PREFIX = '$deleteFromPrimitiveList/';
/** mergepatch.ErrBadPatchFormatFor…: the errors the apiserver answers with 400. */
const BAD_PRIMITIVE_LIST = 'invalid patch format of primitive list';
const BAD_RETAIN_KEYS = 'invalid patch format of retainKeys';
const BAD_ORDER_LIST = 'invalid patch format of setElementOrder list';

/** Go's `%v` of a decoded JSON value, as the strategic-merge errors print maps and lists. */
function goString(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (isRecord(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  return String(v);
}

function isDirective(key: string): boolean {
  return key === '$patch' || key === '$retainKeys' || key.startsWith(ORDER_PREFIX) || key.startsWith(DELETE_FROM_PREFIX);
}

/**
 * A patch value taken as is (a new field or item): nulls dropped (`discardNullValuesFromPatch`) and
 * directive keys dropped, as decoding into the typed object does with keys it does not know.
 */
function taken(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(taken);
  if (!isRecord(value)) return structuredClone(value);
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && !isDirective(k)) out[k] = taken(v);
  return out;
}

/** `handleDirectiveInMergeMap`, `applyRetainKeysDirective`, `mergePatchIntoOriginal`, then the field-by-field merge. */
function mergeMap(original: JsonObject | undefined, patchIn: JsonObject, path: string[]): JsonObject {
  const directive = patchIn['$patch'];
  if (directive === 'replace') {
    const { $patch: _replace, ...rest } = patchIn;
    return taken(rest) as JsonObject;
  }
  if (directive === 'delete') return {};
  if (directive !== undefined) throw new SmpError(`unknown patch type: ${goString(directive)} in map: ${goString(patchIn)}`, 500);
  const result: JsonObject = { ...(original ?? {}) };
  const patch: JsonObject = { ...patchIn };
  retainKeys(result, patch);
  mergeOrderedLists(result, patch, path);
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(ORDER_PREFIX)) continue;
    if (key.startsWith(DELETE_FROM_PREFIX)) {
      const field = key.slice(DELETE_FROM_PREFIX.length);
      if (!Array.isArray(value)) throw new SmpError(BAD_PRIMITIVE_LIST, 400);
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((v) => !value.some((d) => isDeepStrictEqual(d, v)));
      continue;
    }
    if (value === null) {
      delete result[key];
      continue;
    }
    const current = result[key];
    const sameShape = current !== undefined && (isRecord(current) ? isRecord(value) : Array.isArray(current) ? Array.isArray(value) : !isRecord(value) && !Array.isArray(value));
    if (!sameShape) result[key] = taken(value);
    else if (isRecord(value)) result[key] = mergeMap(current as JsonObject, value, [...path, key]);
    else if (Array.isArray(value)) result[key] = mergeList(current as unknown[], value, [...path, key]);
    else result[key] = value;
  }
  return result;
}

/** `applyRetainKeysDirective`: keys outside `$retainKeys` are dropped before merging; the patch may only set listed keys. */
function retainKeys(result: JsonObject, patch: JsonObject): void {
  if (!('$retainKeys' in patch)) return;
  const keep = patch['$retainKeys'];
  delete patch['$retainKeys'];
  if (!Array.isArray(keep)) throw new SmpError(BAD_RETAIN_KEYS, 400);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(DELETE_FROM_PREFIX) || k.startsWith(ORDER_PREFIX)) continue;
    if (!keep.includes(k)) throw new SmpError(BAD_RETAIN_KEYS, 400);
  }
  for (const k of Object.keys(result)) if (!keep.includes(k)) delete result[k];
}

/** The merge key's value of a keyed item, or the item itself for primitives. */
function identity(item: unknown, mergeKey: string | undefined): unknown {
  return mergeKey !== undefined && isRecord(item) ? item[mergeKey] : item;
}

function indexIn(list: unknown[], item: unknown, mergeKey: string | undefined): number {
  const id = identity(item, mergeKey);
  return list.findIndex((x) => isDeepStrictEqual(identity(x, mergeKey), id));
}

/**
 * `normalizeElementOrder`: the patch's items in the order given, the server-only items in their
 * previous order, interleaved by `mergeSortedSlice` (a server-only item goes first when it came
 * before the next patch item in the previous list).
 */
function normalizeOrder(patchItems: unknown[], serverOnly: unknown[], patchOrder: unknown[], serverOrder: unknown[], mergeKey: string | undefined): unknown[] {
  const byPatch = [...patchItems].sort((a, b) => indexIn(patchOrder, a, mergeKey) - indexIn(patchOrder, b, mergeKey));
  const byServer = [...serverOnly].sort((a, b) => indexIn(serverOrder, a, mergeKey) - indexIn(serverOrder, b, mergeKey));
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < byServer.length || j < byPatch.length) {
    if (j >= byPatch.length) out.push(byServer[i++]);
    else if (i >= byServer.length) out.push(byPatch[j++]);
    else {
      const li = indexIn(serverOrder, byServer[i], mergeKey);
      const ri = indexIn(serverOrder, byPatch[j], mergeKey);
      out.push(li >= 0 && ri >= 0 && li < ri ? byServer[i++] : byPatch[j++]);
    }
  }
  return out;
}

/** Splits `merged` into the items `order` names and the rest. */
function partition(merged: unknown[], order: unknown[], mergeKey: string | undefined): [unknown[], unknown[]] {
  const named = merged.filter((item) => indexIn(order, item, mergeKey) >= 0);
  return [named, merged.filter((item) => !named.includes(item))];
}

/** `mergeSlice` for a keyed list or a primitive list with `patchStrategy: merge`; other lists are replaced. */
function mergeList(original: unknown[], patch: unknown[], path: string[]): unknown[] {
  const meta = listMeta(path);
  if (meta.kind === 'atomic') return taken(patch) as unknown[];
  if (original.length === 0 && patch.length === 0) return original;
  const maps = [...original, ...patch].some(isRecord);
  if (!maps) {
    const merged: unknown[] = [];
    for (const v of [...original, ...patch]) if (!merged.some((m) => isDeepStrictEqual(m, v))) merged.push(v);
    const [patchItems, serverOnly] = partition(merged, patch, undefined);
    return normalizeOrder(patchItems, serverOnly, patch, original, undefined);
  }
  if (meta.kind !== 'keyed') throw new SmpError(`cannot merge lists without merge key for ${path.join('.')}`, 500);
  const key = meta.mergeKey;
  let base = [...original];
  const items: JsonObject[] = [];
  let replace = false;
  for (const raw of patch) {
    if (!isRecord(raw)) throw new SmpError(`unable to find api field in struct for ${path.join('.')}`, 500);
    const directive = raw['$patch'];
    if (directive === undefined) items.push(raw);
    else if (directive === 'delete') {
      if (!(key in raw)) throw new SmpError(`map: ${goString(raw)} does not contain declared merge key: ${key}`, 500);
      base = base.filter((o) => !(isRecord(o) && isDeepStrictEqual(o[key], raw[key])));
    } else if (directive === 'replace') replace = true;
    else if (directive === 'merge') throw new SmpError('merging lists cannot yet be specified in the patch', 500);
    else throw new SmpError(`unknown patch type: ${goString(directive)} in map: ${goString(raw)}`, 500);
  }
  if (replace) return taken(items) as unknown[];
  const merged = [...base];
  for (const item of items) {
    if (!(key in item)) throw new SmpError(`map: ${goString(item)} does not contain declared merge key: ${key}`, 500);
    const idx = merged.findIndex((o) => isRecord(o) && isDeepStrictEqual(o[key], item[key]));
    if (idx >= 0) merged[idx] = mergeMap(merged[idx] as JsonObject, item, path);
    else merged.push(taken(item));
  }
  const [patchItems, serverOnly] = partition(merged, items, key);
  return normalizeOrder(patchItems, serverOnly, items, base, key);
}

/** `validatePatchWithSetOrderList`: the patch's items must appear in the order list, in the same order. */
function checkOrderList(patchList: unknown[], order: unknown[], mergeKey: string | undefined): void {
  const items = patchList.filter((item) => !(isRecord(item) && '$patch' in item));
  let p = 0;
  for (let o = 0; o < order.length && p < items.length; o++) {
    if (isDeepStrictEqual(identity(items[p], mergeKey), identity(order[o], mergeKey))) p++;
  }
  if (p < items.length) throw new SmpError(`The order in patch list:\n${goString(patchList)}\n doesn't match $setElementOrder list:\n${goString(order)}\n`, 500);
}

/** `mergePatchIntoOriginal`: each `$setElementOrder/<list>` with its list, merged and put in that order. */
function mergeOrderedLists(result: JsonObject, patch: JsonObject, path: string[]): void {
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(ORDER_PREFIX)) continue;
    if (!Array.isArray(order)) throw new SmpError(BAD_ORDER_LIST, 400);
    const field = key.slice(ORDER_PREFIX.length);
    const current = result[field];
    const patchList = patch[field];
    if ((current !== undefined && !Array.isArray(current)) || (patchList !== undefined && !Array.isArray(patchList))) throw new SmpError(BAD_ORDER_LIST, 400);
    const meta = listMeta([...path, field]);
    const mergeKey = meta.kind === 'keyed' ? meta.mergeKey : undefined;
    checkOrderList((patchList as unknown[] | undefined) ?? [], order, mergeKey);
    let merged: unknown[];
    if (current === undefined && patchList === undefined) continue;
    if (patchList === undefined) merged = current as unknown[];
    else if (current === undefined) merged = taken(patchList) as unknown[];
    else merged = mergeList(current as unknown[], patchList as unknown[], [...path, field]);
    const [named, serverOnly] = partition(merged, order, mergeKey);
    result[field] = normalizeOrder(named, serverOnly, order, (current as unknown[] | undefined) ?? [], mergeKey);
    delete patch[field];
  }
}

/** Applies a strategic merge patch to `original` (not modified). */
export function applyStrategicMerge(original: JsonObject, patch: unknown): { ok: true; value: JsonObject } | SmpFailure {
  if (!isRecord(patch)) return { ok: false, code: 400, error: 'strategic merge patch must be a JSON object' };
  try {
    return { ok: true, value: mergeMap(structuredClone(original), patch, []) };
  } catch (err) {
    if (err instanceof SmpError) return { ok: false, code: err.code, error: err.message };
    throw err;
  }
}
