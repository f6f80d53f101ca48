/**
 * Validation of the add-on kinds, the checks a chart trips over, in the apiserver's wording
 * (k8s.io/kubernetes pkg/apis/core/validation `ValidateService[Update]`, pkg/apis/rbac/validation,
 * pkg/apis/admissionregistration/validation, pkg/apis/policy/validation, pkg/apis/networking/validation,
 * pkg/apis/scheduling/validation) plus flowcontrol's (`flowcontrol.ts`). The name rule is the caller's.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { validateFlowControl } from './flowcontrol.js';
import type { JsonObject } from './types.js';
import { badValue, forbidden, goJson, invalidValue, notSupported, required } from './validation-common.js';
import type { FieldError } from './validation-common.js';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
/** Port numbers: `validation.IsValidPortNum`. */
const MAX_PORT = 65535;
/** `HighestUserDefinablePriority`: user classes stay below the system ones. */
const MAX_USER_PRIORITY = 1000000000;
/** Webhook timeouts must be in [1, 30] seconds. */
const MAX_WEBHOOK_TIMEOUT = 30;

function rec(v: unknown): JsonObject {
  return isRecord(v) ? v : {};
}

function objects(v: unknown): JsonObject[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** `ValidateService` (create and update) and `ValidateServiceUpdate`'s ClusterIP immutability. */
function validateService(svc: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const spec = rec(svc['spec']);
  const type = spec['type'];
  const headless = spec['clusterIP'] === 'None';
  if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(str(type))) errors.push(notSupported('spec.type', type, ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']));
  const ports = objects(spec['ports']);
  if (type !== 'ExternalName' && !headless && ports.length === 0) errors.push(required('spec.ports'));
  if (type === 'ExternalName' && str(spec['externalName']) === '') errors.push(required('spec.externalName'));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const at = `spec.ports[${i}]`;
    if (ports.length > 1 && str(p['name']) === '') errors.push(required(`${at}.name`));
    else if (str(p['name']) !== '' && names.has(str(p['name']))) errors.push({ field: `${at}.name`, message: `Duplicate value: ${JSON.stringify(p['name'])}` });
    names.add(str(p['name']));
    const port = p['port'];
    if (typeof port !== 'number' || port < 1 || port > MAX_PORT) errors.push(invalidValue(`${at}.port`, badValue(port ?? 0), 'must be between 1 and 65535, inclusive'));
    if (!['TCP', 'UDP', 'SCTP'].includes(str(p['protocol']))) errors.push(notSupported(`${at}.protocol`, p['protocol'], ['SCTP', 'TCP', 'UDP']));
  });
  if (old !== undefined && type !== 'ExternalName' && rec(old['spec'])['type'] !== 'ExternalName') {
    // validateUpgradeDowngradeClusterIPs: an allocated ClusterIP may not change (the value is the whole list).
    const before = Array.isArray(rec(old['spec'])['clusterIPs']) ? (rec(old['spec'])['clusterIPs'] as unknown[]) : [];
    const after = Array.isArray(spec['clusterIPs']) ? (spec['clusterIPs'] as unknown[]) : [];
    if (before.length === after.length) before.forEach((ip, i) => ip !== after[i] && errors.push(invalidValue(`spec.clusterIPs[${i}]`, goJson(after), 'may not change once set')));
  }
  return errors;
}

/** `ValidatePolicyRule`: verbs, and api groups for resource rules. */
function validateRules(role: JsonObject, cluster: boolean): FieldError[] {
  const errors: FieldError[] = [];
  objects(role['rules']).forEach((r, i) => {
    if (!Array.isArray(r['verbs']) || r['verbs'].length === 0) errors.push(required(`rules[${i}].verbs`, 'verbs must contain at least one value'));
    const nonResource = Array.isArray(r['nonResourceURLs']) && r['nonResourceURLs'].length > 0;
    if (nonResource && !cluster) errors.push(invalidValue(`rules[${i}].nonResourceURLs`, goJson(r['nonResourceURLs']), 'namespaced rules cannot apply to non-resource URLs'));
    if (nonResource && (Array.isArray(r['resources']) || Array.isArray(r['apiGroups']))) errors.push(invalidValue(`rules[${i}].nonResourceURLs`, goJson(r['nonResourceURLs']), 'rules cannot apply to both regular resources and non-resource URLs'));
    if (!nonResource && (!Array.isArray(r['apiGroups']) || r['apiGroups'].length === 0)) errors.push(required(`rules[${i}].apiGroups`, 'resource rules must supply at least one api group'));
    if (!nonResource && (!Array.isArray(r['resources']) || r['resources'].length === 0)) errors.push(required(`rules[${i}].resources`, 'resource rules must supply at least one resource'));
  });
  return errors;
}

/** `RoleRef` as json.Marshal writes it (Go field order). */
function roleRefJson(ref: JsonObject): string {
  return `{"apiGroup":${JSON.stringify(str(ref['apiGroup']))},"kind":${JSON.stringify(str(ref['kind']))},"name":${JSON.stringify(str(ref['name']))}}`;
}

/** `ValidateRoleBinding` / `ValidateClusterRoleBinding` (+ `…Update`: roleRef is immutable). */
function validateBinding(binding: JsonObject, old: JsonObject | undefined, cluster: boolean): FieldError[] {
  const errors: FieldError[] = [];
  const ref = rec(binding['roleRef']);
  if (ref['apiGroup'] !== RBAC_GROUP) errors.push(notSupported('roleRef.apiGroup', ref['apiGroup'] ?? '', [RBAC_GROUP]));
  const kinds = cluster ? ['ClusterRole'] : ['Role', 'ClusterRole'];
  if (!kinds.includes(str(ref['kind']))) errors.push(notSupported('roleRef.kind', ref['kind'] ?? '', kinds));
  if (str(ref['name']) === '') errors.push(required('roleRef.name'));
  objects(binding['subjects']).forEach((s, i) => {
    const at = `subjects[${i}]`;
    if (str(s['name']) === '') errors.push(required(`${at}.name`));
    if (!['ServiceAccount', 'User', 'Group'].includes(str(s['kind']))) errors.push(notSupported(`${at}.kind`, s['kind'] ?? '', ['ServiceAccount', 'User', 'Group']));
    else if (s['kind'] === 'ServiceAccount' && cluster && str(s['namespace']) === '') errors.push(required(`${at}.namespace`));
  });
  if (old !== undefined && roleRefJson(rec(old['roleRef'])) !== roleRefJson(ref)) errors.push(invalidValue('roleRef', roleRefJson(ref), 'cannot change roleRef'));
  return errors;
}

/** `validateValidatingWebhook` / `validateMutatingWebhook`: what every webhook needs. */
function validateWebhooks(config: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  objects(config['webhooks']).forEach((h, i) => {
    const at = `webhooks[${i}]`;
    const name = str(h['name']);
    if (name === '') errors.push(required(`${at}.name`));
    else if (name.split('.').length < 3) errors.push(invalidValue(`${at}.name`, JSON.stringify(name), 'should be a domain with at least three segments separated by dots'));
    else if (seen.has(name)) errors.push({ field: `${at}.name`, message: `Duplicate value: ${JSON.stringify(name)}` });
    seen.add(name);
    const versions = h['admissionReviewVersions'];
    if (!Array.isArray(versions) || versions.length === 0) errors.push(required(`${at}.admissionReviewVersions`, 'must specify one of v1, v1beta1'));
    if (h['sideEffects'] === undefined || h['sideEffects'] === null) errors.push(required(`${at}.sideEffects`, 'must specify one of None, NoneOnDryRun'));
    else if (!['None', 'NoneOnDryRun'].includes(str(h['sideEffects']))) errors.push(notSupported(`${at}.sideEffects`, h['sideEffects'], ['None', 'NoneOnDryRun']));
    const client = rec(h['clientConfig']);
    if ((client['url'] === undefined) === (client['service'] === undefined)) errors.push(required(`${at}.clientConfig`, 'exactly one of url or service is required'));
    const timeout = h['timeoutSeconds'];
    if (typeof timeout === 'number' && (timeout < 1 || timeout > MAX_WEBHOOK_TIMEOUT)) errors.push(invalidValue(`${at}.timeoutSeconds`, String(timeout), 'the timeout value must be between 1 and 30 seconds'));
    if (!['Ignore', 'Fail'].includes(str(h['failurePolicy']))) errors.push(notSupported(`${at}.failurePolicy`, h['failurePolicy'], ['Fail', 'Ignore']));
  });
  return errors;
}

/** `ValidateValidatingAdmissionPolicy` and `…Binding`: shape only (CEL is compiled by the admission chain). */
function validatePolicy(policy: JsonObject): FieldError[] {
  const spec = rec(policy['spec']);
  const errors: FieldError[] = [];
  if (!isRecord(spec['matchConstraints'])) errors.push(required('spec.matchConstraints'));
  const validations = objects(spec['validations']);
  if (validations.length === 0 && objects(spec['auditAnnotations']).length === 0) errors.push(required('spec.validations', 'validations or auditAnnotations must contain at least one item'));
  validations.forEach((v, i) => str(v['expression']).trim() === '' && errors.push(required(`spec.validations[${i}].expression`, 'expression is not specified')));
  if (!['Ignore', 'Fail'].includes(str(spec['failurePolicy']))) errors.push(notSupported('spec.failurePolicy', spec['failurePolicy'], ['Fail', 'Ignore']));
  return errors;
}

function validatePolicyBinding(binding: JsonObject): FieldError[] {
  const spec = rec(binding['spec']);
  const errors: FieldError[] = [];
  if (str(spec['policyName']) === '') errors.push(required('spec.policyName'));
  const actions = Array.isArray(spec['validationActions']) ? spec['validationActions'] : [];
  if (actions.length === 0) errors.push(required('spec.validationActions', 'at least one validation action is required'));
  actions.forEach((a, i) => !['Deny', 'Warn', 'Audit'].includes(str(a)) && errors.push(notSupported(`spec.validationActions[${i}]`, a, ['Audit', 'Deny', 'Warn'])));
  if (actions.includes('Deny') && actions.includes('Warn')) errors.push(invalidValue('spec.validationActions', goJson(actions), 'must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)'));
  return errors;
}

/** `ValidatePodDisruptionBudgetSpec`: at most one of minAvailable and maxUnavailable, percentages up to 100%. */
function validatePdb(pdb: JsonObject): FieldError[] {
  const spec = rec(pdb['spec']);
  const errors: FieldError[] = [];
  if (spec['minAvailable'] !== undefined && spec['maxUnavailable'] !== undefined) {
    const ordered = ['minAvailable', 'selector', 'maxUnavailable', 'unhealthyPodEvictionPolicy'].filter((k) => spec[k] !== undefined).map((k) => `${JSON.stringify(k)}:${goJson(spec[k])}`);
    errors.push(invalidValue('spec', `{${ordered.join(',')}}`, 'minAvailable and maxUnavailable cannot be both set'));
  }
  for (const k of ['minAvailable', 'maxUnavailable']) {
    const v = spec[k];
    if (typeof v === 'string' && /^\d+%$/.test(v) && Number(v.slice(0, -1)) > 100) errors.push(invalidValue(`spec.${k}`, JSON.stringify(v), 'must not be greater than 100%'));
    if (typeof v === 'number' && v < 0) errors.push(invalidValue(`spec.${k}`, String(v), 'must be greater than or equal to 0'));
  }
  return errors;
}

/** `ValidatePriorityClass` (+ `…Update`: value and preemptionPolicy are fixed). */
function validatePriorityClass(pc: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors: FieldError[] = [];
  const name = str(rec(pc['metadata'])['name']);
  const system = name === 'system-node-critical' || name === 'system-cluster-critical';
  if (!system && name.startsWith('system-')) errors.push(invalidValue('metadata.name', JSON.stringify(name), "priority class names with 'system-' prefix are reserved"));
  if (!system && typeof pc['value'] === 'number' && pc['value'] > MAX_USER_PRIORITY) errors.push(forbidden('value', `maximum allowed value of a user defined priority is ${MAX_USER_PRIORITY}`));
  if (!['PreemptLowerPriority', 'Never'].includes(str(pc['preemptionPolicy']))) errors.push(notSupported('preemptionPolicy', pc['preemptionPolicy'], ['Never', 'PreemptLowerPriority']));
  if (old !== undefined && old['value'] !== pc['value']) errors.push(forbidden('value', 'may not be changed in an update.'));
  if (old !== undefined && old['preemptionPolicy'] !== pc['preemptionPolicy']) errors.push(invalidValue('preemptionPolicy', badValue(pc['preemptionPolicy']), 'field is immutable'));
  return errors;
}

/** Validators of the add-on kinds by kind (`old` on updates). */
export const ADDON_VALIDATORS: Readonly<Record<string, (obj: JsonObject, old: JsonObject | undefined) => FieldError[]>> = {
  Service: validateService,
  Role: (o) => validateRules(o, false),
  ClusterRole: (o) => validateRules(o, true),
  RoleBinding: (o, old) => validateBinding(o, old, false),
  ClusterRoleBinding: (o, old) => validateBinding(o, old, true),
  ValidatingWebhookConfiguration: validateWebhooks,
  MutatingWebhookConfiguration: validateWebhooks,
  ValidatingAdmissionPolicy: validatePolicy,
  ValidatingAdmissionPolicyBinding: validatePolicyBinding,
  PodDisruptionBudget: validatePdb,
  PriorityClass: validatePriorityClass,
  FlowSchema: (o) => validateFlowControl('FlowSchema', o),
  PriorityLevelConfiguration: (o) => validateFlowControl('PriorityLevelConfiguration', o),
};
