/**
 * `ValidateCustomResourceDefinition` / `…Update` (apiextensions-apiserver/pkg/apis/apiextensions/
 * validation/validation.go) for what clients trip over: the name is `<plural>.<group>`, the group a
 * DNS subdomain with a dot (and approved when it is a protected `*.k8s.io` group), the scope, unique
 * DNS-1035 version names with exactly one storage version, the names, a schema per version whose root
 * is an object and whose fields have types (the structural-schema basics), printer columns, the
 * scale subresource paths, the conversion strategy, the stored versions, and the fields that may
 * not change. Defaults must be pruned and valid in the real apiserver; that is not checked.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';
import { badValue, forbidden, immutable, invalidValue, notSupported, required } from './validation-common.js';
import type { FieldError } from './validation-common.js';
import { validateName } from './validation.js';

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** `validation.DNS1035LabelMaxLength` / `DNS1123SubdomainMaxLength`. */
const LABEL_MAX = 63;
const SUBDOMAIN_MAX = 253;
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const COLUMN_TYPES = ['boolean', 'date', 'integer', 'number', 'string'];
const COLUMN_FORMATS = ['byte', 'date', 'date-time', 'double', 'float', 'int32', 'int64', 'password'];
/** The annotation a CRD in a protected group needs (KEP-1111). */
const APPROVAL_ANNOTATION = 'api-approved.kubernetes.io';

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

/** `IsDNS1035Label`: the reasons joined with `,`, or `''` when valid. */
function dns1035(value: string): string {
  const errs: string[] = [];
  if (value.length > LABEL_MAX) errs.push(`must be no more than ${LABEL_MAX} characters`);
  if (!DNS1035.test(value)) errs.push(DNS1035_MSG);
  return errs.join(',');
}

function dns1123Subdomain(value: string): string {
  const errs: string[] = [];
  if (value.length > SUBDOMAIN_MAX) errs.push(`must be no more than ${SUBDOMAIN_MAX} characters`);
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(DNS1123_MSG);
  return errs.join(',');
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function validateNames(names: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  for (const field of ['plural', 'singular']) {
    const v = str(names[field]);
    const msg = v === '' ? '' : dns1035(v);
    if (msg !== '') errors.push(invalidValue(`${path}.${field}`, badValue(v), msg));
  }
  for (const field of ['kind', 'listKind']) {
    const v = str(names[field]);
    const msg = v === '' ? '' : dns1035(v.toLowerCase());
    if (msg !== '') errors.push(invalidValue(`${path}.${field}`, badValue(v), `may have mixed case, but should otherwise match: ${msg}`));
  }
  (Array.isArray(names['shortNames']) ? names['shortNames'] : []).forEach((s, i) => {
    const msg = dns1035(str(s));
    if (msg !== '') errors.push(invalidValue(`${path}.shortNames[${i}]`, badValue(s), msg));
  });
  if (str(names['kind']) !== '' && names['kind'] === names['listKind']) errors.push(invalidValue(`${path}.listKind`, badValue(names['listKind']), 'kind and listKind may not be the same'));
  (Array.isArray(names['categories']) ? names['categories'] : []).forEach((c, i) => {
    const msg = dns1035(str(c));
    if (msg !== '') errors.push(invalidValue(`${path}.categories[${i}]`, badValue(c), msg));
  });
  return errors;
}

/** The structural-schema basics: an object at the root, a type on every specified field and item. */
function validateStructural(schema: JsonObject, path: string, root: boolean, errors: FieldError[]): void {
  const untyped = schema['x-kubernetes-int-or-string'] === true || (schema['x-kubernetes-preserve-unknown-fields'] === true && !root);
  if (root) {
    if (schema['type'] === undefined || schema['type'] === '') errors.push(required(`${path}.type`, 'must not be empty at the root'));
    else if (schema['type'] !== 'object') errors.push(invalidValue(`${path}.type`, badValue(schema['type']), 'must be object at the root'));
  }
  const props = rec(schema['properties']);
  for (const [name, prop] of Object.entries(props)) {
    if (!isRecord(prop)) continue;
    const p = `${path}.properties[${name}]`;
    const propUntyped = prop['x-kubernetes-int-or-string'] === true || prop['x-kubernetes-preserve-unknown-fields'] === true;
    if ((prop['type'] === undefined || prop['type'] === '') && !propUntyped) errors.push(required(`${p}.type`, 'must not be empty for specified object fields'));
    validateStructural(prop, p, false, errors);
  }
  if (isRecord(schema['additionalProperties'])) validateStructural(schema['additionalProperties'], `${path}.additionalProperties`, false, errors);
  if (schema['type'] === 'array' && !untyped) {
    const items = schema['items'];
    if (!isRecord(items)) errors.push(required(`${path}.items`, 'must be specified'));
    else {
      const itemsUntyped = items['x-kubernetes-int-or-string'] === true || items['x-kubernetes-preserve-unknown-fields'] === true;
      if ((items['type'] === undefined || items['type'] === '') && !itemsUntyped) errors.push(required(`${path}.items.type`, 'must not be empty for specified array items'));
      validateStructural(items, `${path}.items`, false, errors);
    }
  }
  if (schema['uniqueItems'] === true) errors.push(forbidden(`${path}.uniqueItems`, 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));
  if (schema['additionalProperties'] === false) errors.push(forbidden(`${path}.additionalProperties`, 'additionalProperties cannot be set to false'));
}

/** A JSONPath as printer columns and scale paths accept it: `.field.sub` (optionally with `[…]`). */
function simpleJsonPath(path: string): boolean {
  return /^\.[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+|\[[^\]]*\])*$/.test(path);
}

function validateVersion(v: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const name = str(v['name']);
  const msg = dns1035(name);
  if (msg !== '') errors.push(invalidValue(`${path}.name`, badValue(name), msg));
  const schema = rec(v['schema'])['openAPIV3Schema'];
  if (!isRecord(schema)) errors.push(required(`${path}.schema.openAPIV3Schema`, 'schemas are required'));
  else validateStructural(schema, `${path}.schema.openAPIV3Schema`, true, errors);
  (Array.isArray(v['additionalPrinterColumns']) ? v['additionalPrinterColumns'] : []).forEach((c, i) => {
    const col = rec(c);
    const p = `${path}.additionalPrinterColumns[${i}]`;
    if (str(col['name']) === '') errors.push(required(`${p}.name`));
    const type = str(col['type']);
    if (type === '') errors.push(required(`${p}.type`, `must be one of ${COLUMN_TYPES.join(',')}`));
    else if (!COLUMN_TYPES.includes(type)) errors.push(invalidValue(`${p}.type`, badValue(type), `must be one of ${COLUMN_TYPES.join(',')}`));
    const format = str(col['format']);
    if (format !== '' && !COLUMN_FORMATS.includes(format)) errors.push(invalidValue(`${p}.format`, badValue(format), `must be one of ${COLUMN_FORMATS.join(',')}`));
    const jsonPath = str(col['jsonPath']);
    if (jsonPath === '') errors.push(required(`${p}.jsonPath`));
    else if (!simpleJsonPath(jsonPath)) errors.push(invalidValue(`${p}.jsonPath`, badValue(jsonPath), 'must be a simple json path starting with .'));
  });
  const scale = rec(v['subresources'])['scale'];
  if (isRecord(scale)) {
    const p = `${path}.subresources.scale`;
    for (const [field, under] of [
      ['specReplicasPath', '.spec'],
      ['statusReplicasPath', '.status'],
    ] as const) {
      const value = str(scale[field]);
      if (value === '') errors.push(required(`${p}.${field}`));
      else if (!simpleJsonPath(value) || !value.startsWith(`${under}.`)) errors.push(invalidValue(`${p}.${field}`, badValue(value), `should be a json path under ${under}`));
    }
  }
  return errors;
}

function validateSpec(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const group = str(spec['group']);
  if (group === '') errors.push(required('spec.group'));
  else if (dns1123Subdomain(group) !== '') errors.push(invalidValue('spec.group', badValue(group), dns1123Subdomain(group)));
  else if (group.split('.').length < 2) errors.push(invalidValue('spec.group', badValue(group), 'should be a domain with at least one dot'));
  const scope = str(spec['scope']);
  if (scope === '') errors.push(required('spec.scope'));
  else if (scope !== 'Cluster' && scope !== 'Namespaced') errors.push(notSupported('spec.scope', scope, ['Cluster', 'Namespaced']));
  const versions = Array.isArray(spec['versions']) ? spec['versions'].map(rec) : [];
  const names = versions.map((v) => str(v['name']));
  versions.forEach((v, i) => errors.push(...validateVersion(v, `spec.versions[${i}]`)));
  if (new Set(names).size !== names.length) errors.push(invalidValue('spec.versions', badValue(spec['versions']), 'must contain unique version names'));
  if (versions.filter((v) => v['storage'] === true).length !== 1) errors.push(invalidValue('spec.versions', badValue(spec['versions'] ?? null), 'must have exactly one version marked as storage version'));
  const specNames = rec(spec['names']);
  for (const field of ['plural', 'singular', 'kind', 'listKind']) if (str(specNames[field]) === '') errors.push(required(`spec.names.${field}`));
  errors.push(...validateNames(specNames, 'spec.names'));
  const conversion = rec(spec['conversion']);
  const strategy = str(conversion['strategy']);
  if (strategy !== 'None' && strategy !== 'Webhook') errors.push(notSupported('spec.conversion.strategy', strategy, ['None', 'Webhook']));
  else if (strategy === 'Webhook' && !isRecord(conversion['webhook'])) errors.push(required('spec.conversion.webhook', 'required when strategy is set to Webhook'));
  if (spec['preserveUnknownFields'] === true) {
    errors.push(invalidValue('spec.preserveUnknownFields', 'true', 'cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead'));
  }
  return errors;
}

function validateStoredVersions(crd: JsonObject): FieldError[] {
  const stored = Array.isArray(rec(crd['status'])['storedVersions']) ? (rec(crd['status'])['storedVersions'] as unknown[]).map(str) : [];
  const path = 'status.storedVersions';
  if (stored.length === 0) return [invalidValue(path, '[]', 'must have at least one stored version')];
  const errors: FieldError[] = [];
  const versions = Array.isArray(rec(crd['spec'])['versions']) ? (rec(crd['spec'])['versions'] as unknown[]).map(rec) : [];
  for (const v of versions) if (v['storage'] === true && !stored.includes(str(v['name']))) errors.push(invalidValue(path, badValue(v), `must have the storage version ${str(v['name'])}`));
  stored.forEach((s, i) => {
    if (!versions.some((v) => v['name'] === s)) errors.push(invalidValue(`${path}[${i}]`, badValue(s), 'must appear in spec.versions'));
  });
  return errors;
}

/** `validateAPIApproval`: groups `k8s.io`, `kubernetes.io` and their subdomains need the approval annotation. */
function validateApproval(crd: JsonObject): FieldError[] {
  const group = str(rec(crd['spec'])['group']);
  const isProtected = ['k8s.io', 'kubernetes.io'].some((d) => group === d || group.endsWith(`.${d}`));
  if (!isProtected) return [];
  const annotations = rec(rec(crd['metadata'])['annotations']);
  if (typeof annotations[APPROVAL_ANNOTATION] === 'string' && annotations[APPROVAL_ANNOTATION] !== '') return [];
  return [required(`metadata.annotations[${APPROVAL_ANNOTATION}]`, `protected groups must have approval annotation "${APPROVAL_ANNOTATION}", see https://github.com/kubernetes/enhancements/pull/1111`)];
}

/** Validates a CRD on create (`old` undefined) or update. */
export function validateCrd(crd: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors = validateName(crd);
  const spec = rec(crd['spec']);
  const name = str(rec(crd['metadata'])['name']);
  const requiredName = `${str(rec(spec['names'])['plural'])}.${str(spec['group'])}`;
  if (errors.length === 0 && name !== requiredName) errors.push(invalidValue('metadata.name', badValue(name), 'must be spec.names.plural+"."+spec.group'));
  errors.push(...validateApproval(crd), ...validateSpec(spec), ...validateNames(rec(rec(crd['status'])['acceptedNames']), 'status.acceptedNames'), ...validateStoredVersions(crd));
  if (old === undefined) return errors;
  const oldSpec = rec(old['spec']);
  const established = (Array.isArray(rec(old['status'])['conditions']) ? (rec(old['status'])['conditions'] as unknown[]) : []).some((c) => isRecord(c) && c['type'] === 'Established' && c['status'] === 'True');
  const fixed: [string, unknown, unknown][] = [
    ['spec.group', spec['group'], oldSpec['group']],
    ['spec.names.plural', rec(spec['names'])['plural'], rec(oldSpec['names'])['plural']],
  ];
  // Scope and kind decide how objects are stored: fixed once the CRD is established.
  if (established) fixed.push(['spec.scope', spec['scope'], oldSpec['scope']], ['spec.names.kind', rec(spec['names'])['kind'], rec(oldSpec['names'])['kind']]);
  for (const [path, now, before] of fixed) if (now !== before) errors.push(immutable(path, badValue(now)));
  return errors;
}
