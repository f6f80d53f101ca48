/**
 * What the apiextensions-apiserver does to a custom resource before validating it, over the CRD
 * version's structural schema, in its order (`unstructuredSchemaCoercer.apply` then the codec's
 * defaulter): **pruning** of fields the schema does not specify (structural/pruning/algorithm.go:
 * kept under `x-kubernetes-preserve-unknown-fields`, map values under `additionalProperties`;
 * `apiVersion`/`kind`/`metadata` of the object and of `x-kubernetes-embedded-resource` objects are
 * kept, metadata cut down to ObjectMeta's fields), then `PruneNonNullableNullsWithoutDefaults`, then
 * **defaulting** from `default` values (structural/defaulting/algorithm.go, recursively into what
 * was defaulted). The pruned paths are returned so that `fieldValidation` can warn or refuse.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** A node of a structural schema, as the CRD carries it (JSONSchemaProps in JSON). */
export type Schema = JsonObject;

/** The fields of metav1.ObjectMeta; anything else under `metadata` is pruned. */
const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);
/** Root fields pruning never reports (`metaFields` in the pruning algorithm). */
const META_FIELDS = new Set(['apiVersion', 'kind', 'metadata']);

/** The schema of property `key` of an object node: from `properties`, else `additionalProperties`. */
export function propertySchema(s: Schema | undefined, key: string): Schema | undefined {
  if (s === undefined) return undefined;
  const props = s['properties'];
  if (isRecord(props) && isRecord(props[key])) return props[key];
  return isRecord(s['additionalProperties']) ? s['additionalProperties'] : undefined;
}

/** The schema of the items of an array node. */
export function itemsSchema(s: Schema | undefined): Schema | undefined {
  return s !== undefined && isRecord(s['items']) ? s['items'] : undefined;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function pruneMeta(meta: JsonObject, path: string, pruned: string[]): void {
  for (const k of Object.keys(meta)) {
    if (OBJECT_META_FIELDS.has(k)) continue;
    pruned.push(join(path, k));
    delete meta[k];
  }
}

function pruneNode(x: unknown, s: Schema | undefined, path: string, pruned: string[], resourceRoot: boolean): void {
  if (isRecord(x)) {
    const preserve = s !== undefined && s['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = resourceRoot || (s !== undefined && s['x-kubernetes-embedded-resource'] === true);
    for (const [k, v] of Object.entries(x)) {
      if (embedded && (k === 'apiVersion' || k === 'kind') && typeof v === 'string') continue;
      if (embedded && k === 'metadata' && isRecord(v)) {
        pruneMeta(v, join(path, k), pruned);
        continue;
      }
      const child = propertySchema(s, k);
      if (child !== undefined) pruneNode(v, child, join(path, k), pruned, false);
      else if (preserve) continue;
      else {
        if (!(resourceRoot && META_FIELDS.has(k))) pruned.push(join(path, k));
        delete x[k];
      }
    }
    return;
  }
  if (Array.isArray(x)) {
    const items = itemsSchema(s);
    const preserve = s !== undefined && s['x-kubernetes-preserve-unknown-fields'] === true;
    // Under preserve-unknown-fields without an items schema nothing below is pruned.
    if (items === undefined && preserve) return;
    x.forEach((v, i) => pruneNode(v, items, `${path}[${i}]`, pruned, false));
  }
}

/** Removes what the schema does not specify from `obj` (in place); returns the removed paths. */
export function prune(obj: JsonObject, schema: Schema | undefined): string[] {
  const pruned: string[] = [];
  pruneNode(obj, schema ?? {}, '', pruned, true);
  return pruned;
}

function hasDefault(s: Schema | undefined): boolean {
  return s !== undefined && 'default' in s;
}

/** `PruneNonNullableNullsWithoutDefaults`: a `null` property that may not be null and has no default goes. */
function pruneNulls(x: unknown, s: Schema | undefined): void {
  if (s === undefined) return;
  if (isRecord(x)) {
    const props = isRecord(s['properties']) ? s['properties'] : {};
    for (const [k, v] of Object.entries(x)) {
      const prop = isRecord(props[k]) ? props[k] : undefined;
      if (prop !== undefined && v === null && !hasDefault(prop) && prop['nullable'] !== true) delete x[k];
    }
    for (const [k, v] of Object.entries(x)) pruneNulls(v, propertySchema(s, k));
  } else if (Array.isArray(x)) {
    for (const v of x) pruneNulls(v, itemsSchema(s));
  }
}

function nonNullableNull(v: unknown, s: Schema | undefined): boolean {
  return v === null && s !== undefined && hasDefault(s) && s['nullable'] !== true;
}

/** `structuraldefaulting.Default`: fills missing (or non-nullable null) properties from `default`. */
function defaultNode(x: unknown, s: Schema | undefined): void {
  if (s === undefined) return;
  if (isRecord(x)) {
    const props = isRecord(s['properties']) ? s['properties'] : {};
    for (const [k, prop] of Object.entries(props)) {
      if (!isRecord(prop) || !hasDefault(prop)) continue;
      if (!(k in x) || nonNullableNull(x[k], prop)) x[k] = structuredClone(prop['default']);
    }
    for (const [k, v] of Object.entries(x)) {
      const child = propertySchema(s, k);
      if (!isRecord(props[k]) && child !== undefined && nonNullableNull(v, child)) x[k] = structuredClone(child['default']);
      defaultNode(x[k], child);
    }
  } else if (Array.isArray(x)) {
    const items = itemsSchema(s);
    x.forEach((v, i) => {
      if (nonNullableNull(v, items)) x[i] = structuredClone(items?.['default']);
      defaultNode(x[i], items);
    });
  }
}

/**
 * Prunes, drops non-nullable nulls and applies defaults, in the apiserver's order, in place.
 * Returns the pruned paths (`spec.foo`, `spec.items[0].bar`) for `fieldValidation`.
 */
export function pruneAndDefault(obj: JsonObject, schema: Schema | undefined): string[] {
  const pruned = prune(obj, schema);
  pruneNulls(obj, schema);
  defaultNode(obj, schema);
  return pruned;
}
