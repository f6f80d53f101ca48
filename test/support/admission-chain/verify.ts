/**
 * Checks a webhook's answer as the apiserver does: first the typed decode of the AdmissionReview
 * (wrong JSON types and bad base64 fail the call), then `VerifyAdmissionResponse`
 * (`K/apiserver/pkg/admission/plugin/webhook/request/admissionreview.go`): response present, uid
 * echoed, envelope `admission.k8s.io/v1 AdmissionReview`, patch and patchType together and only from
 * mutating webhooks. Every failure here is a failed call, so failurePolicy decides. Pure.
 */
import type { Parsed } from '../../../src/errors.js';

/** The fields of an AdmissionResponse the chain acts on. */
export interface VerifiedResponse {
  allowed: boolean;
  /** The decoded patch bytes; empty when there is none. */
  patch: Buffer;
  /** `''` when absent. */
  patchType: string;
  status: unknown;
  warnings: string[];
  auditAnnotations: Record<string, string>;
}

type Loose = Record<string, unknown>;

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function goType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

function cannotUnmarshal(v: unknown, field: string, type: string): string {
  return `failed to call webhook: json: cannot unmarshal ${goType(v)} into Go struct field AdmissionReview.response.${field} of type ${type}`;
}

/** encoding/json's []byte decoding: standard padded base64, CR and LF ignored. */
function decodeBase64(text: string): Parsed<Buffer> {
  const compact = text.replace(/[\r\n]/g, '');
  const bad = compact.search(/[^A-Za-z0-9+/=]/);
  if (bad >= 0) return { ok: false, error: `illegal base64 data at input byte ${bad}` };
  const pad = compact.indexOf('=');
  if (compact.length % 4 !== 0 || (pad >= 0 && pad < compact.length - 2) || (pad >= 0 && /[^=]/.test(compact.slice(pad)))) {
    return { ok: false, error: `illegal base64 data at input byte ${pad >= 0 ? pad : compact.length - (compact.length % 4)}` };
  }
  return { ok: true, value: Buffer.from(compact, 'base64') };
}

/** `GroupVersionKind.String()`: `group/version, Kind=kind` (`/, Kind=` when all are empty). */
function gvkString(apiVersion: unknown, kind: unknown): string {
  const av = typeof apiVersion === 'string' ? apiVersion : '';
  const slash = av.indexOf('/');
  const group = slash < 0 ? '' : av.slice(0, slash);
  const version = slash < 0 ? av : av.slice(slash + 1);
  return `${group}/${version}, Kind=${typeof kind === 'string' ? kind : ''}`;
}

/** The typed decode of `response`: undefined when fine, else the decode error. */
function typeErrors(r: Loose): string | undefined {
  const checks: [string, string, (v: unknown) => boolean][] = [
    ['uid', 'types.UID', (v) => typeof v === 'string'],
    ['allowed', 'bool', (v) => typeof v === 'boolean'],
    ['patch', '[]uint8', (v) => typeof v === 'string'],
    ['patchType', 'v1.PatchType', (v) => typeof v === 'string'],
    ['status', 'v1.Status', (v) => isObject(v)],
    ['warnings', '[]string', (v) => Array.isArray(v) && v.every((w) => typeof w === 'string' || w === null)],
    ['auditAnnotations', 'map[string]string', (v) => isObject(v) && Object.values(v).every((a) => typeof a === 'string' || a === null)],
  ];
  for (const [field, type, valid] of checks) {
    const v = r[field];
    // JSON null leaves a Go field at its zero value.
    if (v !== undefined && v !== null && !valid(v)) return cannotUnmarshal(v, field, type);
  }
  return undefined;
}

/**
 * Decodes and verifies a webhook's response body. The error is worded as it follows
 * `failed calling webhook "<name>": ` in the user's message.
 */
export function verifyResponse(body: unknown, uid: string, mutating: boolean): Parsed<VerifiedResponse> {
  if (!isObject(body)) return { ok: false, error: `failed to call webhook: json: cannot unmarshal ${goType(body)} into Go value of type v1.AdmissionReview` };
  const r = body['response'];
  if (r !== undefined && r !== null && !isObject(r)) return { ok: false, error: `failed to call webhook: json: cannot unmarshal ${goType(r)} into Go struct field AdmissionReview.response of type v1.AdmissionResponse` };
  if (isObject(r)) {
    const typeError = typeErrors(r);
    if (typeError !== undefined) return { ok: false, error: typeError };
  }
  let patch: Buffer = Buffer.alloc(0);
  if (isObject(r) && typeof r['patch'] === 'string') {
    const decoded = decodeBase64(r['patch']);
    if (!decoded.ok) return { ok: false, error: `failed to call webhook: ${decoded.error}` };
    patch = decoded.value;
  }
  const invalid = (why: string): Parsed<VerifiedResponse> => ({ ok: false, error: `received invalid webhook response: ${why}` });
  if (!isObject(r)) return invalid('webhook response was absent');
  const gotUid = typeof r['uid'] === 'string' ? r['uid'] : '';
  if (gotUid !== uid) return invalid(`expected response.uid=${JSON.stringify(uid)}, got ${JSON.stringify(gotUid)}`);
  if (body['apiVersion'] !== 'admission.k8s.io/v1' || body['kind'] !== 'AdmissionReview') {
    return invalid(`expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got ${gvkString(body['apiVersion'], body['kind'])}`);
  }
  const hasPatchType = typeof r['patchType'] === 'string';
  const patchType = hasPatchType ? (r['patchType'] as string) : '';
  if (mutating) {
    if (patch.length > 0 && !hasPatchType) return invalid('webhook returned response.patch but not response.patchType');
    if (patch.length === 0 && hasPatchType) return invalid('webhook returned response.patchType but not response.patch');
    if (hasPatchType && patchType === '') return invalid('webhook returned invalid response.patchType of ""');
  } else {
    if (patch.length > 0) return invalid('validating webhook may not return response.patch');
    if (hasPatchType) return invalid('validating webhook may not return response.patchType');
  }
  const warnings = Array.isArray(r['warnings']) ? r['warnings'].map((w) => (typeof w === 'string' ? w : '')) : [];
  const audit: Record<string, string> = {};
  if (isObject(r['auditAnnotations'])) for (const [k, v] of Object.entries(r['auditAnnotations'])) audit[k] = typeof v === 'string' ? v : '';
  return {
    ok: true,
    value: { allowed: r['allowed'] === true, patch: mutating ? patch : Buffer.alloc(0), patchType, status: r['status'], warnings, auditAnnotations: audit },
  };
}

/**
 * `jsonpatch.DecodePatch` on the response's patch bytes: a JSON array of objects (or null). The
 * error follows `received undecodable patch in webhook response: `.
 */
export function decodePatch(bytes: Buffer): Parsed<unknown[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  if (parsed === null) return { ok: true, value: [] };
  if (!Array.isArray(parsed)) return { ok: false, error: `json: cannot unmarshal ${goType(parsed)} into Go value of type jsonpatch.Patch` };
  const bad = parsed.find((op) => op !== null && !isObject(op));
  if (bad !== undefined) return { ok: false, error: `json: cannot unmarshal ${goType(bad)} into Go value of type jsonpatch.Operation` };
  return { ok: true, value: parsed };
}
