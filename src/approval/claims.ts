/**
 * The shape of an approval's claims, checked after its signature verified: every field of the right
 * type, no control characters (values end up in annotations, logs and `helm history`), a commit as the
 * provenance rule accepts it, a test-results link that is an http(s) URL. Pure; one-line reasons.
 */
import { isRecord } from '../k8s/types.js';
import { DEFAULT_COMMIT_PATTERN } from '../policy/defaults.js';
import type { Parsed } from '../errors.js';
import { quoteText } from './reasons.js';
import type { ApprovalBindingClaim, ApprovalClaims } from './statement.js';

const COMMIT = new RegExp(`^${DEFAULT_COMMIT_PATTERN}$`);
const SHA256_HEX = /^[0-9a-f]{64}$/;
// C0, DEL, C1 controls and the line/paragraph separators: a claim with these would forge log lines or table rows.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** Longest claim value: names, ids and links are far shorter; a bound keeps stamps and records small. */
const MAX_CLAIM_CHARS = 1024;

type Fail = { ok: false; error: string };
const fail = (error: string): Fail => ({ ok: false, error });

/** A string claim: undefined when absent, else the value, or a failure naming the claim. */
function text(obj: Record<string, unknown>, key: string, where: string, required: boolean): Parsed<string | undefined> {
  const v = obj[key];
  if (v === undefined) return required ? fail(`approval has no ${where}${key} claim`) : { ok: true, value: undefined };
  if (typeof v !== 'string' || v === '') return fail(`approval claim ${where}${key} is not a non-empty string`);
  if (v.length > MAX_CLAIM_CHARS) return fail(`approval claim ${where}${key} is longer than ${MAX_CLAIM_CHARS} characters`);
  if (CONTROL.test(v)) return fail(`approval claim ${where}${key} contains control characters`);
  return { ok: true, value: v };
}

/** A NumericDate claim (RFC 7519 §2): a finite number of seconds. */
function time(obj: Record<string, unknown>, key: string, required: boolean): Parsed<number | undefined> {
  const v = obj[key];
  if (v === undefined) return required ? fail(`approval has no ${key} claim`) : { ok: true, value: undefined };
  return typeof v === 'number' && Number.isFinite(v) ? { ok: true, value: v } : fail(`approval claim ${key} is not a number of seconds`);
}

function audience(v: unknown): Parsed<string[]> {
  if (typeof v === 'string' && v !== '') return { ok: true, value: [v] };
  if (Array.isArray(v) && v.length > 0 && v.every((a) => typeof a === 'string' && a !== '')) return { ok: true, value: v as string[] };
  return fail(v === undefined ? 'approval has no aud claim' : 'approval claim aud is not a string or a list of strings');
}

function images(v: unknown): Parsed<string[] | undefined> {
  if (v === undefined) return { ok: true, value: undefined };
  if (!Array.isArray(v) || v.length === 0 || !v.every((i) => typeof i === 'string' && i.includes('=') && !CONTROL.test(i))) {
    return fail('approval claim tracegate.images is not a list of container=image');
  }
  return { ok: true, value: [...(v as string[])].sort() };
}

function link(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  try {
    const url = new URL(v);
    return url.protocol === 'https:' || url.protocol === 'http:' ? undefined : 'approval claim tracegate.testResults is not an http(s) URL';
  } catch {
    return 'approval claim tracegate.testResults is not a URL';
  }
}

function binding(v: unknown): Parsed<ApprovalBindingClaim> {
  if (!isRecord(v)) return fail(v === undefined ? 'approval has no tracegate claim' : 'approval claim tracegate is not an object');
  const out: Record<string, unknown> = {};
  for (const [key, required] of [['namespace', true], ['kind', true], ['name', true], ['template', false], ['commit', true], ['pipelineRun', false], ['testResults', false], ['cluster', false]] as const) {
    const r = text(v, key, 'tracegate.', required);
    if (!r.ok) return r;
    if (r.value !== undefined) out[key] = r.value;
  }
  const imgs = images(v.images);
  if (!imgs.ok) return imgs;
  if (imgs.value) out.images = imgs.value;
  if (out.template !== undefined && !SHA256_HEX.test(out.template as string)) return fail('approval claim tracegate.template is not a sha256 hex digest');
  if (out.template === undefined && out.images === undefined) return fail('approval binds neither a pod template nor images');
  if (!COMMIT.test(out.commit as string)) return fail(`approval commit ${quoteText(out.commit)} is not a commit (7-64 lowercase hex)`);
  const bad = link(out.testResults as string | undefined);
  return bad ? fail(bad) : { ok: true, value: out as unknown as ApprovalBindingClaim };
}

/** The claims of a verified approval payload, or a one-line reason naming the first bad claim. */
export function parseApprovalClaims(payload: unknown): Parsed<ApprovalClaims & { aud: string[] }> {
  if (!isRecord(payload)) return fail('approval payload is not a JSON object');
  const out: Record<string, unknown> = {};
  for (const key of ['iss', 'sub', 'jti']) {
    const r = text(payload, key, '', true);
    if (!r.ok) return r;
    out[key] = r.value;
  }
  const aud = audience(payload.aud);
  if (!aud.ok) return aud;
  out.aud = aud.value;
  for (const [key, required] of [['iat', true], ['exp', true], ['nbf', false]] as const) {
    const r = time(payload, key, required);
    if (!r.ok) return r;
    if (r.value !== undefined) out[key] = r.value;
  }
  const b = binding(payload.tracegate);
  if (!b.ok) return b;
  out.tracegate = b.value;
  return { ok: true, value: out as unknown as ApprovalClaims & { aud: string[] } };
}
