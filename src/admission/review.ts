/**
 * Reading and answering AdmissionReview envelopes (reference/admission-protocol.md §2, §4). Pure.
 * A body that is not a usable v1 review is reported as a reason string: the server answers it with a
 * 4xx, which the apiserver treats as a failed call (failurePolicy), never as a decision.
 */
import { isRecord } from '../k8s/types.js';
import type { Parsed } from '../errors.js';
import { ADMISSION_API_VERSION, type AdmissionRequest, type AdmissionResponse, type AdmissionReview } from './types.js';

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

/** Validates the envelope and the request fields tracegate relies on. */
export function parseReview(body: unknown): Parsed<AdmissionRequest> {
  if (!isRecord(body)) return { ok: false, error: 'body must be a JSON object (an AdmissionReview)' };
  if (body.apiVersion !== ADMISSION_API_VERSION || body.kind !== 'AdmissionReview') {
    return { ok: false, error: `expected apiVersion ${ADMISSION_API_VERSION} and kind AdmissionReview, got ${JSON.stringify(body.apiVersion ?? null)} / ${JSON.stringify(body.kind ?? null)}` };
  }
  const r = body.request;
  if (!isRecord(r)) return { ok: false, error: 'AdmissionReview has no request' };
  if (typeof r.uid !== 'string' || r.uid === '') return { ok: false, error: 'request.uid must be a non-empty string' };
  if (typeof r.operation !== 'string' || !OPERATIONS.has(r.operation)) return { ok: false, error: `request.operation must be one of CREATE, UPDATE, DELETE, CONNECT` };
  if (!isRecord(r.kind) || typeof r.kind.kind !== 'string') return { ok: false, error: 'request.kind must be a {group, version, kind} object' };
  if (!isRecord(r.resource) || typeof r.resource.resource !== 'string') return { ok: false, error: 'request.resource must be a {group, version, resource} object' };
  if (r.object !== undefined && r.object !== null && !isRecord(r.object)) return { ok: false, error: 'request.object must be an object or null' };
  if (r.oldObject !== undefined && r.oldObject !== null && !isRecord(r.oldObject)) return { ok: false, error: 'request.oldObject must be an object or null' };
  if (r.userInfo !== undefined && !isRecord(r.userInfo)) return { ok: false, error: 'request.userInfo must be an object' };
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
