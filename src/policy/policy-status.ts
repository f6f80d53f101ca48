/**
 * The status the gate writes on a TracegatePolicy: a `Ready` condition (metav1.Condition) for the
 * generation it judged, and for a loaded one its digest and rule count. Pure, and the same on every
 * replica for the same object (nothing replica-specific such as what this replica still enforces), so
 * replicas agree and write once; `lastTransitionTime` moves only when the condition's status does.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../k8s/types.js';
import type { PolicyOutcome } from './cluster-state.js';

/** The condition type the gate owns; other types on the object are left as they are. */
export const READY = 'Ready';

/** A TracegatePolicy's status as the CRD defines it. */
export interface PolicyStatus {
  observedGeneration?: number;
  digest?: string;
  ruleCount?: number;
  conditions?: Record<string, unknown>[];
}

/**
 * The status to write for `outcome` given the object's current `status`, or undefined when the
 * current one already says it. A refused generation keeps the digest and rule count of the last one
 * loaded (they describe what was enforced, and the condition says this generation is not).
 */
export function desiredStatus(outcome: PolicyOutcome, status: unknown, now: Date): PolicyStatus | undefined {
  const prev: PolicyStatus = isRecord(status) ? (status as PolicyStatus) : {};
  const conditions = Array.isArray(prev.conditions) ? prev.conditions.filter(isRecord) : [];
  const old = conditions.find((c) => c['type'] === READY);
  const state = outcome.ready ? 'True' : 'False';
  const ready: Record<string, unknown> = {
    type: READY,
    status: state,
    ...(outcome.generation !== undefined ? { observedGeneration: outcome.generation } : {}),
    lastTransitionTime: old && old['status'] === state && typeof old['lastTransitionTime'] === 'string' ? old['lastTransitionTime'] : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    reason: outcome.reason,
    message: outcome.message,
  };
  const next: PolicyStatus = {
    ...prev,
    ...(outcome.generation !== undefined ? { observedGeneration: outcome.generation } : {}),
    conditions: old ? conditions.map((c) => (c === old ? ready : c)) : [...conditions, ready],
  };
  if (outcome.ready && outcome.enforced) {
    next.digest = outcome.enforced.digest;
    next.ruleCount = outcome.enforced.rules.length;
  }
  return isDeepStrictEqual(next, prev) ? undefined : next;
}
