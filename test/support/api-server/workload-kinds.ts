/**
 * Per workload kind, what its controller stand-in does: which Pods an owner should have given the
 * ones it has (creations and deletions, in the controller's order), which Pods it would have when
 * Pod creation is off, and the status it then writes. The StatefulSet replaces pods whose revision
 * is not the update revision from the partition up; the DaemonSet runs one pod on the one node.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';
import {
  REVISION_LABEL,
  daemonSetRevision,
  podForDaemonSet,
  podForJob,
  podForStatefulSet,
  podFromTemplate,
  statefulSetRevision,
  templateOf,
} from './workload-pods.js';
import { daemonSetStatus, isPodReady, jobStatus, replicaSetStatus, statefulSetStatus } from './workload-status.js';

/** One pod write of a reconcile. */
export interface PodStep {
  action: 'create' | 'delete';
  pod: JsonObject;
}

/** What a reconcile should do to the owner's pods, in order. */
export interface PodPlan {
  steps: PodStep[];
  /** Stop after the first failed creation (StatefulSet OrderedReady). */
  stopOnFailure: boolean;
}

/** One workload kind's controller behaviour. */
export interface WorkloadKind {
  apiVersion: string;
  kind: string;
  /** The kube-system service account the controller writes as. */
  controller: string;
  plan(owner: JsonObject, pods: JsonObject[], node: string): PodPlan;
  /** The pods the owner would have, all ready, when Pod creation is off. */
  virtual(owner: JsonObject, node: string): JsonObject[];
  status(owner: JsonObject, pods: JsonObject[], failure: string | undefined, now: string): JsonObject;
}

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

function nameOf(obj: JsonObject): string {
  return String(rec(obj['metadata'])['name'] ?? '');
}

/** A pod that counts as running and ready (the stand-in for pods when Pod creation is off). */
function readyPod(pod: JsonObject): JsonObject {
  return { ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } };
}

/** `getPodsToDelete`: not-ready pods first, then the newest. */
function deletionOrder(pods: JsonObject[]): JsonObject[] {
  const created = (p: JsonObject): string => String(rec(p['metadata'])['creationTimestamp'] ?? '');
  return [...pods].sort((a, b) => Number(isPodReady(a)) - Number(isPodReady(b)) || (created(b) < created(a) ? -1 : created(b) > created(a) ? 1 : nameOf(b) < nameOf(a) ? -1 : 1));
}

/** Scale a set of interchangeable pods (ReplicaSet, ReplicationController, Job) to `want`. */
function scaleTo(owner: JsonObject, pods: JsonObject[], want: number, make: (o: JsonObject) => JsonObject): PodPlan {
  if (pods.length < want) return { steps: Array.from({ length: want - pods.length }, () => ({ action: 'create', pod: make(owner) })), stopOnFailure: false };
  return { steps: deletionOrder(pods).slice(0, pods.length - want).map((pod) => ({ action: 'delete', pod })), stopOnFailure: false };
}

function replicasOf(owner: JsonObject): number {
  const replicas = rec(owner['spec'])['replicas'];
  return typeof replicas === 'number' ? replicas : 1;
}

const replicated = (apiVersion: string, kind: string, controller: string): WorkloadKind => ({
  apiVersion,
  kind,
  controller,
  plan: (owner, pods) => scaleTo(owner, pods, replicasOf(owner), (o) => podFromTemplate(o, templateOf(o))),
  virtual: (owner) => Array.from({ length: replicasOf(owner) }, () => readyPod(podFromTemplate(owner, templateOf(owner)))),
  status: replicaSetStatus,
});

/** Pods a running Job keeps: parallelism, at most the completions still to do (none ever finish here). */
function jobWant(job: JsonObject): number {
  const spec = rec(job['spec']);
  if (spec['suspend'] === true) return 0;
  const parallelism = typeof spec['parallelism'] === 'number' ? spec['parallelism'] : 1;
  return typeof spec['completions'] === 'number' ? Math.min(parallelism, spec['completions']) : parallelism;
}

const job: WorkloadKind = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  controller: 'job-controller',
  plan: (owner, pods) => scaleTo(owner, pods, jobWant(owner), podForJob),
  virtual: (owner) => Array.from({ length: jobWant(owner) }, () => readyPod(podForJob(owner))),
  status: (owner, pods, _failure, now) => jobStatus(owner, pods, now),
};

/** The ordinal from which pods move to the update revision: the partition, or never for OnDelete. */
function partitionOf(set: JsonObject): number {
  const strategy = rec(rec(set['spec'])['updateStrategy']);
  if (strategy['type'] === 'OnDelete') return Number.POSITIVE_INFINITY;
  const partition = rec(strategy['rollingUpdate'])['partition'];
  return typeof partition === 'number' ? partition : 0;
}

/** The revision a new pod of `ordinal` gets (`newVersionedStatefulSetPod`). */
function revisionFor(set: JsonObject, ordinal: number, update: string): string {
  const current = rec(set['status'])['currentRevision'];
  return ordinal < partitionOf(set) && typeof current === 'string' ? current : update;
}

const statefulSet: WorkloadKind = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  controller: 'statefulset-controller',
  plan(set, pods) {
    const update = statefulSetRevision(set);
    const replicas = replicasOf(set);
    const byName = new Map(pods.map((p) => [nameOf(p), p]));
    const ordinalOf = (p: JsonObject): number => Number(rec(rec(p['metadata'])['labels'])['apps.kubernetes.io/pod-index'] ?? -1);
    const steps: PodStep[] = [];
    // Missing ordinals are created lowest first; extra ones deleted highest first.
    for (let i = 0; i < replicas; i++) if (!byName.has(`${nameOf(set)}-${i}`)) steps.push({ action: 'create', pod: podForStatefulSet(set, i, revisionFor(set, i, update)) });
    for (const p of pods.filter((p) => ordinalOf(p) >= replicas || ordinalOf(p) < 0).sort((a, b) => ordinalOf(b) - ordinalOf(a))) steps.push({ action: 'delete', pod: p });
    // A rolling update replaces outdated pods from the highest ordinal down to the partition.
    for (let i = replicas - 1; i >= Math.min(partitionOf(set), replicas); i--) {
      const existing = byName.get(`${nameOf(set)}-${i}`);
      if (existing === undefined || rec(rec(existing['metadata'])['labels'])[REVISION_LABEL] === update) continue;
      steps.push({ action: 'delete', pod: existing }, { action: 'create', pod: podForStatefulSet(set, i, update) });
    }
    return { steps, stopOnFailure: rec(set['spec'])['podManagementPolicy'] !== 'Parallel' };
  },
  virtual: (set) => Array.from({ length: replicasOf(set) }, (_, i) => readyPod(podForStatefulSet(set, i, revisionFor(set, i, statefulSetRevision(set))))),
  status: (set, pods) => statefulSetStatus(set, pods, statefulSetRevision(set)),
};

const daemonSet: WorkloadKind = {
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  controller: 'daemon-set-controller',
  plan(ds, pods, node) {
    const revision = daemonSetRevision(ds);
    const rolling = rec(rec(ds['spec'])['updateStrategy'])['type'] !== 'OnDelete';
    const keep = pods.find((p) => !rolling || rec(rec(p['metadata'])['labels'])[REVISION_LABEL] === revision);
    const steps: PodStep[] = pods.filter((p) => p !== keep).map((pod) => ({ action: 'delete', pod }));
    if (keep === undefined) steps.push({ action: 'create', pod: podForDaemonSet(ds, node) });
    return { steps, stopOnFailure: false };
  },
  virtual: (ds, node) => [readyPod(podForDaemonSet(ds, node))],
  status: (ds, pods) => daemonSetStatus(ds, pods, daemonSetRevision(ds)),
};

/** The kinds with a controller stand-in (Deployments have their own in `controller.ts`). */
export const WORKLOAD_KINDS: readonly WorkloadKind[] = [
  replicated('apps/v1', 'ReplicaSet', 'replicaset-controller'),
  replicated('v1', 'ReplicationController', 'replication-controller'),
  statefulSet,
  daemonSet,
  job,
];
