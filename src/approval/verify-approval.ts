/**
 * Verifies a signed approval against the object under review: alg allow-list, the tenant's key by
 * kid, the signature, the claims, the lifetime, the audience and cluster, the binding (namespace,
 * kind, name, then the pod template digest — or, only without one, the image list) and last the
 * validity window. Pure except for the signature check; one-line reasons.
 */
import { createHash } from 'node:crypto';
import { parseApprovalClaims } from './claims.js';
import { verifyCompactJws, type FoundKey } from './jws.js';
import type { TrustedKeys } from './keys.js';
import { quoteText, windowReason } from './reasons.js';
import {
  APPROVAL_ALGS,
  APPROVAL_TYP,
  formatDuration,
  type ApprovalAlg,
  type ApprovalExpectation,
  type ApprovalStatement,
  type VerifyResult,
} from './statement.js';

/** `sha256:<hex>` of a token's text: names a statement in records without storing the token. */
export function tokenDigest(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

function lookup(keys: TrustedKeys, tenant: string) {
  return (header: { kid?: unknown }): FoundKey | string => {
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '') return 'approval header has no kid';
    const key = keys.find(tenant, kid);
    return key ? { key: key.key, alg: key.alg, kid } : `unknown key id ${quoteText(kid)} for tenant ${quoteText(tenant)}`;
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The binding checks: which object, which template (or images), which cluster. */
function bindingReason(s: ApprovalStatement, expected: ApprovalExpectation, keys: TrustedKeys): string | undefined {
  if (!s.audience.some((a) => keys.audiences.includes(a))) return `approval is for audience ${quoteText(s.audience.join(','))}, not ${keys.audiences.join(' or ')}`;
  if (s.cluster !== undefined && s.cluster !== keys.cluster) {
    return keys.cluster === undefined ? `approval is for cluster ${quoteText(s.cluster)}, and this gate has no cluster name` : `approval is for cluster ${quoteText(s.cluster)}, not ${keys.cluster}`;
  }
  if (s.namespace !== expected.namespace) return `approval is for namespace ${quoteText(s.namespace)}, not ${expected.namespace}`;
  if (s.kind !== expected.kind) return `approval is for a ${quoteText(s.kind)}, not a ${expected.kind}`;
  if (s.name !== expected.name) return `approval is for ${s.kind} ${quoteText(s.name)}, not ${expected.name}`;
  if (s.template !== undefined) return s.template === expected.template ? undefined : 'approval binds another pod template';
  return sameList(s.images ?? [], expected.images) ? undefined : 'approval binds other images';
}

/**
 * Everything that does not depend on the clock: signature, claims, lifetime, audience, binding. The
 * verification cache keeps what this returns and re-checks only the time (see {@link approvalTimeReason}).
 */
export async function verifyApprovalStatic(jws: string, expected: ApprovalExpectation, keys: TrustedKeys): Promise<VerifyResult<ApprovalStatement>> {
  const verified = await verifyCompactJws(jws, { what: 'approval', algs: APPROVAL_ALGS, typ: APPROVAL_TYP, key: lookup(keys, expected.tenant) });
  if (!verified.ok) return verified;
  const claims = parseApprovalClaims(verified.payload);
  if (!claims.ok) return { ok: false, reason: claims.error };
  const c = claims.value;
  if (c.exp <= c.iat) return { ok: false, reason: 'approval expires before it was issued' };
  if (c.exp - c.iat > keys.maxLifetimeSeconds) {
    return { ok: false, reason: `approval lives ${formatDuration(Math.ceil(c.exp - c.iat))}, longer than the maximum ${formatDuration(keys.maxLifetimeSeconds)}` };
  }
  const t = c.tracegate;
  const statement: ApprovalStatement = Object.freeze({
    kid: verified.key.kid,
    alg: verified.key.alg as ApprovalAlg,
    issuer: c.iss,
    approver: c.sub,
    audience: Object.freeze([...c.aud]),
    issuedAt: c.iat,
    expiresAt: c.exp,
    ...(c.nbf !== undefined ? { notBefore: c.nbf } : {}),
    id: c.jti,
    namespace: t.namespace,
    kind: t.kind,
    name: t.name,
    ...(t.template !== undefined ? { template: t.template } : {}),
    ...(t.images !== undefined ? { images: Object.freeze([...t.images]) } : {}),
    commit: t.commit,
    ...(t.pipelineRun !== undefined ? { pipelineRun: t.pipelineRun } : {}),
    ...(t.testResults !== undefined ? { testResults: t.testResults } : {}),
    ...(t.cluster !== undefined ? { cluster: t.cluster } : {}),
    digest: tokenDigest(jws),
  });
  const reason = bindingReason(statement, expected, keys);
  return reason === undefined ? { ok: true, statement } : { ok: false, reason };
}

/** Undefined when the statement is valid at `now` (milliseconds since the epoch), else the reason. */
export function approvalTimeReason(s: ApprovalStatement, now: number): string | undefined {
  return windowReason('approval', { iat: s.issuedAt, exp: s.expiresAt, nbf: s.notBefore }, Math.floor(now / 1000));
}

/**
 * Verifies an approval (a compact JWS) for the object `expected` describes, with the tenant's trusted
 * keys, at `now` (milliseconds since the epoch). Returns the verified statement, or one short line
 * naming the failed check: `approval expired at 2026-12-01T10:00:00Z`, `approval is for namespace
 * team-a, not team-b`, `approval binds another pod template`, `unknown key id k9 for tenant team-b`,
 * `alg HS256 is not allowed`, `signature does not verify`.
 */
export async function verifyApproval(jws: string, expected: ApprovalExpectation, keys: TrustedKeys, now: number): Promise<VerifyResult<ApprovalStatement>> {
  const result = await verifyApprovalStatic(jws, expected, keys);
  if (!result.ok) return result;
  const late = approvalTimeReason(result.statement, now);
  return late === undefined ? result : { ok: false, reason: late };
}
