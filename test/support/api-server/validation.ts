/**
 * The slice of the apiserver's validation that tests trip over: names, the Deployment selector and
 * template labels, container names and images, and the immutable selector. Returns field errors in
 * the apiserver's wording; an empty list means valid.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** One field error (`spec.template.spec.containers[0].image: Required value`). */
export interface FieldError {
  field: string;
  message: string;
}

/** DNS-1123 subdomain: what most object names must be. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 limit on a whole name. */
const MAX_NAME_LENGTH = 253;

function validateName(obj: JsonObject): FieldError[] {
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const name = meta['name'];
  if (typeof name !== 'string' || name === '') return [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }];
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

function selectorMatches(selector: unknown, labels: unknown): boolean {
  if (!isRecord(selector)) return false;
  const have = isRecord(labels) ? labels : {};
  const matchLabels = isRecord(selector['matchLabels']) ? selector['matchLabels'] : {};
  const exprs = Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'] : [];
  if (Object.keys(matchLabels).length === 0 && exprs.length === 0) return false;
  if (!Object.entries(matchLabels).every(([k, v]) => have[k] === v)) return false;
  return exprs.every((e) => {
    if (!isRecord(e) || typeof e['key'] !== 'string') return false;
    const values = Array.isArray(e['values']) ? e['values'] : [];
    const value = have[e['key']];
    switch (e['operator']) {
      case 'In':
        return values.includes(value);
      case 'NotIn':
        return !values.includes(value);
      case 'Exists':
        return e['key'] in have;
      case 'DoesNotExist':
        return !(e['key'] in have);
      default:
        return false;
    }
  });
}

function validateContainers(podSpec: unknown, base: string): FieldError[] {
  const errors: FieldError[] = [];
  const spec = isRecord(podSpec) ? podSpec : {};
  const containers = Array.isArray(spec['containers']) ? spec['containers'] : [];
  if (containers.length === 0) errors.push({ field: `${base}.containers`, message: 'Required value' });
  for (const list of ['containers', 'initContainers']) {
    const items = Array.isArray(spec[list]) ? spec[list] : [];
    items.forEach((c, i) => {
      const container = isRecord(c) ? c : {};
      if (typeof container['name'] !== 'string' || container['name'] === '') errors.push({ field: `${base}.${list}[${i}].name`, message: 'Required value' });
      if (typeof container['image'] !== 'string' || container['image'] === '') errors.push({ field: `${base}.${list}[${i}].image`, message: 'Required value' });
    });
  }
  return errors;
}

function validateTemplated(obj: JsonObject, old: JsonObject | undefined): FieldError[] {
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const template = isRecord(spec['template']) ? spec['template'] : {};
  const templateMeta = isRecord(template['metadata']) ? template['metadata'] : {};
  const errors: FieldError[] = [];
  if (!isRecord(spec['selector'])) {
    errors.push({ field: 'spec.selector', message: 'Required value' });
  } else if (!selectorMatches(spec['selector'], templateMeta['labels'])) {
    errors.push({ field: 'spec.template.metadata.labels', message: `Invalid value: ${JSON.stringify(templateMeta['labels'] ?? {})}: \`selector\` does not match template \`labels\`` });
  }
  if (typeof spec['replicas'] === 'number' && spec['replicas'] < 0) {
    errors.push({ field: 'spec.replicas', message: `Invalid value: ${spec['replicas']}: must be greater than or equal to 0` });
  }
  const oldSpec = old !== undefined && isRecord(old['spec']) ? old['spec'] : undefined;
  if (oldSpec !== undefined && JSON.stringify(oldSpec['selector']) !== JSON.stringify(spec['selector'])) {
    errors.push({ field: 'spec.selector', message: `Invalid value: ${JSON.stringify(spec['selector'])}: field is immutable` });
  }
  errors.push(...validateContainers(template['spec'], 'spec.template.spec'));
  return errors;
}

/** Validates `obj` of `kind`; `old` is the stored object on updates. */
export function validateObject(kind: string, obj: JsonObject, old: JsonObject | undefined): FieldError[] {
  const errors = validateName(obj);
  if (kind === 'Deployment' || kind === 'ReplicaSet') errors.push(...validateTemplated(obj, old));
  if (kind === 'Pod') errors.push(...validateContainers(obj['spec'], 'spec'));
  return errors;
}
