/**
 * The slice of the apiserver's validation that clients trip over, per kind: object names, the
 * workload rules in `validation-workloads.ts` and the Pod rules in `validation-pods.ts`. Returns
 * field errors in the apiserver's wording; an empty list means valid.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { validateCrd } from './crd-validation.js';
import { ADDON_VALIDATORS } from './validation-addon.js';
import type { JsonObject } from './types.js';
import { required } from './validation-common.js';
import type { FieldError } from './validation-common.js';
import { validateEphemeralUpdate, validatePodCreate, validatePodUpdate } from './validation-pods.js';
import { WORKLOAD_VALIDATORS } from './validation-workloads.js';

export type { FieldError } from './validation-common.js';

/** DNS-1123 subdomain: what most object names must be. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 limit on a whole name. */
const MAX_NAME_LENGTH = 253;

/** `ValidateObjectMeta` name rule: a DNS-1123 subdomain, required unless generateName applies. */
export function validateName(obj: JsonObject): FieldError[] {
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') return [required('metadata.name', 'name or generateName is required')];
  if (name.length > MAX_NAME_LENGTH || !DNS_SUBDOMAIN.test(name)) {
    return [
      {
        field: 'metadata.name',
        message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      },
    ];
  }
  return [];
}

/**
 * `legacyValidateEvent` (pkg/apis/core/validation/events.go), what every v1 Event create passes: the
 * involved object's namespace agrees with the event's, and an event with `eventTime` (the newer
 * shape) names its reporting controller and instance, action and reason.
 */
function validateEvent(event: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const meta = isRecord(event['metadata']) ? event['metadata'] : {};
  const namespace = String(meta['namespace'] ?? '');
  const involved = isRecord(event['involvedObject']) ? event['involvedObject'] : {};
  const involvedNs = typeof involved['namespace'] === 'string' ? involved['namespace'] : '';
  const mismatch = { field: 'involvedObject.namespace', message: `Invalid value: ${JSON.stringify(involvedNs)}: does not match event.namespace` };
  if (event['eventTime'] === undefined || event['eventTime'] === null) {
    // An event about a cluster-scoped object lives in `default` (or nowhere), as old clients wrote it.
    if (involvedNs === '' ? namespace !== '' && namespace !== 'default' : namespace !== involvedNs) errors.push(mismatch);
    return errors;
  }
  if (involvedNs === '' && namespace !== 'default' && namespace !== 'kube-system') errors.push(mismatch);
  for (const field of ['reportingComponent', 'reportingInstance', 'action', 'reason']) {
    const value = event[field];
    // reportingComponent is the JSON name of ReportingController, which the error names.
    if (typeof value !== 'string' || value === '') errors.push(required(field === 'reportingComponent' ? 'reportingController' : field));
  }
  return errors;
}

/** `ValidatePathSegmentName` (RBAC and flowcontrol objects: `system:aggregate-to-view` is a fine name). */
function validatePathSegmentName(obj: JsonObject): FieldError[] {
  const name = isRecord(obj['metadata']) ? obj['metadata']['name'] : undefined;
  if (typeof name !== 'string' || name === '') return [required('metadata.name', 'name or generateName is required')];
  if (name === '.' || name === '..') return [{ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: may not be '${name}'` }];
  for (const bad of ['/', '%']) if (name.includes(bad)) return [{ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: may not contain '${bad}'` }];
  return [];
}

/** A DNS-1035 label: what a Service name must be (`ValidateServiceName`). */
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** The DNS-1035 length limit. */
const MAX_DNS_1035 = 63;

function validateServiceName(obj: JsonObject): FieldError[] {
  const name = isRecord(obj['metadata']) ? obj['metadata']['name'] : undefined;
  if (typeof name !== 'string' || name === '') return [required('metadata.name', 'name or generateName is required')];
  if (name.length > MAX_DNS_1035) return [{ field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: must be no more than 63 characters` }];
  if (DNS_1035.test(name)) return [];
  return [
    {
      field: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(name)}: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    },
  ];
}

const PATH_SEGMENT_NAMED = new Set(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'FlowSchema', 'PriorityLevelConfiguration']);

/**
 * Validates `obj` of `kind`; `old` is the stored object on updates and `subresource` the one written
 * (`ephemeralcontainers` has its own update rules).
 */
export function validateObject(kind: string, obj: JsonObject, old: JsonObject | undefined, subresource?: string): FieldError[] {
  if (kind === 'CustomResourceDefinition') return validateCrd(obj, old);
  const errors = PATH_SEGMENT_NAMED.has(kind) ? validatePathSegmentName(obj) : kind === 'Service' ? validateServiceName(obj) : validateName(obj);
  const workload = WORKLOAD_VALIDATORS[kind] ?? ADDON_VALIDATORS[kind];
  if (workload !== undefined) errors.push(...workload(obj, old));
  if (kind === 'Event' && old === undefined) errors.push(...validateEvent(obj));
  if (kind === 'Pod') {
    if (old === undefined) errors.push(...validatePodCreate(obj));
    else if (subresource === 'ephemeralcontainers') errors.push(...validateEphemeralUpdate(obj, old));
    else errors.push(...validatePodUpdate(obj, old));
  }
  return errors;
}
