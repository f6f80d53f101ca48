/**
 * Validation of a custom resource against its CRD version's `openAPIV3Schema`, worded as the
 * apiserver words it: kube-openapi's validators (pkg/validation/validate: type, required, enum,
 * pattern, min/max, minLength/maxLength, minItems/maxItems, min/maxProperties, multipleOf, format,
 * nullable, allOf/anyOf/oneOf/not) produce errors like `spec.entries[0].seq in body should be greater
 * than or equal to 1` (pkg/validation/errors/schema.go), which `kubeOpenAPIResultToFieldErrors`
 * (apiextensions-apiserver/pkg/apiserver/validation/validation.go) turns into field errors:
 * Required, NotSupported (enum), TooLong (maxLength), TooMany (maxItems), TypeInvalid, else Invalid.
 * `x-kubernetes-validations` (CEL) rules are not evaluated.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { isDeepStrictEqual } from 'node:util';
import type { Schema } from './cr-schema.js';
import { itemsSchema, propertySchema } from './cr-schema.js';
import { badValue, goJson, notSupported, required } from './validation-common.js';
import type { FieldError } from './validation-common.js';

/** kube-openapi errors name the location of the value as `in body`. */
const IN = 'in body';

function child(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The JSON type of a value as kube-openapi's `schemaInfoForType` names it. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'string') return 'string';
  return 'object';
}

/** Go's `%v` of a float64 bound (`1`, `1.5`, `1e+21`). */
function goNumber(n: unknown): string {
  if (typeof n !== 'number') return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  return String(n).replace(/e\+?(\d)$/, 'e+0$1').replace(/e([+-])(\d)$/, 'e$10$2');
}

/** The types a node accepts: its `type`, or integer and string for `x-kubernetes-int-or-string`. */
function typesOf(s: Schema): string[] {
  if (s['x-kubernetes-int-or-string'] === true) return ['integer', 'string'];
  return typeof s['type'] === 'string' && s['type'] !== '' ? [s['type']] : [];
}

/** RFC 3339 date-time as strfmt's `ParseDateTime` accepts it (reduced precision and local time too). */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function validDate(y: string | undefined, m: string | undefined, d: string | undefined): boolean {
  const month = Number(m);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
}

/**
 * The formats the apiextensions-apiserver checks (a subset of its supported list); others pass.
 * Returns false when `value` does not have the format.
 */
function formatOk(format: string, value: string): boolean {
  switch (format) {
    case 'date-time':
    case 'datetime': {
      const m = DATE_TIME.exec(value);
      return m !== null && validDate(m[1], m[2], m[3]) && Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6] ?? 0) < 60;
    }
    case 'date': {
      const m = DATE.exec(value);
      return m !== null && validDate(m[1], m[2], m[3]);
    }
    case 'uuid':
      return UUID.test(value);
    case 'ipv4':
      return IPV4.test(value);
    case 'hostname':
      return HOSTNAME.test(value);
    case 'byte':
      return BASE64.test(value);
    default:
      return true;
  }
}

/** A schema pattern (RE2 syntax) as a JS RegExp: with Unicode semantics, else plain; `undefined` if neither compiles. */
function compilePattern(pattern: string): RegExp | undefined {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(pattern, flags);
    } catch {
      // RE2 accepts escapes (`\-` outside a class) that Unicode-mode JS does not: try without it.
    }
  }
  return undefined;
}

function validateString(value: string, s: Schema, path: string, errors: FieldError[]): void {
  const length = [...value].length;
  if (typeof s['maxLength'] === 'number' && length > s['maxLength']) errors.push({ field: path, message: `Too long: may not be more than ${s['maxLength']} bytes` });
  if (typeof s['minLength'] === 'number' && length < s['minLength']) errors.push({ field: path, message: `Invalid value: ${badValue(value)}: ${path} ${IN} should be at least ${s['minLength']} chars long` });
  if (typeof s['pattern'] === 'string') {
    const re = compilePattern(s['pattern']);
    if (re !== undefined && !re.test(value)) errors.push({ field: path, message: `Invalid value: ${badValue(value)}: ${path} ${IN} should match '${s['pattern']}'` });
  }
  if (typeof s['format'] === 'string' && !formatOk(s['format'], value)) {
    errors.push({ field: path, message: `Invalid value: ${badValue(value)}: ${path} ${IN} must be of type ${s['format']}: ${JSON.stringify(value)}` });
  }
}

function validateNumber(value: number, s: Schema, path: string, errors: FieldError[]): void {
  const invalid = (detail: string): void => void errors.push({ field: path, message: `Invalid value: ${badValue(value)}: ${path} ${IN} ${detail}` });
  if (typeof s['maximum'] === 'number') {
    const exclusive = s['exclusiveMaximum'] === true;
    if (exclusive ? value >= s['maximum'] : value > s['maximum']) invalid(`should be less than ${exclusive ? '' : 'or equal to '}${goNumber(s['maximum'])}`);
  }
  if (typeof s['minimum'] === 'number') {
    const exclusive = s['exclusiveMinimum'] === true;
    if (exclusive ? value <= s['minimum'] : value < s['minimum']) invalid(`should be greater than ${exclusive ? '' : 'or equal to '}${goNumber(s['minimum'])}`);
  }
  if (typeof s['multipleOf'] === 'number' && s['multipleOf'] > 0 && !Number.isInteger(value / s['multipleOf'])) invalid(`should be a multiple of ${goNumber(s['multipleOf'])}`);
}

function validateArray(value: unknown[], s: Schema, path: string, errors: FieldError[]): void {
  if (typeof s['maxItems'] === 'number' && value.length > s['maxItems']) errors.push({ field: path, message: `Too many: ${value.length}: must have at most ${s['maxItems']} items` });
  if (typeof s['minItems'] === 'number' && value.length < s['minItems']) errors.push({ field: path, message: `Invalid value: ${value.length}: ${path} ${IN} should have at least ${s['minItems']} items` });
  const items = itemsSchema(s);
  if (items !== undefined) value.forEach((v, i) => validateNode(v, items, `${path}[${i}]`, errors));
}

function validateObjectNode(value: Record<string, unknown>, s: Schema, path: string, errors: FieldError[]): void {
  const req = Array.isArray(s['required']) ? s['required'] : [];
  for (const key of req) if (typeof key === 'string' && !(key in value)) errors.push(required(child(path, key)));
  const count = Object.keys(value).length;
  if (typeof s['maxProperties'] === 'number' && count > s['maxProperties']) errors.push({ field: path, message: `Too many: ${count}: must have at most ${s['maxProperties']} items` });
  if (typeof s['minProperties'] === 'number' && count < s['minProperties']) errors.push({ field: path, message: `Invalid value: ${count}: ${path} ${IN} should have at least ${s['minProperties']} properties` });
  for (const [k, v] of Object.entries(value)) {
    // The object's own metadata is validated as ObjectMeta, not by the schema.
    if (path === '' && k === 'metadata') continue;
    const propSchema = propertySchema(s, k);
    if (propSchema !== undefined) validateNode(v, propSchema, child(path, k), errors);
  }
}

/** allOf/anyOf/oneOf/not: value validations over the same node (`schemaPropsValidator`). */
function validateCombinators(value: unknown, s: Schema, path: string, errors: FieldError[]): void {
  const name = path === '' ? '' : path;
  for (const sub of Array.isArray(s['allOf']) ? s['allOf'].filter(isRecord) : []) validateNode(value, sub, path, errors);
  const passes = (sub: Schema): boolean => {
    const e: FieldError[] = [];
    validateNode(value, sub, path, e);
    return e.length === 0;
  };
  const anyOf = Array.isArray(s['anyOf']) ? s['anyOf'].filter(isRecord) : [];
  if (anyOf.length > 0 && !anyOf.some(passes)) errors.push({ field: path, message: `Invalid value: "": ${JSON.stringify(name)} must validate at least one schema (anyOf)` });
  const oneOf = Array.isArray(s['oneOf']) ? s['oneOf'].filter(isRecord) : [];
  if (oneOf.length > 0 && oneOf.filter(passes).length !== 1) errors.push({ field: path, message: `Invalid value: "": ${JSON.stringify(name)} must validate one and only one schema (oneOf)` });
  if (isRecord(s['not']) && passes(s['not'])) errors.push({ field: path, message: `Invalid value: "": ${JSON.stringify(name)} must not validate the schema (not)` });
}

function validateNode(value: unknown, s: Schema, path: string, errors: FieldError[]): void {
  const types = typesOf(s);
  if (value === null) {
    if (types.length > 0 && s['nullable'] !== true) errors.push({ field: path, message: `Invalid value: "null": ${path} ${IN} must be of type ${types.join(',')}: "null"` });
    return;
  }
  const actual = jsonType(value);
  // An integral number is an integer; any integer is also a number.
  const typeOk = types.length === 0 || types.includes(actual) || (actual === 'integer' && types.includes('number'));
  if (!typeOk) {
    errors.push({ field: path, message: `Invalid value: ${JSON.stringify(actual)}: ${path} ${IN} must be of type ${types.join(',')}: ${JSON.stringify(actual)}` });
    return;
  }
  if (Array.isArray(s['enum']) && !s['enum'].some((e) => isDeepStrictEqual(e, value))) {
    errors.push(notSupported(path, value, s['enum'].map((e) => (typeof e === 'string' ? e : goJson(e)))));
  }
  if (typeof value === 'string') validateString(value, s, path, errors);
  else if (typeof value === 'number') validateNumber(value, s, path, errors);
  else if (Array.isArray(value)) validateArray(value, s, path, errors);
  else if (isRecord(value)) validateObjectNode(value, s, path, errors);
  validateCombinators(value, s, path, errors);
}

/** Validates a (pruned and defaulted) custom resource against its version's schema. */
export function validateAgainstSchema(obj: Record<string, unknown>, schema: Schema | undefined): FieldError[] {
  if (schema === undefined) return [];
  const errors: FieldError[] = [];
  validateNode(obj, schema, '', errors);
  return errors;
}
