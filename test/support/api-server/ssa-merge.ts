/**
 * `TypedValue.Merge` of structured-merge-diff (sigs.k8s.io/structured-merge-diff/v4
 * `typed/merge.go`): how server-side apply lays an applied configuration over the live object.
 * Unlike a strategic merge patch there are no directives: granular maps merge key by key, atomic
 * maps and lists (`selector`, `nodeSelector`, `command`, `tolerations`, …) and scalars are replaced,
 * and keyed lists and sets merge item by item in `visitListItems`' order (the applied order for the
 * applied items, live-only items kept where they were).
 */
import { isRecord } from '../../../src/k8s/types.js';
import { isAtomicMap, itemKey, listMeta } from './patch-meta.js';
import type { JsonObject } from './types.js';

/** The live object with `applied` merged in (neither is modified). */
export function mergeApplied(live: JsonObject, applied: JsonObject): JsonObject {
  return mergeValue(live, applied, []) as JsonObject;
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (isRecord(v) && Object.keys(v).length === 0);
}

function mergeValue(lhs: unknown, rhs: unknown, names: string[]): unknown {
  if (rhs === undefined) return structuredClone(lhs);
  if (lhs === undefined) return structuredClone(rhs);
  if (isRecord(lhs) || isRecord(rhs)) {
    // `doMap`: atomic maps, and two empty/null sides ("emptyPromoteToLeaf"), take the applied value;
    // a null applied over a granular map leaves the live map (deref of null is no map).
    if (isAtomicMap(names) || (isEmpty(lhs) && isEmpty(rhs))) return structuredClone(rhs);
    if (rhs === null) return structuredClone(lhs);
    const left = isRecord(lhs) ? lhs : {};
    const right = isRecord(rhs) ? rhs : {};
    const out: JsonObject = {};
    // A null that survives the merge is dropped, as decoding into the Go type leaves the field unset.
    for (const k of Object.keys(left)) {
      const v = k in right ? mergeValue(left[k], right[k], [...names, k]) : structuredClone(left[k]);
      if (v !== null) out[k] = v;
    }
    for (const k of Object.keys(right)) if (!(k in left) && right[k] !== null) out[k] = structuredClone(right[k]);
    return out;
  }
  if (Array.isArray(lhs) || Array.isArray(rhs)) {
    const meta = listMeta(names);
    if (meta.kind === 'atomic') return structuredClone(rhs);
    if (rhs === null) return structuredClone(lhs);
    const left = Array.isArray(lhs) ? lhs : [];
    const right = Array.isArray(rhs) ? rhs : [];
    const id = (item: unknown): string => (meta.kind === 'keyed' && isRecord(item) ? JSON.stringify(itemKey(meta, item)) : JSON.stringify(item));
    return mergeItems(left, right, id, (l, r) => (meta.kind === 'keyed' ? mergeValue(l, r, names) : structuredClone(r ?? l)));
  }
  return structuredClone(rhs);
}

/**
 * `visitListItems` of the merging walker: both lists walked together; an item of both is merged
 * where the applied list has it, live-only items keep their place, and a shared item met early on
 * the live side waits for its turn in the applied order.
 */
function mergeItems(lhs: unknown[], rhs: unknown[], id: (item: unknown) => string, merge: (l: unknown, r: unknown) => unknown): unknown[] {
  const lhsIds = lhs.map(id);
  const rhsIds = rhs.map(id);
  const observedLhs = new Map(lhs.map((item, i) => [lhsIds[i] ?? '', item]));
  const observedRhs = new Map(rhs.map((item, i) => [rhsIds[i] ?? '', item]));
  const sharedOrder = rhsIds.filter((pe) => observedLhs.has(pe));
  let nextShared = sharedOrder.shift();
  const mergedRhs = new Set<string>();
  const out: unknown[] = [];
  let lI = 0;
  let rI = 0;
  while (lI < lhs.length || rI < rhs.length) {
    if (lI < lhs.length && rI < rhs.length) {
      const pe = lhsIds[lI] ?? '';
      if (pe === rhsIds[rI]) {
        mergedRhs.add(pe);
        out.push(merge(observedLhs.get(pe), observedRhs.get(pe)));
        lI++;
        rI++;
        nextShared = sharedOrder.shift();
        continue;
      }
      if (observedRhs.has(pe) && nextShared !== undefined && nextShared !== pe) {
        lI++;
        continue;
      }
    }
    if (lI < lhs.length) {
      const pe = lhsIds[lI] ?? '';
      if (!observedRhs.has(pe)) {
        out.push(structuredClone(lhs[lI]));
        lI++;
        continue;
      }
      if (mergedRhs.has(pe)) {
        lI++;
        continue;
      }
    }
    if (rI < rhs.length) {
      const pe = rhsIds[rI] ?? '';
      mergedRhs.add(pe);
      out.push(merge(observedLhs.get(pe), observedRhs.get(pe)));
      rI++;
      if (nextShared === pe) nextShared = sharedOrder.shift();
    }
  }
  return out;
}
