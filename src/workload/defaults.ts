/**
 * What the apiserver fills in (`SetDefaults_*` in k8s.io/kubernetes pkg/apis/{core,apps,batch}/v1/
 * defaults.go, and the Job strategy's generated selector), and copies of live objects without it: what
 * a chart would have rendered, so defaults never reach a recorded manifest. Pure.
 */
import { parseImageRef } from '../images/index.js';
import { isRecord, type PodTemplate } from '../k8s/types.js';
import { JOB_GENERATED_LABELS } from './pod-template.js';
import { RESTARTED_AT } from './template-diff.js';

// Apiserver defaults (SetDefaults_* in k8s.io/kubernetes pkg/apis/{core,apps}/v1/defaults.go).
const POD_SPEC_DEFAULTS: Readonly<Record<string, unknown>> = {
  restartPolicy: 'Always',
  dnsPolicy: 'ClusterFirst',
  schedulerName: 'default-scheduler',
  terminationGracePeriodSeconds: 30,
};
const CONTAINER_DEFAULTS: Readonly<Record<string, unknown>> = {
  terminationMessagePath: '/dev/termination-log',
  terminationMessagePolicy: 'File',
};
const PROBE_DEFAULTS: Readonly<Record<string, unknown>> = { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 };
// 0644: the mode the apiserver gives configMap/secret/projected/downwardAPI volume files.
const DEFAULT_VOLUME_MODE = 420;

/** A deep copy without null/undefined map values (older apiservers emit `creationTimestamp: null`). */
export function cleanCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cleanCopy);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = cleanCopy(v);
  return out;
}

function dropDefaults(obj: unknown, defaults: Readonly<Record<string, unknown>>): void {
  if (!isRecord(obj)) return;
  for (const [k, v] of Object.entries(defaults)) if (obj[k] === v) delete obj[k];
}

function dropIfEmpty(obj: Record<string, unknown>, key: string): void {
  const v = obj[key];
  if (isRecord(v) && Object.keys(v).length === 0) delete obj[key];
}

function records(list: unknown): Record<string, unknown>[] {
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

/**
 * What the apiserver sets when `imagePullPolicy` is empty (`SetDefaults_Container`): Always when the
 * image's tag is `latest` or it has neither tag nor digest, else IfNotPresent; undefined when the
 * reference does not parse (then the field is kept as it is).
 */
function defaultPullPolicy(image: unknown): string | undefined {
  if (typeof image !== 'string') return undefined;
  const parsed = parseImageRef(image);
  if (!parsed.ok) return undefined;
  const { tag, digest } = parsed.value;
  return tag === 'latest' || (tag === undefined && digest === undefined) ? 'Always' : 'IfNotPresent';
}

function stripHandler(handler: unknown): void {
  if (isRecord(handler) && isRecord(handler.httpGet)) dropDefaults(handler.httpGet, { scheme: 'HTTP' });
}

function stripContainer(c: Record<string, unknown>): void {
  dropDefaults(c, CONTAINER_DEFAULTS);
  if (c.imagePullPolicy === defaultPullPolicy(c.image)) delete c.imagePullPolicy;
  dropIfEmpty(c, 'resources');
  for (const port of records(c.ports)) dropDefaults(port, { protocol: 'TCP' });
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    dropDefaults(c[probe], PROBE_DEFAULTS);
    stripHandler(c[probe]);
  }
  if (isRecord(c.lifecycle)) for (const hook of Object.values(c.lifecycle)) stripHandler(hook);
  for (const env of records(c.env)) {
    const from = env.valueFrom;
    if (!isRecord(from)) continue;
    dropDefaults(from.fieldRef, { apiVersion: 'v1' });
    dropDefaults(from.resourceFieldRef, { divisor: '0' });
  }
}

function stripVolume(v: Record<string, unknown>): void {
  for (const source of ['configMap', 'secret', 'projected', 'downwardAPI']) dropDefaults(v[source], { defaultMode: DEFAULT_VOLUME_MODE });
  dropDefaults(v.hostPath, { type: '' });
  if (isRecord(v.downwardAPI)) for (const item of records(v.downwardAPI.items)) dropDefaults(item.fieldRef, { apiVersion: 'v1' });
}

/**
 * A copy of a live pod template without what the apiserver filled in (terminationMessagePath/Policy,
 * imagePullPolicy when it is the default for the image, restartPolicy Always, dnsPolicy ClusterFirst,
 * schedulerName, empty securityContext/resources, terminationGracePeriodSeconds 30, probe/port/volume
 * defaults, the serviceAccount mirror, creationTimestamp) and without kubectl's restartedAt annotation.
 */
export function withoutTemplateDefaults(template: PodTemplate | Record<string, unknown> | undefined): Record<string, unknown> {
  const out = cleanCopy(template ?? {}) as Record<string, unknown>;
  if (isRecord(out.metadata)) {
    const meta = out.metadata;
    delete meta.creationTimestamp;
    if (isRecord(meta.annotations)) delete meta.annotations[RESTARTED_AT];
    dropIfEmpty(meta, 'annotations');
    dropIfEmpty(out, 'metadata');
  }
  const spec = out.spec;
  if (isRecord(spec)) {
    dropDefaults(spec, POD_SPEC_DEFAULTS);
    dropIfEmpty(spec, 'securityContext');
    if (spec.serviceAccount === spec.serviceAccountName) delete spec.serviceAccount;
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) records(spec[list]).forEach(stripContainer);
    records(spec.volumes).forEach(stripVolume);
  }
  return out;
}

// Workload spec defaults (apps/v1 and batch/v1 SetDefaults_*), beside the pod template's.
const SPEC_DEFAULTS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  Deployment: { revisionHistoryLimit: 10, progressDeadlineSeconds: 600 },
  StatefulSet: { podManagementPolicy: 'OrderedReady', revisionHistoryLimit: 10 },
  DaemonSet: { revisionHistoryLimit: 10 },
  // completions/parallelism 1 are defaulted only when both are unset; a Job with one of them set keeps its own.
  Job: { backoffLimit: 6, completionMode: 'NonIndexed', suspend: false, podReplacementPolicy: 'TerminatingOrFailed', manualSelector: false },
  CronJob: { concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 },
};
// apps/v1 gives a Deployment's RollingUpdate this for both maxSurge and maxUnavailable.
const DEFAULT_MAX_SURGE_UNAVAILABLE = '25%';

function isDefaultStrategy(strategy: unknown, defaults: Readonly<Record<string, unknown>>): boolean {
  if (!isRecord(strategy)) return strategy === undefined;
  if (strategy.type !== undefined && strategy.type !== 'RollingUpdate') return false;
  const ru = strategy.rollingUpdate;
  if (ru === undefined) return Object.keys(strategy).every((k) => k === 'type');
  if (!isRecord(ru) || Object.keys(strategy).some((k) => k !== 'type' && k !== 'rollingUpdate')) return false;
  return Object.entries(ru).every(([k, v]) => Object.hasOwn(defaults, k) && defaults[k] === v);
}

/** A Job spec without its defaults and the selector and labels the apiserver generated for it. */
function stripJobSpec(spec: Record<string, unknown>): void {
  dropDefaults(spec, SPEC_DEFAULTS.Job!);
  if (spec.completions === 1 && spec.parallelism === 1) {
    delete spec.completions;
    delete spec.parallelism;
  }
  if (spec.manualSelector !== true) {
    delete spec.selector;
    const labels = isRecord(spec.template) && isRecord(spec.template.metadata) ? spec.template.metadata.labels : undefined;
    if (isRecord(labels)) for (const key of JOB_GENERATED_LABELS) delete labels[key];
  }
  if (isRecord(spec.template)) spec.template = withoutTemplateDefaults(spec.template);
}

/**
 * A copy of a workload's spec without what the apiserver filled in: the kind's own defaults (strategy,
 * revision history, progress deadline, Job/CronJob limits), the Job's generated selector, and the pod
 * template's defaults.
 */
export function withoutSpecDefaults(kind: string, liveSpec: unknown): Record<string, unknown> {
  const spec = cleanCopy(isRecord(liveSpec) ? liveSpec : {}) as Record<string, unknown>;
  if (kind === 'Job') {
    stripJobSpec(spec);
    return spec;
  }
  if (kind === 'CronJob') {
    dropDefaults(spec, SPEC_DEFAULTS.CronJob!);
    const jobSpec = isRecord(spec.jobTemplate) ? spec.jobTemplate.spec : undefined;
    if (isRecord(jobSpec)) stripJobSpec(jobSpec);
    return spec;
  }
  const defaults = SPEC_DEFAULTS[kind];
  if (defaults) dropDefaults(spec, defaults);
  if (kind === 'Deployment' && isDefaultStrategy(spec.strategy, { maxSurge: DEFAULT_MAX_SURGE_UNAVAILABLE, maxUnavailable: DEFAULT_MAX_SURGE_UNAVAILABLE })) delete spec.strategy;
  if (kind === 'DaemonSet' && isDefaultStrategy(spec.updateStrategy, { maxUnavailable: 1, maxSurge: 0 })) delete spec.updateStrategy;
  if (kind === 'StatefulSet') {
    if (isDefaultStrategy(spec.updateStrategy, { partition: 0 })) delete spec.updateStrategy;
    const retention = spec.persistentVolumeClaimRetentionPolicy;
    if (isRecord(retention) && retention.whenDeleted === 'Retain' && retention.whenScaled === 'Retain' && Object.keys(retention).length === 2) delete spec.persistentVolumeClaimRetentionPolicy;
  }
  if (isRecord(spec.template)) spec.template = withoutTemplateDefaults(spec.template);
  return spec;
}
