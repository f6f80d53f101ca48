/**
 * JSON merge patch (RFC 7386) and strategic merge patch with the directives kubectl and helm send:
 * keyed list merges (containers by name, ports by containerPort, …), `$setElementOrder/<list>`,
 * `$patch: replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`, and `null` deletes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Parsed } from '../../../src/errors.js';
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

class SmpError extends Error {}

const DELETE = Symbol('delete');
const ORDER_PREFIX = '$setElementOrder/';
const DELETE_FROM_PREFIX = '$deleteFromPrimitiveList/';

function isDirectiveKey(key: string): boolean {
  return key === '$patch' || key === '$retainKeys' || key.startsWith(ORDER_PREFIX) || key.startsWith(DELETE_FROM_PREFIX);
}

function mergeMap(original: unknown, patch: JsonObject, path: string[]): JsonObject | typeof DELETE {
  const directive = patch['$patch'];
  if (directive === 'delete') return DELETE;
  if (directive !== undefined && directive !== 'replace' && directive !== 'merge') {
    throw new SmpError(`Unknown patch type: ${String(directive)}`);
  }
  // `replace` keeps only what the patch says; merging into nothing strips the directives below it.
  const result: JsonObject = directive !== 'replace' && isRecord(original) ? { ...original } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (isDirectiveKey(key)) continue;
    if (value === null) {
      delete result[key];
    } else if (isRecord(value)) {
      const merged = mergeMap(result[key], value, [...path, key]);
      if (merged === DELETE) delete result[key];
      else result[key] = merged;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(result[key], value, [...path, key]);
    } else {
      result[key] = value;
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(DELETE_FROM_PREFIX)) {
      const field = key.slice(DELETE_FROM_PREFIX.length);
      if (!Array.isArray(value)) throw new SmpError(`invalid patch: ${key} must be a list`);
      const current = result[field];
      if (Array.isArray(current)) result[field] = current.filter((v) => !value.some((d) => isDeepStrictEqual(d, v)));
    }
  }
  for (const [key, value] of Object.entries(patch)) {
    if (!key.startsWith(ORDER_PREFIX)) continue;
    const field = key.slice(ORDER_PREFIX.length);
    if (!Array.isArray(value)) throw new SmpError(`invalid patch: ${key} must be a list`);
    const current = result[field];
    if (Array.isArray(current)) result[field] = reorder(current, value, [...path, field]);
  }
  const retain = patch['$retainKeys'];
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw new SmpError('invalid patch: $retainKeys must be a list');
    for (const key of Object.keys(result)) if (!retain.includes(key)) delete result[key];
  }
  return result;
}

function mergeList(original: unknown, patch: unknown[], path: string[]): unknown[] {
  const meta = listMeta(path);
  if (meta.kind === 'atomic') return patch.map((item) => stripDirectives(item, path));
  if (meta.kind === 'set') {
    const result = Array.isArray(original) ? [...original] : [];
    for (const v of patch) if (!result.some((r) => isDeepStrictEqual(r, v))) result.push(v);
    return result;
  }
  const key = meta.mergeKey;
  if (patch.some((item) => isRecord(item) && item['$patch'] === 'replace')) {
    return patch.filter((item) => !(isRecord(item) && item['$patch'] === 'replace')).map((item) => stripDirectives(item, path));
  }
  const result: unknown[] = Array.isArray(original) ? [...original] : [];
  for (const item of patch) {
    if (!isRecord(item)) throw new SmpError(`invalid patch: items of ${path.join('.')} must be objects`);
    if (!(key in item)) throw new SmpError(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    const idx = result.findIndex((o) => isRecord(o) && isDeepStrictEqual(o[key], item[key]));
    if (item['$patch'] === 'delete') {
      if (idx >= 0) result.splice(idx, 1);
      continue;
    }
    const merged = mergeMap(idx >= 0 ? result[idx] : {}, item, path);
    if (merged === DELETE) continue;
    if (idx >= 0) result[idx] = merged;
    else result.push(merged);
  }
  return result;
}

/**
 * Orders a merged list by `$setElementOrder`: the listed items first, in that order; items the
 * server had that the order does not mention follow in their previous order.
 */
function reorder(list: unknown[], order: unknown[], path: string[]): unknown[] {
  const meta = listMeta(path);
  const keyOf = (item: unknown): unknown => (meta.kind === 'keyed' && isRecord(item) ? item[meta.mergeKey] : item);
  const orderKeys = order.map(keyOf);
  const position = (item: unknown): number => orderKeys.findIndex((k) => isDeepStrictEqual(k, keyOf(item)));
  const listed = list.filter((item) => position(item) >= 0).sort((a, b) => position(a) - position(b));
  const rest = list.filter((item) => position(item) < 0);
  return [...listed, ...rest];
}

function stripDirectives(value: unknown, path: string[]): unknown {
  if (isRecord(value)) {
    const merged = mergeMap({}, value, path);
    return merged === DELETE ? {} : merged;
  }
  return structuredClone(value);
}

/** Applies a strategic merge patch to `original` (not modified). */
export function applyStrategicMerge(original: JsonObject, patch: unknown): Parsed<JsonObject> {
  if (!isRecord(patch)) return { ok: false, error: 'strategic merge patch must be a JSON object' };
  try {
    const merged = mergeMap(structuredClone(original), patch, []);
    return { ok: true, value: merged === DELETE ? {} : merged };
  } catch (err) {
    if (err instanceof SmpError) return { ok: false, error: err.message };
    throw err;
  }
}
