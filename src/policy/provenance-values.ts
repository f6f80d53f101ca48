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
  if (typeof v !== 'string') return undefined;
  const trimmed = v.trim();
  return trimmed !== '' ? trimmed : undefined;
}

/** Annotation maps to search, in order: the object's own, then its pod template's. */
export function annotationSources(obj: KubeObject | undefined, templateAnnotations: unknown): Sources {
  return [obj?.metadata?.annotations, templateAnnotations];
}

/** What a change's commit must differ from. */
export interface CommitBaseline {
  /** Every commit value the object carried when its current template was admitted. */
  used: readonly string[];
  /** The commit the current template was admitted with, when the gate stamped one. */
  current?: string;
}

/** Abbreviated or full hex object names: git abbreviates to 7 at least. */
const HEX_COMMIT_RE = /^[0-9a-fA-F]{7,}$/;

/**
 * True when two commit values name the same commit: equal, or both hex and one an abbreviation of the
 * other (`c0ffee1` and `c0ffee1d2e…`), so abbreviating the current commit does not pass for a new one.
 */
export function sameCommit(a: string, b: string): boolean {
  if (a === b) return true;
  if (!HEX_COMMIT_RE.test(a) || !HEX_COMMIT_RE.test(b)) return false;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x.length <= y.length ? y.startsWith(x) : x.startsWith(y);
}

function used(baseline: CommitBaseline, value: string): boolean {
  for (let i = 0; i < baseline.used.length; i++) if (sameCommit(baseline.used[i]!, value)) return true;
  return false;
}

/**
 * Finds the commit of a change and whether it is new. A value is new when the object did not carry it
 * at the last template change, or when this request sets it and it is not the commit the gate stamped
 * for the current version — so restoring an earlier revision's annotations (a rollback) counts, while a
 * stale alias left on the object never covers a second change. Without the gate's stamps (an object
 * that never passed it) only a value the old object did not carry is new. Values are compared with
 * {@link sameCommit}: an abbreviation of a used commit is that commit.
 */
export function findFreshCommit(now: Sources, key: ProvenanceKey, old: Sources | undefined, baseline: CommitBaseline): { found?: FoundValue; fresh: boolean } {
  let first: FoundValue | undefined;
  for (let i = 0; i < now.length; i++) {
    for (const k of key.keys) {
      const v = read(now, key, i, k);
      if (v === undefined) continue;
      const setNow = !old || read(old, key, i, k) !== v;
      if (!used(baseline, v) || (setNow && baseline.current !== undefined && !sameCommit(v, baseline.current))) return { found: { key: k, value: v }, fresh: true };
      first ??= { key: k, value: v };
    }
  }
  return first ? { found: first, fresh: false } : { fresh: false };
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
