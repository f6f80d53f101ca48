/**
 * The signed approval statement: its JOSE header, its JWT claims and the verified form the gate stamps
 * and records. Shapes and constants only; the checks live in claims.ts and verify-approval.ts.
 */

/** `typ` of an approval: a JWT of this type only, so no other JWT (a CI ID token, a login) passes as one. */
export const APPROVAL_TYP = 'tracegate-approval+jwt';

/** Signature algorithms of approvals: Ed25519 and ECDSA P-256 (RSA, HMAC and `none` are refused). */
export const APPROVAL_ALGS = ['EdDSA', 'ES256'] as const;
export type ApprovalAlg = (typeof APPROVAL_ALGS)[number];

/** The audience an approval names when it is for any tracegate (a cluster name narrows it to one). */
export const DEFAULT_APPROVAL_AUDIENCE = 'tracegate';

/** An approval may live a week unless configured otherwise: long enough for a release train, short enough to expire. */
export const DEFAULT_MAX_LIFETIME_SECONDS = 7 * 24 * 3600;

/** Clocks of signer and gate may disagree by this much (seconds), as for any JWT (RFC 7519 §4.1.4 "leeway"). */
export const CLOCK_SKEW_SECONDS = 60;

/**
 * Longest token accepted, in characters: an approval is well under 2 KB and a CI ID token about 2 KB;
 * anything far bigger is refused before it is decoded.
 */
export const MAX_TOKEN_CHARS = 16 * 1024;

/** The annotation (after the prefix) that carries an approval on a workload. */
export const APPROVAL_ANNOTATION_NAME = 'approval';

/** The annotation (after the prefix) that carries a CI system's OIDC ID token on a workload. */
export const CI_TOKEN_ANNOTATION_NAME = 'ci-token';

/** The private `tracegate` claim: what the approval binds. */
export interface ApprovalBindingClaim {
  namespace: string;
  kind: string;
  name: string;
  /** sha256 hex of the canonical pod template ({@link approvalTemplateDigest}). */
  template?: string;
  /** Sorted `container=image` list, used only when there is no `template`. */
  images?: string[];
  commit: string;
  pipelineRun?: string;
  /** A link to the test results of the pipeline run. */
  testResults?: string;
  cluster?: string;
}

/** The JWT claims of an approval. Times are seconds since the epoch, as in every JWT. */
export interface ApprovalClaims {
  /** Who issued it: the approver's tool or organisation, free text. */
  iss: string;
  /** The approver. */
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  nbf?: number;
  /** Random id of this approval. */
  jti: string;
  tracegate: ApprovalBindingClaim;
}

/** What the gate expects an approval to bind: the reviewed object and its tenant. */
export interface ApprovalExpectation {
  /** The tenant whose keys (and the `*` keys) may have signed it. */
  tenant: string;
  namespace: string;
  kind: string;
  name: string;
  /** {@link approvalTemplateDigest} of the object. */
  template: string;
  /** {@link approvalImages} of the object. */
  images: readonly string[];
}

/** A verified approval, as the gate stamps and records it. Times in seconds since the epoch. */
export interface ApprovalStatement {
  kid: string;
  alg: ApprovalAlg;
  issuer: string;
  approver: string;
  audience: readonly string[];
  issuedAt: number;
  expiresAt: number;
  notBefore?: number;
  id: string;
  namespace: string;
  kind: string;
  name: string;
  template?: string;
  images?: readonly string[];
  commit: string;
  pipelineRun?: string;
  testResults?: string;
  cluster?: string;
  /** `sha256:<hex>` of the token text: what the recorder can store to name the exact statement. */
  digest: string;
}

/** The outcome of a verification: the statement, or one short line naming the failed check. */
export type VerifyResult<T> = { ok: true; statement: T } | { ok: false; reason: string };

/** An instant as approvals are shown in reasons: RFC 3339 in UTC to the second (`2026-12-01T10:00:00Z`). */
export function formatInstant(seconds: number): string {
  const ms = seconds * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return String(seconds);
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** A duration as reasons show it: `7d`, `36h`, `90m`, `45s` (the largest unit that divides it). */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** `24h`, `7d`, `90m`, `30s` → seconds; undefined when it is not such a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,6})(s|m|h|d)$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Who a CI OIDC ID token says ran the job (GitHub Actions or GitLab CI claims, normalised). */
export interface CiIdentity {
  provider: 'github-actions' | 'gitlab-ci';
  issuer: string;
  /** `org/repo` (GitHub) or `group/subgroup/project` (GitLab). */
  repository: string;
  commit: string;
  ref: string;
  /** The run (GitHub `run_id`) or pipeline (GitLab `pipeline_id`) id. */
  run: string;
  workflow?: string;
  environment?: string;
  actor?: string;
  subject: string;
}

/** A verified CI token. Times in seconds since the epoch. */
export interface CiStatement {
  identity: CiIdentity;
  tenant: string;
  /** Set when the job ran in a protected environment: the approval gate passed there. */
  approval?: { environment: string; approver: string; actor?: string };
  issuedAt: number;
  expiresAt: number;
  notBefore?: number;
  digest: string;
}
