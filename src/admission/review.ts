/**
 * Reading and answering AdmissionReview envelopes (reference/admission-protocol.md §2, §4). Pure.
 * A body that is not a usable v1 review is reported as a reason string: the server answers it with a
 * 4xx, which the apiserver treats as a failed call (failurePolicy), never as a decision.
 *
 * The objects are checked for the shape every real apiserver gives them (a typed Go object encoded as
 * JSON: `metadata` and `spec` are objects, maps hold strings, the pod template's path is made of
 * objects), so no handler ever meets a shape it would crash on or a patch that would not apply.
 * Request values quoted in reasons go through quoteBounded: a reason never carries a payload.
 */
import { isRecord } from '../k8s/types.js';
import type { Parsed } from '../errors.js';
import { quoteBounded } from '../policy/digest.js';
import { isWorkloadKind, templatePathPrefix } from '../workload/pod-template.js';
import { ADMISSION_API_VERSION, type AdmissionRequest, type AdmissionResponse, type AdmissionReview } from './types.js';

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

/**
 * The deepest JSON nesting a review may have. A Deployment review is about 20 levels deep (envelope 3,
 * object to the deepest pod-spec field ~17), its managedFields' fieldsV1 about 30; kube-apiserver
 * itself accepts up to 10000. 256 leaves legitimate reviews an order of magnitude of room, while every
 * recursive walk in the gate (JSON.stringify, template diffs, policy rules) stays a few hundred frames
 * deep, far from Node's stack limit (~10000 frames).
 */
export const MAX_REVIEW_DEPTH = 256;

/**
 * True when `value` nests objects or arrays deeper than `limit` (the top-level container is level 1).
 * Iterative: the input may be 100,000 levels deep, which is exactly what it guards against.
 */
export function nestingExceeds(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown>;
    const depth = depths.pop()! + 1;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const v: unknown = node[i];
        if (v === null || typeof v !== 'object') continue;
        if (depth > limit) return true;
        stack.push(v), depths.push(depth);
      }
      continue;
    }
    // for…in over a JSON.parse object visits its own keys only (nothing enumerable is inherited) and allocates no key array.
    for (const key in node) {
      const v = node[key];
      if (v === null || typeof v !== 'object') continue;
      if (depth > limit) return true;
      stack.push(v), depths.push(depth);
    }
  }
  return false;
}

/** undefined when `v` is absent or a string; otherwise the reason. */
function optionalString(v: unknown, path: string): string | undefined {
  return v === undefined || typeof v === 'string' ? undefined : `${path} must be a string, got ${quoteBounded(v)}`;
}

/** A Go map[string]string: an object whose every value is a string (labels, annotations). */
function stringMap(v: unknown, path: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v)) return `${path} must be an object of strings, got ${quoteBounded(v)}`;
  for (const key in v) {
    if (typeof v[key] !== 'string') return `${path}[${quoteBounded(key)}] must be a string, got ${quoteBounded(v[key])}`;
  }
  return undefined;
}

const MANAGED_FIELDS_STRINGS = ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'subresource'] as const;
const META_STRINGS = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion'] as const;

/** ObjectMeta as the apiserver writes it: the fields tracegate reads have their Go types. */
function checkMetadata(meta: unknown, path: string): string | undefined {
  if (meta === undefined) return undefined;
  if (!isRecord(meta)) return `${path} must be an object, got ${quoteBounded(meta)}`;
  for (const field of META_STRINGS) {
    const problem = optionalString(meta[field], `${path}.${field}`);
    if (problem) return problem;
  }
  const problem = stringMap(meta.labels, `${path}.labels`) ?? stringMap(meta.annotations, `${path}.annotations`);
  if (problem) return problem;
  const mf = meta.managedFields;
  if (mf === undefined) return undefined;
  if (!Array.isArray(mf)) return `${path}.managedFields must be an array, got ${quoteBounded(mf)}`;
  for (let i = 0; i < mf.length; i++) {
    const entry: unknown = mf[i];
    if (!isRecord(entry)) return `${path}.managedFields[${i}] must be an object, got ${quoteBounded(entry)}`;
    for (const field of MANAGED_FIELDS_STRINGS) {
      const problem = optionalString(entry[field], `${path}.managedFields[${i}].${field}`);
      if (problem) return problem;
    }
  }
  return undefined;
}

/**
 * The object's own shape, and for a workload kind the path to its pod template: every step present
 * must be an object, and the template's metadata and spec too (a mutating patch adds under them).
 */
function checkObject(obj: Record<string, unknown>, path: string, kind: string): string | undefined {
  if (obj.kind !== undefined && obj.kind !== kind) {
    return `${path}.kind ${quoteBounded(obj.kind)} does not match request.kind.kind ${quoteBounded(kind)}`;
  }
  const problem = optionalString(obj.apiVersion, `${path}.apiVersion`) ?? checkMetadata(obj.metadata, `${path}.metadata`);
  if (problem) return problem;
  if (obj.spec !== undefined && !isRecord(obj.spec)) return `${path}.spec must be an object, got ${quoteBounded(obj.spec)}`;
  if (!isWorkloadKind(kind)) return undefined;
  // A typed object always carries its ObjectMeta (Go's omitempty never drops a struct), and the
  // mutating patch adds under it.
  if (obj.metadata === undefined) return `${path}.metadata is missing (every Kubernetes object has one)`;
  let node: Record<string, unknown> = obj;
  let at = path;
  for (const key of templatePathPrefix(kind).split('.')) {
    if (key === '') continue;
    const next = node[key];
    at = `${at}.${key}`;
    if (next === undefined) return undefined;
    if (!isRecord(next)) return `${at} must be an object, got ${quoteBounded(next)}`;
    node = next;
  }
  // The Pod is its own template: its metadata and spec were checked above.
  if (node === obj) return undefined;
  const templateMeta = checkMetadata(node.metadata, `${at}.metadata`);
  if (templateMeta) return templateMeta;
  if (node.spec !== undefined && !isRecord(node.spec)) return `${at}.spec must be an object, got ${quoteBounded(node.spec)}`;
  return undefined;
}

/** Validates the envelope and the request fields tracegate relies on. */
export function parseReview(body: unknown): Parsed<AdmissionRequest> {
  // First, before anything walks the body: nothing below (nor in the handlers) may meet deeper input.
  if (nestingExceeds(body, MAX_REVIEW_DEPTH)) {
    return { ok: false, error: `request body nests objects or arrays deeper than ${MAX_REVIEW_DEPTH} levels (Kubernetes workload reviews are about 30)` };
  }
  if (!isRecord(body)) return { ok: false, error: 'body must be a JSON object (an AdmissionReview)' };
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== 'AdmissionReview') {
    return { ok: false, error: `expected apiVersion ${ADMISSION_API_VERSION} and kind AdmissionReview, got ${quoteBounded(body.apiVersion ?? null)} / ${quoteBounded(body.kind ?? null)}` };
  }
  const r = body.request;
  if (!isRecord(r)) return { ok: false, error: 'AdmissionReview has no request' };
  if (typeof r.uid !== 'string' || r.uid === '') return { ok: false, error: 'request.uid must be a non-empty string' };
  if (typeof r.operation !== 'string' || !OPERATIONS.has(r.operation)) return { ok: false, error: `request.operation must be one of CREATE, UPDATE, DELETE, CONNECT` };
  if (!isRecord(r.kind) || typeof r.kind.kind !== 'string') return { ok: false, error: 'request.kind must be a {group, version, kind} object' };
  if (!isRecord(r.resource) || typeof r.resource.resource !== 'string') return { ok: false, error: 'request.resource must be a {group, version, resource} object' };
  for (const field of ['name', 'namespace', 'subResource'] as const) {
    if (r[field] !== undefined && r[field] !== null && typeof r[field] !== 'string') return { ok: false, error: `request.${field} must be a string, got ${quoteBounded(r[field])}` };
  }
  if (r.object !== undefined && r.object !== null && !isRecord(r.object)) return { ok: false, error: 'request.object must be an object or null' };
  if (r.oldObject !== undefined && r.oldObject !== null && !isRecord(r.oldObject)) return { ok: false, error: 'request.oldObject must be an object or null' };
  if (r.userInfo !== undefined && !isRecord(r.userInfo)) return { ok: false, error: 'request.userInfo must be an object' };
  const kind = r.kind.kind;
  for (const which of ['object', 'oldObject'] as const) {
    const obj = r[which];
    const problem = isRecord(obj) ? checkObject(obj, `request.${which}`, kind) : undefined;
    if (problem) return { ok: false, error: problem };
  }
  const userInfo = isRecord(r.userInfo) ? r.userInfo : {};
  const request = {
    ...r,
    userInfo: {
      ...userInfo,
      ...(typeof userInfo.username === 'string' ? {} : { username: '' }),
      groups: Array.isArray(userInfo.groups) ? userInfo.groups.filter((g): g is string => typeof g === 'string') : [],
    },
    object: (r.object ?? null) as AdmissionRequest['object'],
    oldObject: (r.oldObject ?? null) as AdmissionRequest['oldObject'],
    options: isRecord(r.options) ? r.options : null,
  } as AdmissionRequest;
  return { ok: true, value: request };
}

/** Wraps a response in the v1 envelope the apiserver requires; uid must be the request's. */
export function reviewResponse(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}
