/**
 * The in-memory "etcd": objects by resource/namespace/name, one global resourceVersion counter, and a
 * bounded log of change events that watches replay from a resourceVersion. Everything handed out is a
 * copy, so callers can never change stored state behind the server's back.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { ResourceRegistry } from './crd-registry.js';
import { pruneAndDefault } from './cr-schema.js';
import { applyDefaults } from './defaults.js';
import { apiVersionOf } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { JsonObject } from './types.js';

/** A stored change, as watches deliver it. */
export interface ChangeEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  info: ResourceInfo;
  /** The new state; for DELETED the last state with the deletion's resourceVersion. */
  object: JsonObject;
  /** The state before a MODIFIED, so selector-filtered watches can turn it into ADDED/DELETED. */
  previous?: JsonObject;
}

/** Receives every change as it is committed. */
export type ChangeListener = (event: ChangeEvent) => void;

/** Events kept for watch replay; older resourceVersions get 410 Gone, like a compacted etcd. */
const MAX_EVENTS = 10_000;

function metaOf(obj: JsonObject): JsonObject {
  if (!isRecord(obj['metadata'])) obj['metadata'] = {};
  return obj['metadata'] as JsonObject;
}

function keyOf(info: ResourceInfo, namespace: string, name: string): string {
  return `${info.group}/${info.resource}/${info.namespaced ? namespace : ''}/${name}`;
}

/**
 * A copy of a stored object as `info`'s version serves it: the versions of a custom resource share
 * their storage and, with conversion `None`, differ only in `apiVersion`.
 */
function servedCopy(info: ResourceInfo, obj: JsonObject): JsonObject {
  const copy = structuredClone(obj);
  if (info.custom !== undefined) copy['apiVersion'] = apiVersionOf(info);
  return copy;
}

/** The server-side object store. */
export interface ObjectStore {
  /** A copy as `info`'s version serves it. */
  get(info: ResourceInfo, namespace: string, name: string): JsonObject | undefined;
  /** Objects of `info` in `namespace` (all namespaces when `undefined`), ordered by namespace and name. */
  list(info: ResourceInfo, namespace?: string): JsonObject[];
  /** Stores `obj` under a new resourceVersion and emits ADDED or MODIFIED; returns the stored copy. */
  commit(info: ResourceInfo, obj: JsonObject): JsonObject;
  /** Deletes and emits DELETED; returns the last state or `undefined` if absent. */
  remove(info: ResourceInfo, namespace: string, name: string): JsonObject | undefined;
  /** The latest resourceVersion handed out. */
  currentRv(): number;
  /** Events after `rv`, or `'expired'` when `rv` is older than the log (or the forced compaction point). */
  eventsSince(rv: number): ChangeEvent[] | 'expired';
  /** Makes every resourceVersion below `rv` too old to watch from (`undefined`: below the current one). */
  compact(rv?: number): void;
  /** The oldest resourceVersion a watch may still start from. */
  oldestRv(): number;
  subscribe(listener: ChangeListener): () => void;
}

/** Creates an empty store. */
export function createObjectStore(): ObjectStore {
  const objects = new Map<string, JsonObject>();
  const events: ChangeEvent[] = [];
  const listeners = new Set<ChangeListener>();
  let rv = 0;
  let compactedBelow = 0;

  function emit(event: ChangeEvent): void {
    events.push(event);
    if (events.length > MAX_EVENTS) events.splice(0, events.length - MAX_EVENTS);
    for (const l of [...listeners]) l(event);
  }

  return {
    get(info, namespace, name) {
      const obj = objects.get(keyOf(info, namespace, name));
      return obj === undefined ? undefined : servedCopy(info, obj);
    },
    list(info, namespace) {
      const prefix = `${info.group}/${info.resource}/`;
      const out: JsonObject[] = [];
      for (const [key, obj] of objects) {
        if (!key.startsWith(prefix)) continue;
        const meta = metaOf(obj);
        if (namespace !== undefined && info.namespaced && meta['namespace'] !== namespace) continue;
        out.push(servedCopy(info, obj));
      }
      const sortKey = (o: JsonObject): string => `${String(metaOf(o)['namespace'] ?? '')}/${String(metaOf(o)['name'] ?? '')}`;
      return out.sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0));
    },
    commit(info, obj) {
      const stored = structuredClone(obj);
      const meta = metaOf(stored);
      const namespace = info.namespaced ? String(meta['namespace'] ?? '') : '';
      const name = String(meta['name'] ?? '');
      const key = keyOf(info, namespace, name);
      const previous = objects.get(key);
      rv++;
      meta['resourceVersion'] = String(rv);
      stored['apiVersion'] = apiVersionOf(info);
      stored['kind'] = info.kind;
      objects.set(key, stored);
      const event: ChangeEvent = { rv, type: previous === undefined ? 'ADDED' : 'MODIFIED', info, object: stored };
      if (previous !== undefined) event.previous = previous;
      emit(event);
      return structuredClone(stored);
    },
    remove(info, namespace, name) {
      const key = keyOf(info, namespace, name);
      const previous = objects.get(key);
      if (previous === undefined) return undefined;
      objects.delete(key);
      rv++;
      const last = structuredClone(previous);
      metaOf(last)['resourceVersion'] = String(rv);
      emit({ rv, type: 'DELETED', info, object: last });
      return structuredClone(last);
    },
    currentRv: () => rv,
    eventsSince(since) {
      if (since < compactedBelow) return 'expired';
      const first = events[0];
      // The log lost events after `since` when its first kept event is more than one step later.
      if (first !== undefined && first.rv > since + 1 && since < rv) return 'expired';
      return events.filter((e) => e.rv > since);
    },
    compact(below) {
      compactedBelow = below ?? rv;
    },
    oldestRv: () => Math.max(compactedBelow, (events[0]?.rv ?? rv + 1) - 1),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** The test-facing view of the store: arrange and inspect state, bypassing admission. */
export interface TestStore {
  /** A copy of the object, or `undefined`. `resource` is a plural (`deployments`), `plural.group` or kind. */
  get(resource: string, namespace: string, name: string): JsonObject | undefined;
  /** Copies of the objects, in one namespace or (omitted) all. */
  list(resource: string, namespace?: string): JsonObject[];
  /**
   * Stores `obj` (resource from apiVersion + kind, custom resources of established CRDs too) with the
   * apiserver's defaults filled in (a custom resource pruned and defaulted from its schema), adding uid,
   * creationTimestamp, generation (1, or bumped when the spec changed) and a new resourceVersion;
   * emits a watch event. No validation, managedFields or admission.
   */
  put(obj: JsonObject): JsonObject;
  /** Deletes without cascading; returns whether it existed. */
  delete(resource: string, namespace: string, name: string): boolean;
  /** The current global resourceVersion. */
  resourceVersion(): string;
}

/** Wraps the store for tests; `now` stamps creationTimestamp, `resources` resolves names (custom resources too). */
export function createTestStore(store: ObjectStore, now: () => Date, resources: ResourceRegistry): TestStore {
  const mustResolve = (resource: string): ResourceInfo => {
    const info = resources.resolve(resource);
    if (info === undefined) throw new Error(`the test API server does not serve ${JSON.stringify(resource)}`);
    return info;
  };
  return {
    get: (resource, namespace, name) => store.get(mustResolve(resource), namespace, name),
    list: (resource, namespace) => store.list(mustResolve(resource), namespace),
    put(obj) {
      const info = resources.forKind(String(obj['apiVersion'] ?? ''), String(obj['kind'] ?? ''));
      if (info === undefined) throw new Error(`the test API server does not serve ${String(obj['apiVersion'])} ${String(obj['kind'])}`);
      const copy = structuredClone(obj);
      const meta = metaOf(copy);
      if (typeof meta['name'] !== 'string' || meta['name'] === '') throw new Error('store.put needs metadata.name');
      if (info.namespaced && (typeof meta['namespace'] !== 'string' || meta['namespace'] === '')) throw new Error('store.put needs metadata.namespace');
      const existing = store.get(info, String(meta['namespace'] ?? ''), meta['name']);
      const existingMeta = existing === undefined ? {} : metaOf(existing);
      if (info.custom === undefined) applyDefaults(info.kind, copy);
      else pruneAndDefault(copy, info.custom.schema);
      meta['uid'] ??= existingMeta['uid'] ?? randomUUID();
      meta['creationTimestamp'] ??= existingMeta['creationTimestamp'] ?? `${now().toISOString().slice(0, 19)}Z`;
      if (info.generation && meta['generation'] === undefined) {
        const bump = existing !== undefined && !isDeepStrictEqual(existing['spec'], copy['spec']) ? 1 : 0;
        meta['generation'] = existing === undefined ? 1 : Number(existingMeta['generation'] ?? 1) + bump;
      }
      return store.commit(info, copy);
    },
    delete: (resource, namespace, name) => store.remove(mustResolve(resource), namespace, name) !== undefined,
    resourceVersion: () => String(store.currentRv()),
  };
}
