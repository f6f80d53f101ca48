/**
 * The status each workload controller writes, computed from the controller's pods (real ones, or
 * the pods it would have when Pod creation is off): `calculateStatus` of the ReplicaSet /
 * ReplicationController controller, `computeReplicaStatus` + revisions of the StatefulSet
 * controller, `updateDaemonSetStatus`, and the Job controller's active/ready counters. Zero values
 * are left out where the Go field is `omitempty`.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';
import { REVISION_LABEL } from './workload-pods.js';

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

/** Ready: the kubelet set the Ready condition True (minReadySeconds 0 makes it available too). */
export function isPodReady(pod: JsonObject): boolean {
  const conditions = rec(pod['status'])['conditions'];
  return Array.isArray(conditions) && conditions.some((c) => isRecord(c) && c['type'] === 'Ready' && c['status'] === 'True');
}

function generationOf(obj: JsonObject): number {
  return Number(rec(obj['metadata'])['generation'] ?? 1);
}

/** Copies `value` into `out[key]` unless it is 0 (an `omitempty` int32). */
function setNonZero(out: JsonObject, key: string, value: number): void {
  if (value !== 0) out[key] = value;
}

/** A ReplicaFailure-style condition, keeping the transition time while it holds. */
export function failureCondition(type: string, reason: string, message: string, previous: unknown, now: string): JsonObject {
  const old = Array.isArray(previous) ? previous.find((c) => isRecord(c) && c['type'] === type) : undefined;
  const since = isRecord(old) && old['status'] === 'True' && typeof old['lastTransitionTime'] === 'string' ? old['lastTransitionTime'] : now;
  return { type, status: 'True', lastTransitionTime: since, reason, message };
}

/** ReplicaSet and ReplicationController status; `failure` is the last pod creation error. */
export function replicaSetStatus(owner: JsonObject, pods: JsonObject[], failure: string | undefined, now: string): JsonObject {
  const ready = pods.filter(isPodReady).length;
  const status: JsonObject = { replicas: pods.length };
  setNonZero(status, 'fullyLabeledReplicas', pods.length);
  setNonZero(status, 'readyReplicas', ready);
  setNonZero(status, 'availableReplicas', ready);
  status['observedGeneration'] = generationOf(owner);
  if (failure !== undefined) status['conditions'] = [failureCondition('ReplicaFailure', 'FailedCreate', failure, rec(owner['status'])['conditions'], now)];
  return status;
}

/** StatefulSet status: counts per revision, and the current revision once every pod reached the update revision. */
export function statefulSetStatus(set: JsonObject, pods: JsonObject[], updateRevision: string): JsonObject {
  const revisionOf = (p: JsonObject): unknown => rec(rec(p['metadata'])['labels'])[REVISION_LABEL];
  const updated = pods.filter((p) => revisionOf(p) === updateRevision).length;
  const replicas = Number(rec(set['spec'])['replicas'] ?? 1);
  const previous = rec(set['status'])['currentRevision'];
  const currentRevision = updated === pods.length && pods.length >= replicas ? updateRevision : typeof previous === 'string' ? previous : updateRevision;
  const ready = pods.filter(isPodReady).length;
  const status: JsonObject = { replicas: pods.length };
  setNonZero(status, 'readyReplicas', ready);
  setNonZero(status, 'currentReplicas', pods.filter((p) => revisionOf(p) === currentRevision).length);
  setNonZero(status, 'updatedReplicas', updated);
  status['availableReplicas'] = ready;
  status['currentRevision'] = currentRevision;
  status['updateRevision'] = updateRevision;
  status['collisionCount'] = 0;
  status['observedGeneration'] = generationOf(set);
  return status;
}

/** DaemonSet status for one node. */
export function daemonSetStatus(ds: JsonObject, pods: JsonObject[], revision: string): JsonObject {
  const ready = pods.filter(isPodReady).length;
  const status: JsonObject = { currentNumberScheduled: pods.length, numberMisscheduled: 0, desiredNumberScheduled: 1, numberReady: ready, observedGeneration: generationOf(ds) };
  setNonZero(status, 'updatedNumberScheduled', pods.filter((p) => rec(rec(p['metadata'])['labels'])[REVISION_LABEL] === revision).length);
  setNonZero(status, 'numberAvailable', ready);
  setNonZero(status, 'numberUnavailable', 1 - ready);
  return status;
}

/** Job status while it runs (its pods never finish here): start time, active and ready pods. */
export function jobStatus(job: JsonObject, pods: JsonObject[], now: string): JsonObject {
  const old = rec(job['status']);
  const status: JsonObject = {};
  if (rec(job['spec'])['suspend'] === true) {
    status['conditions'] = [failureCondition('Suspended', 'JobSuspended', 'Job suspended', old['conditions'], now)];
  } else {
    status['startTime'] = typeof old['startTime'] === 'string' ? old['startTime'] : now;
  }
  setNonZero(status, 'active', pods.length);
  status['ready'] = pods.filter(isPodReady).length;
  status['terminating'] = 0;
  status['uncountedTerminatedPods'] = {};
  return status;
}
