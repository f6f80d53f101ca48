/**
 * Workload defaulting: `SetDefaults_{Deployment,ReplicaSet,StatefulSet,DaemonSet}` in
 * pkg/apis/apps/v1/defaults.go, `SetDefaults_{Job,CronJob}` in pkg/apis/batch/v1/defaults.go and
 * `SetDefaults_ReplicationController` in pkg/apis/core/v1/defaults.go, each with the pod template's
 * defaults. Idempotent: applied before and after admission.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { child, defaultPodSpec, setDefault } from './defaults-pod.js';
import type { JsonObject } from './types.js';

/** Rolling updates of Deployments may take a quarter of the pods down and add a quarter more. */
const DEFAULT_ROLLING = '25%';
/** Old ReplicaSets / ControllerRevisions kept for rollbacks. */
const DEFAULT_REVISION_HISTORY = 10;
/** Seconds before a stuck rollout reports ProgressDeadlineExceeded. */
const DEFAULT_PROGRESS_DEADLINE = 600;
/** Pod failures a Job retries before it fails. */
const DEFAULT_BACKOFF_LIMIT = 6;
/** `math.MaxInt32`: the Job backoffLimit when a per-index limit is set. */
const MAX_INT32 = 2147483647;
/** Finished Jobs a CronJob keeps: successful and failed. */
const DEFAULT_SUCCESSFUL_HISTORY = 3;
const DEFAULT_FAILED_HISTORY = 1;

/** Template defaults (`SetDefaults_PodSpec` through `SetObjectDefaults_PodTemplateSpec`). */
function defaultTemplate(spec: JsonObject): void {
  defaultPodSpec(child(child(spec, 'template'), 'spec'));
}

function defaultDeployment(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  const strategy = child(spec, 'strategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy['type'] === 'RollingUpdate') {
    const rolling = child(strategy, 'rollingUpdate');
    setDefault(rolling, 'maxUnavailable', DEFAULT_ROLLING);
    setDefault(rolling, 'maxSurge', DEFAULT_ROLLING);
  }
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY);
  setDefault(spec, 'progressDeadlineSeconds', DEFAULT_PROGRESS_DEADLINE);
  defaultTemplate(spec);
}

function defaultReplicaSet(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  setDefault(spec, 'replicas', 1);
  defaultTemplate(spec);
}

function defaultStatefulSet(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  setDefault(spec, 'podManagementPolicy', 'OrderedReady');
  const strategy = child(spec, 'updateStrategy');
  if (strategy['type'] === undefined || strategy['type'] === '') {
    strategy['type'] = 'RollingUpdate';
    setDefault(strategy, 'rollingUpdate', {});
  }
  // MaxUnavailableStatefulSet is beta but off by default in 1.35: no maxUnavailable default.
  if (strategy['type'] === 'RollingUpdate' && isRecord(strategy['rollingUpdate'])) setDefault(strategy['rollingUpdate'], 'partition', 0);
  // StatefulSetAutoDeletePVC is GA (1.32): the retention policy is always filled in.
  const retention = child(spec, 'persistentVolumeClaimRetentionPolicy');
  setDefault(retention, 'whenDeleted', 'Retain');
  setDefault(retention, 'whenScaled', 'Retain');
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY);
  defaultTemplate(spec);
  for (const claim of Array.isArray(spec['volumeClaimTemplates']) ? spec['volumeClaimTemplates'] : []) {
    if (!isRecord(claim)) continue;
    // SetDefaults_PersistentVolumeClaimSpec and SetDefaults_PersistentVolumeClaim (status.phase).
    setDefault(child(claim, 'spec'), 'volumeMode', 'Filesystem');
    setDefault(child(claim, 'status'), 'phase', 'Pending');
  }
}

function defaultDaemonSet(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  const strategy = child(spec, 'updateStrategy');
  setDefault(strategy, 'type', 'RollingUpdate');
  if (strategy['type'] === 'RollingUpdate') {
    const rolling = child(strategy, 'rollingUpdate');
    setDefault(rolling, 'maxUnavailable', 1);
    setDefault(rolling, 'maxSurge', 0);
  }
  setDefault(spec, 'revisionHistoryLimit', DEFAULT_REVISION_HISTORY);
  defaultTemplate(spec);
}

/** `SetDefaults_Job`: Jobs only, not the jobTemplate of a CronJob. */
function defaultJob(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  if (spec['completions'] === undefined && spec['parallelism'] === undefined) spec['completions'] = 1;
  setDefault(spec, 'parallelism', 1);
  setDefault(spec, 'backoffLimit', spec['backoffLimitPerIndex'] === undefined ? DEFAULT_BACKOFF_LIMIT : MAX_INT32);
  const templateLabels = child(child(spec, 'template'), 'metadata')['labels'];
  const meta = child(obj, 'metadata');
  if (isRecord(templateLabels) && (!isRecord(meta['labels']) || Object.keys(meta['labels']).length === 0)) meta['labels'] = structuredClone(templateLabels);
  setDefault(spec, 'completionMode', 'NonIndexed');
  setDefault(spec, 'suspend', false);
  setDefault(spec, 'podReplacementPolicy', spec['podFailurePolicy'] === undefined ? 'TerminatingOrFailed' : 'Failed');
  defaultTemplate(spec);
}

function defaultCronJob(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  setDefault(spec, 'concurrencyPolicy', 'Allow');
  setDefault(spec, 'suspend', false);
  setDefault(spec, 'successfulJobsHistoryLimit', DEFAULT_SUCCESSFUL_HISTORY);
  setDefault(spec, 'failedJobsHistoryLimit', DEFAULT_FAILED_HISTORY);
  defaultTemplate(child(child(spec, 'jobTemplate'), 'spec'));
}

function defaultReplicationController(obj: JsonObject): void {
  const spec = child(obj, 'spec');
  const labels = isRecord(spec['template']) && isRecord(spec['template']['metadata']) ? spec['template']['metadata']['labels'] : undefined;
  if (isRecord(labels)) {
    if (!isRecord(spec['selector']) || Object.keys(spec['selector']).length === 0) spec['selector'] = structuredClone(labels);
    const meta = child(obj, 'metadata');
    if (!isRecord(meta['labels']) || Object.keys(meta['labels']).length === 0) meta['labels'] = structuredClone(labels);
  }
  setDefault(spec, 'replicas', 1);
  // The template is a pointer here: only defaulted when present.
  if (isRecord(spec['template'])) defaultTemplate(spec);
}

/** Defaulting functions of the workload kinds. */
export const WORKLOAD_DEFAULTS: Readonly<Record<string, (obj: JsonObject) => void>> = {
  Deployment: defaultDeployment,
  ReplicaSet: defaultReplicaSet,
  StatefulSet: defaultStatefulSet,
  DaemonSet: defaultDaemonSet,
  Job: defaultJob,
  CronJob: defaultCronJob,
  ReplicationController: defaultReplicationController,
};
