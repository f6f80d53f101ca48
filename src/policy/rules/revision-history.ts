/**
 * Revision history: the old ReplicaSets (Deployment) and ControllerRevisions (StatefulSet, DaemonSet)
 * that `kubectl rollout undo` rolls back to are kept up to `spec.revisionHistoryLimit`; a tenant who sets
 * it to 0 throws every rollback target away. The rule asks for a minimum.
 */
import { APPS_DEFAULT_REVISION_HISTORY_LIMIT } from '../defaults.js';
import type { CompiledRevisionHistoryRule, Violation } from '../types.js';
import type { CheckInput, MakeViolation } from './context.js';

/** What a kind keeps for rollbacks, in the words of the message. */
const KEPT: Readonly<Record<string, string>> = {
  Deployment: 'old ReplicaSets',
  StatefulSet: 'old ControllerRevisions',
  DaemonSet: 'old ControllerRevisions',
};

/**
 * Evaluates the minimum on the kinds that have the field; other kinds pass. An absent (or null) field is
 * the apps/v1 default, 10 — what the apiserver stores and the gate stamps.
 */
export function checkRevisionHistory(rule: CompiledRevisionHistoryRule, input: CheckInput, make: MakeViolation): Violation[] {
  const kind = input.object.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(KEPT, kind)) return [];
  const raw = input.object.spec?.revisionHistoryLimit;
  const absent = raw === undefined || raw === null;
  const value = absent ? APPS_DEFAULT_REVISION_HISTORY_LIMIT : raw;
  if (typeof value === 'number' && Number.isInteger(value) && value >= rule.minimum) return [];
  const name = input.object.metadata?.name || '<name>';
  const shown = absent ? `not set (the default, ${APPS_DEFAULT_REVISION_HISTORY_LIMIT})` : JSON.stringify(raw);
  const what = typeof value === 'number' ? `below the minimum ${rule.minimum}` : `not a number (the minimum is ${rule.minimum})`;
  return [
    make({
      path: 'spec.revisionHistoryLimit',
      ...(absent ? {} : { value: String(raw) }),
      message: `${kind} ${name}: spec.revisionHistoryLimit is ${shown}, ${what}: the ${KEPT[kind]} that kubectl rollout undo returns to would be deleted`,
      fix: `set spec.revisionHistoryLimit to ${rule.minimum} or more, e.g. kubectl patch ${kind.toLowerCase()}/${name} -p '{"spec":{"revisionHistoryLimit":${rule.minimum}}}'`,
    }),
  ];
}
