/**
 * Workload validation the real strategies enforce and clients trip over:
 * - apps/v1 (`ValidateDeploymentSpec`, `ValidateReplicaSetSpec`, `ValidateStatefulSetSpec`,
 *   `ValidateDaemonSetSpec` in pkg/apis/apps/validation): selector required and non-empty, matching
 *   the template labels, restartPolicy Always, selector immutable (the apps/v1 strategies'
 *   ValidateUpdate), and the StatefulSet spec fields that may not change;
 * - ReplicationController (`ValidateReplicationControllerSpec`): non-empty selector map, template
 *   required and matching it, restartPolicy Always;
 * - batch/v1 (pkg/apis/batch/validation): Job restartPolicy OnFailure/Never, the generated
 *   selector (`validateGeneratedSelector`), selector and template immutable except the scheduling
 *   directives of a suspended Job that never started (`validatePodTemplateUpdate`); CronJob schedule.
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';
import {
  forbidden,
  goJson,
  immutable,
  invalidValue,
  notSupported,
  required,
  selectorEmpty,
  selectorJson,
  selectorMatches,
  validatePodSpec,
} from './validation-common.js';
import type { FieldError } from './validation-common.js';

/** The label the Job strategy selects on (`batch.ControllerUidLabel`). */
export const JOB_CONTROLLER_UID = 'batch.kubernetes.io/controller-uid';

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

/** Template metadata.labels as the apiserver prints them in the mismatch error. */
function labelsValue(template: JsonObject): string {
  return goJson(rec(template['metadata'])['labels'] ?? {});
}

function restartAlways(template: JsonObject, base: string): FieldError[] {
  const policy = rec(template['spec'])['restartPolicy'];
  return policy === 'Always' ? [] : [notSupported(`${base}.spec.restartPolicy`, policy, ['Always'])];
}

/** Selector + template checks of the apps/v1 kinds; `emptyName` is the kind the "empty selector" message names. */
function validateAppsSpec(obj: JsonObject, old: JsonObject | undefined, emptyName: string): FieldError[] {
  const spec = rec(obj['spec']);
  const template = rec(spec['template']);
  const errors: FieldError[] = [];
  const selector = spec['selector'];
  if (!isRecord(selector)) {
    errors.push(required('spec.selector'));
  } else if (selectorEmpty(selector)) {
    errors.push(invalidValue('spec.selector', selectorJson(selector), `empty selector is invalid for ${emptyName}`));
  } else if (!selectorMatches(selector, rec(template['metadata'])['labels'])) {
    errors.push(invalidValue('spec.template.metadata.labels', labelsValue(template), '`selector` does not match template `labels`'));
  }
  if (typeof spec['replicas'] === 'number' && spec['replicas'] < 0) {
    errors.push(invalidValue('spec.replicas', String(spec['replicas']), 'must be greater than or equal to 0'));
  }
  errors.push(...validatePodSpec(template['spec'], 'spec.template.spec'));
  errors.push(...restartAlways(template, 'spec.template'));
  const oldSpec = old === undefined ? undefined : rec(old['spec']);
  if (oldSpec !== undefined && !isDeepStrictEqual(oldSpec['selector'], spec['selector'])) {
    errors.push(immutable('spec.selector', selectorJson(spec['selector'])));
  }
  return errors;
}

/** StatefulSet spec fields an update may change (`ValidateStatefulSetUpdate`). */
const STATEFULSET_MUTABLE = ['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];

function validateStatefulSet(obj: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors = validateAppsSpec(obj, old, 'statefulset');
  if (old === undefined) return errors;
  const strip = (spec: unknown): JsonObject => Object.fromEntries(Object.entries(rec(spec)).filter(([k]) => !STATEFULSET_MUTABLE.includes(k)));
  if (!isDeepStrictEqual(strip(obj['spec']), strip(old['spec']))) {
    errors.push(
      forbidden(
        'spec',
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
      ),
    );
  }
  return errors;
}

function validateReplicationController(obj: JsonObject): FieldError[] {
  const spec = rec(obj['spec']);
  const errors: FieldError[] = [];
  const selector = rec(spec['selector']);
  if (Object.keys(selector).length === 0) errors.push(required('spec.selector'));
  if (typeof spec['replicas'] === 'number' && spec['replicas'] < 0) {
    errors.push(invalidValue('spec.replicas', String(spec['replicas']), 'must be greater than or equal to 0'));
  }
  if (!isRecord(spec['template'])) {
    errors.push(required('spec.template'));
    return errors;
  }
  const template = spec['template'];
  const labels = rec(rec(template['metadata'])['labels']);
  if (Object.keys(selector).length > 0 && !Object.entries(selector).every(([k, v]) => labels[k] === v)) {
    errors.push(invalidValue('spec.template.metadata.labels', labelsValue(template), '`selector` does not match template `labels`'));
  }
  errors.push(...validatePodSpec(template['spec'], 'spec.template.spec'));
  errors.push(...restartAlways(template, 'spec.template'));
  return errors;
}

function validateJobTemplate(jobSpec: JsonObject, base: string): FieldError[] {
  const template = rec(jobSpec['template']);
  const errors = validatePodSpec(template['spec'], `${base}.template.spec`);
  const policy = rec(template['spec'])['restartPolicy'];
  if (policy !== 'OnFailure' && policy !== 'Never') errors.push(notSupported(`${base}.template.spec.restartPolicy`, policy, ['OnFailure', 'Never']));
  return errors;
}

/** The template as an update may leave it: a suspended Job that never started may change its scheduling directives. */
function comparableTemplate(template: JsonObject, from: JsonObject, relaxed: boolean): JsonObject {
  if (!relaxed) return template;
  const out = structuredClone(template);
  if (!isRecord(out['metadata'])) out['metadata'] = {};
  if (!isRecord(out['spec'])) out['spec'] = {};
  const meta = rec(out['metadata']);
  const fromMeta = rec(from['metadata']);
  for (const k of ['labels', 'annotations']) if (fromMeta[k] === undefined) delete meta[k];
  else meta[k] = fromMeta[k];
  const spec = rec(out['spec']);
  const fromSpec = rec(from['spec']);
  for (const k of ['nodeSelector', 'tolerations', 'schedulingGates']) if (fromSpec[k] === undefined) delete spec[k];
  else spec[k] = fromSpec[k];
  const affinity = rec(spec['affinity']);
  const fromAffinity = rec(fromSpec['affinity']);
  const rest = { ...affinity, nodeAffinity: fromAffinity['nodeAffinity'] };
  if (rest.nodeAffinity === undefined) delete rest.nodeAffinity;
  if (Object.keys(rest).length === 0) delete spec['affinity'];
  else spec['affinity'] = rest;
  return out;
}

function validateJob(obj: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = rec(obj['spec']);
  const meta = rec(obj['metadata']);
  const errors = validateJobTemplate(spec, 'spec');
  const selector = spec['selector'];
  const templateLabels = rec(rec(rec(spec['template'])['metadata'])['labels']);
  if (!isRecord(selector)) errors.push(required('spec.selector'));
  else if (!selectorMatches(selector, templateLabels)) {
    errors.push(invalidValue('spec.template.metadata.labels', labelsValue(rec(spec['template'])), '`selector` does not match template `labels`'));
  }
  if (spec['manualSelector'] !== true && isRecord(selector) && !selectorMatches(selector, { [JOB_CONTROLLER_UID]: meta['uid'] })) {
    errors.push(invalidValue('spec.selector', selectorJson(selector), '`selector` not auto-generated'));
  }
  if (old === undefined) return errors;
  const oldSpec = rec(old['spec']);
  if (!isDeepStrictEqual(oldSpec['selector'], spec['selector'])) errors.push(immutable('spec.selector', selectorJson(spec['selector'])));
  for (const field of ['completionMode', 'podFailurePolicy', 'backoffLimitPerIndex', 'managedBy', 'successPolicy']) {
    if (!isDeepStrictEqual(oldSpec[field], spec[field])) errors.push(immutable(`spec.${field}`, goJson(spec[field])));
  }
  // Scheduling directives may change only while the Job is suspended and has never started.
  const relaxed = oldSpec['suspend'] === true && rec(old['status'])['startTime'] === undefined;
  const template = rec(spec['template']);
  if (!isDeepStrictEqual(comparableTemplate(rec(oldSpec['template']), template, relaxed), template)) {
    // The apiserver prints the whole internal PodTemplateSpec here; its JSON stands in for it.
    errors.push(immutable('spec.template', goJson(template)));
  }
  return errors;
}

/** robfig/cron `ParseStandard`'s field count check and the descriptors it accepts. */
const CRON_DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
const CRON_FIELDS = 5;

function validateCronJob(obj: JsonObject): FieldError[] {
  const spec = rec(obj['spec']);
  const errors: FieldError[] = [];
  const schedule = spec['schedule'];
  if (typeof schedule !== 'string' || schedule === '') errors.push(required('spec.schedule'));
  else if (!CRON_DESCRIPTORS.has(schedule) && !schedule.startsWith('@every ')) {
    const fields = schedule.replace(/^(CRON_)?TZ=\S+\s*/, '').trim().split(/\s+/);
    if (fields.length !== CRON_FIELDS) {
      errors.push(invalidValue('spec.schedule', JSON.stringify(schedule), `expected exactly ${CRON_FIELDS} fields, found ${fields.length}: [${fields.join(' ')}]`));
    }
  }
  const policy = spec['concurrencyPolicy'];
  if (!['Allow', 'Forbid', 'Replace'].includes(String(policy))) errors.push(notSupported('spec.concurrencyPolicy', policy, ['Allow', 'Forbid', 'Replace']));
  errors.push(...validateJobTemplate(rec(rec(spec['jobTemplate'])['spec']), 'spec.jobTemplate.spec'));
  return errors;
}

/** Validators of the workload kinds: `(object, stored object on update)`. */
export const WORKLOAD_VALIDATORS: Readonly<Record<string, (obj: JsonObject, old: JsonObject | undefined) => FieldError[]>> = {
  // ReplicaSet reuses the Deployment wording for an empty selector.
  Deployment: (obj, old) => validateAppsSpec(obj, old, 'deployment'),
  ReplicaSet: (obj, old) => validateAppsSpec(obj, old, 'deployment'),
  DaemonSet: (obj, old) => validateAppsSpec(obj, old, 'daemonset'),
  StatefulSet: validateStatefulSet,
  ReplicationController: (obj) => validateReplicationController(obj),
  Job: validateJob,
  CronJob: (obj) => validateCronJob(obj),
};
