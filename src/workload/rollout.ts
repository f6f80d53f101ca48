/**
 * Whether a workload's current pod template has finished rolling out, by the rules `kubectl rollout
 * status` applies (kubectl `pkg/polymorphichelpers/rollout_status.go`, the status viewers of each kind):
 * a state that never rolled out completely is not one to roll back to. Pure: reads status, no I/O.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';

/** `complete`: every replica runs the template; `failed`: Kubernetes gave up; `progressing`: neither yet. */
export type RolloutState = 'complete' | 'failed' | 'progressing';

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** `spec.replicas`, defaulted to 1 as the apiserver does for every kind that has it. */
function replicasOf(spec: Record<string, unknown>): number {
  return typeof spec.replicas === 'number' ? spec.replicas : 1;
}

function conditions(status: Record<string, unknown>): Record<string, unknown>[] {
  return Array.isArray(status.conditions) ? status.conditions.filter(isRecord) : [];
}

/** The controller has seen the current spec (status.observedGeneration caught up with metadata.generation). */
function observed(obj: KubeObject, status: Record<string, unknown>): boolean {
  return num(obj.metadata?.generation) <= num(status.observedGeneration) && status.observedGeneration !== undefined;
}

function deployment(obj: KubeObject, spec: Record<string, unknown>, status: Record<string, unknown>): RolloutState {
  if (!observed(obj, status)) return 'progressing';
  // DeploymentStatusViewer: a Progressing condition with reason ProgressDeadlineExceeded is a failed rollout.
  if (conditions(status).some((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded')) return 'failed';
  const updated = num(status.updatedReplicas);
  if (updated < replicasOf(spec)) return 'progressing';
  // Old replicas still terminating, or new ones not yet available.
  if (num(status.replicas) > updated || num(status.availableReplicas) < updated) return 'progressing';
  return 'complete';
}

function statefulSet(obj: KubeObject, spec: Record<string, unknown>, status: Record<string, unknown>): RolloutState {
  if (num(status.observedGeneration) === 0 || !observed(obj, status)) return 'progressing';
  const replicas = replicasOf(spec);
  if (num(status.readyReplicas) < replicas) return 'progressing';
  const rolling = isRecord(spec.updateStrategy) && isRecord(spec.updateStrategy.rollingUpdate) ? spec.updateStrategy.rollingUpdate : undefined;
  // A partitioned rollout is complete once the replicas above the partition run the new revision.
  if (rolling && typeof rolling.partition === 'number') return num(status.updatedReplicas) < replicas - rolling.partition ? 'progressing' : 'complete';
  return status.updateRevision === status.currentRevision ? 'complete' : 'progressing';
}

function daemonSet(obj: KubeObject, status: Record<string, unknown>): RolloutState {
  if (!observed(obj, status)) return 'progressing';
  const desired = num(status.desiredNumberScheduled);
  return num(status.updatedNumberScheduled) < desired || num(status.numberAvailable) < desired ? 'progressing' : 'complete';
}

function job(status: Record<string, unknown>): RolloutState {
  const done = (type: string) => conditions(status).some((c) => c.type === type && c.status === 'True');
  if (done('Failed')) return 'failed';
  return done('Complete') ? 'complete' : 'progressing';
}

function replicated(obj: KubeObject, spec: Record<string, unknown>, status: Record<string, unknown>): RolloutState {
  return observed(obj, status) && num(status.readyReplicas) >= replicasOf(spec) ? 'complete' : 'progressing';
}

/**
 * The rollout state of `obj`'s current template. A CronJob has nothing to roll out (its next Job runs
 * the template), so it is complete as soon as it is written; a kind without status rules is progressing.
 */
export function rolloutState(obj: KubeObject): RolloutState {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const status = isRecord(obj.status) ? obj.status : {};
  switch (obj.kind) {
    case 'Deployment':
      return deployment(obj, spec, status);
    case 'StatefulSet':
      return statefulSet(obj, spec, status);
    case 'DaemonSet':
      return daemonSet(obj, status);
    case 'Job':
      return job(status);
    case 'ReplicaSet':
    case 'ReplicationController':
      return replicated(obj, spec, status);
    case 'CronJob':
      return 'complete';
    default:
      return 'progressing';
  }
}
