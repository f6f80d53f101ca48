/**
 * Building blocks of the validators: field errors in the apiserver's wording
 * (k8s.io/apimachinery/pkg/util/validation/field/errors.go), bad values rendered as 1.34+ does
 * (`json.Marshal`, so maps with sorted keys and structs in Go field order), label selector matching,
 * and the container checks shared by Pods and pod templates.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** One field error (`spec.template.spec.containers[0].image: Required value`). */
export interface FieldError {
  field: string;
  message: string;
}

/** DNS-1123 label: container names, and the longest part of most generated names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 label length limit. */
export const MAX_LABEL_LENGTH = 63;

/**
 * A bad value as `field.Error.ErrorBody()` prints it: strings quoted, numbers and booleans bare,
 * anything else as Go's `json.Marshal` would (object keys sorted, as Go sorts map keys; `null` for nil).
 */
export function badValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return goJson(value);
}

/** JSON with object keys sorted (Go map order); `null` for undefined. */
export function goJson(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(goJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${goJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A metav1.LabelSelector as `json.Marshal` writes the struct: matchLabels, then matchExpressions. */
export function selectorJson(selector: unknown): string {
  if (!isRecord(selector)) return 'null';
  const parts: string[] = [];
  if (isRecord(selector['matchLabels']) && Object.keys(selector['matchLabels']).length > 0) parts.push(`"matchLabels":${goJson(selector['matchLabels'])}`);
  if (Array.isArray(selector['matchExpressions']) && selector['matchExpressions'].length > 0) {
    const exprs = selector['matchExpressions'].map((e) => {
      const expr = isRecord(e) ? e : {};
      const fields = [`"key":${JSON.stringify(expr['key'] ?? '')}`, `"operator":${JSON.stringify(expr['operator'] ?? '')}`];
      if (Array.isArray(expr['values']) && expr['values'].length > 0) fields.push(`"values":${JSON.stringify(expr['values'])}`);
      return `{${fields.join(',')}}`;
    });
    parts.push(`"matchExpressions":[${exprs.join(',')}]`);
  }
  return `{${parts.join(',')}}`;
}

export function required(field: string, detail = ''): FieldError {
  return { field, message: detail === '' ? 'Required value' : `Required value: ${detail}` };
}

export function invalidValue(field: string, rendered: string, detail: string): FieldError {
  return { field, message: `Invalid value: ${rendered}: ${detail}` };
}

export function forbidden(field: string, detail: string): FieldError {
  return { field, message: `Forbidden: ${detail}` };
}

/** `field.NotSupported`: `Unsupported value: "x": supported values: "a", "b"`. */
export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  return { field, message: `Unsupported value: ${badValue(value ?? '')}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` };
}

/** `ValidateImmutableField`: the new value, then `field is immutable`. */
export function immutable(field: string, rendered: string): FieldError {
  return invalidValue(field, rendered, 'field is immutable');
}

/** Whether a metav1.LabelSelector selects `labels`; an empty selector selects everything. */
export function selectorMatches(selector: unknown, labels: unknown): boolean {
  if (!isRecord(selector)) return false;
  const have = isRecord(labels) ? labels : {};
  const matchLabels = isRecord(selector['matchLabels']) ? selector['matchLabels'] : {};
  const exprs = Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'] : [];
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

/** True for a selector with neither matchLabels nor matchExpressions. */
export function selectorEmpty(selector: JsonObject): boolean {
  const labels = isRecord(selector['matchLabels']) ? Object.keys(selector['matchLabels']).length : 0;
  const exprs = Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'].length : 0;
  return labels + exprs === 0;
}

/** The containers of a list, as objects. */
export function containersIn(spec: unknown, list: string): JsonObject[] {
  const items = isRecord(spec) && Array.isArray(spec[list]) ? spec[list] : [];
  return items.map((c) => (isRecord(c) ? c : {}));
}

/**
 * The container checks of `ValidatePodSpec` that clients trip over: at least one container, names
 * (required, DNS-1123 label, unique across containers, initContainers and ephemeralContainers),
 * images, and the restart policy.
 */
export function validatePodSpec(podSpec: unknown, base: string): FieldError[] {
  const errors: FieldError[] = [];
  const spec = isRecord(podSpec) ? podSpec : {};
  if (containersIn(spec, 'containers').length === 0) errors.push(required(`${base}.containers`));
  const seen = new Set<string>();
  for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
    containersIn(spec, list).forEach((c, i) => {
      const name = c['name'];
      const path = `${base}.${list}[${i}]`;
      if (typeof name !== 'string' || name === '') errors.push(required(`${path}.name`));
      else if (name.length > MAX_LABEL_LENGTH || !DNS_LABEL.test(name)) {
        errors.push(invalidValue(`${path}.name`, JSON.stringify(name), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"));
      } else if (seen.has(name)) errors.push({ field: `${path}.name`, message: `Duplicate value: ${JSON.stringify(name)}` });
      if (typeof name === 'string') seen.add(name);
      if (typeof c['image'] !== 'string' || c['image'] === '') errors.push(required(`${path}.image`));
    });
  }
  const policy = spec['restartPolicy'];
  if (policy !== undefined && !['Always', 'OnFailure', 'Never'].includes(String(policy))) {
    errors.push(notSupported(`${base}.restartPolicy`, policy, ['Always', 'OnFailure', 'Never']));
  }
  return errors;
}
