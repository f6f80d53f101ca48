/**
 * Reading provenance values (commit, approver, pipeline run) from annotations. A value may sit under
 * the canonical key or an alias, on the object or on its pod template. When the old object is known,
 * a key whose value changed in this request wins: after the gate has normalised `ci/commit` into
 * `tracegate.io/commit`, a later edit of `ci/commit` alone must still count as a new commit.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';
import type { ProvenanceKey } from './types.js';

/** A provenance value and the annotation key it was found under. */
export interface FoundValue {
  key: string;
  value: string;
}

type Sources = readonly [unknown, unknown];

function read(sources: Sources, key: ProvenanceKey, i: number, k: string): string | undefined {
  const src = sources[i];
  if (!isRecord(src)) return undefined;
  const v = src[k];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Annotation maps to search, in order: the object's own, then its pod template's. */
export function annotationSources(obj: KubeObject | undefined, templateAnnotations: unknown): Sources {
  return [obj?.metadata?.annotations, templateAnnotations];
}

/**
 * Finds the commit that makes a change fresh: the first value not among `previous` (the commits earlier
 * changes were admitted with), else the first value found.
 */
export function findFreshProvenance(now: Sources, key: ProvenanceKey, previous: readonly string[]): FoundValue | undefined {
  let first: FoundValue | undefined;
  for (let i = 0; i < now.length; i++) {
    for (const k of key.keys) {
      const v = read(now, key, i, k);
      if (v === undefined) continue;
      if (!previous.includes(v)) return { key: k, value: v };
      first ??= { key: k, value: v };
    }
  }
  return first;
}

/** Finds a provenance value, preferring one that changed relative to `old` when given. */
export function findProvenance(now: Sources, key: ProvenanceKey, old?: Sources): FoundValue | undefined {
  let first: FoundValue | undefined;
  for (let i = 0; i < now.length; i++) {
    for (const k of key.keys) {
      const v = read(now, key, i, k);
      if (v === undefined) continue;
      if (!old) return { key: k, value: v };
      first ??= { key: k, value: v };
      if (read(old, key, i, k) !== v) return { key: k, value: v };
    }
  }
  return first;
}
