/**
 * The Deployment status the controller stand-in writes. Without Pods every replica is reported
 * ready at once; with Pods the counts add up the owned ReplicaSets' statuses and the conditions
 * follow `syncRolloutStatus` (pkg/controller/deployment/sync.go, progress.go): Available against
 * `replicas - maxUnavailable`, Progressing `NewReplicaSetAvailable` once the new ReplicaSet is
 * complete (`ReplicaSetUpdated` before), and the new ReplicaSet's ReplicaFailure copied over.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** `maxUnavailable` default of a RollingUpdate Deployment. */
const DEFAULT_MAX_UNAVAILABLE = '25%';
const PERCENT = 100;

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** A condition that keeps its transition (and, unchanged, update) time while its status and reason hold. */
export function deploymentCondition(type: string, status: 'True' | 'False', reason: string, message: string, previous: unknown[], now: string): JsonObject {
  const old = previous.find((c) => isRecord(c) && c['type'] === type);
  const same = isRecord(old) && old['status'] === status && old['reason'] === reason;
  const transition = same && typeof old['lastTransitionTime'] === 'string' ? old['lastTransitionTime'] : now;
  const update = same && old['message'] === message && typeof old['lastUpdateTime'] === 'string' ? old['lastUpdateTime'] : now;
  return { type, status, lastUpdateTime: update, lastTransitionTime: transition, reason, message };
}

/** `intstr.GetScaledValueFromIntOrPercent(maxUnavailable, replicas, roundUp=false)`. */
function maxUnavailable(deployment: JsonObject, replicas: number): number {
  const strategy = rec(rec(deployment['spec'])['strategy']);
  if (strategy['type'] === 'Recreate') return 0;
  const value = rec(strategy['rollingUpdate'])['maxUnavailable'] ?? DEFAULT_MAX_UNAVAILABLE;
  if (typeof value === 'number') return value;
  const percent = /^(\d+)%$/.exec(String(value));
  return percent === null ? 0 : Math.floor((Number(percent[1]) * replicas) / PERCENT);
}

/** The status of `deployment` whose new ReplicaSet is `newRs` among `owned`; `withPods` counts real pods. */
export function deploymentStatus(deployment: JsonObject, newRs: JsonObject, owned: JsonObject[], withPods: boolean, now: string): JsonObject {
  const meta = rec(deployment['metadata']);
  const replicas = typeof rec(deployment['spec'])['replicas'] === 'number' ? (rec(deployment['spec'])['replicas'] as number) : 1;
  const previous = Array.isArray(rec(deployment['status'])['conditions']) ? (rec(deployment['status'])['conditions'] as unknown[]) : [];
  const rsName = String(rec(newRs['metadata'])['name']);
  const status: JsonObject = { observedGeneration: meta['generation'] ?? 1 };
  if (!withPods) {
    if (replicas > 0) Object.assign(status, { replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas });
    status['conditions'] = [
      deploymentCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', previous, now),
      deploymentCondition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`, previous, now),
    ];
    return status;
  }
  const sum = (field: string): number => owned.reduce((n, rs) => n + num(rec(rs['status'])[field]), 0);
  const total = sum('replicas');
  const available = sum('availableReplicas');
  const updated = num(rec(newRs['status'])['replicas']);
  for (const [k, v] of [['replicas', total], ['updatedReplicas', updated], ['readyReplicas', sum('readyReplicas')], ['availableReplicas', available], ['unavailableReplicas', Math.max(0, replicas - available)]] as const) {
    if (v !== 0) status[k] = v;
  }
  const minAvailable = available >= replicas - maxUnavailable(deployment, replicas);
  const complete = updated === replicas && total === replicas && num(rec(newRs['status'])['availableReplicas']) === replicas;
  const conditions = [
    minAvailable
      ? deploymentCondition('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.', previous, now)
      : deploymentCondition('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.', previous, now),
    complete
      ? deploymentCondition('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${rsName}" has successfully progressed.`, previous, now)
      : deploymentCondition('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${rsName}" is progressing.`, previous, now),
  ];
  const failure = (Array.isArray(rec(newRs['status'])['conditions']) ? (rec(newRs['status'])['conditions'] as unknown[]) : []).find((c) => isRecord(c) && c['type'] === 'ReplicaFailure');
  if (isRecord(failure)) conditions.push(deploymentCondition('ReplicaFailure', 'True', String(failure['reason']), String(failure['message']), previous, now));
  status['conditions'] = conditions;
  return status;
}
