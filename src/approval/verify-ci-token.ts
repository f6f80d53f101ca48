/**
 * Verifies a CI system's OIDC ID token offline as proof of commit and pipeline run: alg allow-list
 * (RS256 as GitHub and GitLab sign, ES256, EdDSA; `none` and HS* refused before any key), a configured
 * issuer, its key by kid, the signature, the audience, the validity window, the repository → tenant
 * mapping and the commit. A job in a protected environment (required reviewers) counts as the approval.
 */
import { decodeJwt } from 'jose';
import { ciIdentityOf } from './ci-claims.js';
import type { CiIdentity, CiStatement } from './statement.js';

export type { CiStatement } from './statement.js';
import type { CiIssuer, CiIssuers } from './ci-issuers.js';
import { verifyCompactJws, type FoundKey } from './jws.js';
import { quoteText, windowReason } from './reasons.js';
import type { VerifyResult } from './statement.js';
import { tokenDigest } from './verify-approval.js';

/** Algorithms of CI ID tokens: GitHub Actions and GitLab CI sign with RS256. */
export const CI_TOKEN_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;

/** git's default abbreviation: a shorter commit could name many. */
const MIN_COMMIT_CHARS = 7;

/** What the gate expects a CI token to prove. */
export interface CiExpectation {
  /** The tenant of the reviewed object: the token's repository must be mapped to it. */
  tenant: string;
  /** The commit the object names, when it names one: the token's sha must equal it (or start with it, 7+ characters). */
  commit?: string;
}


function unverifiedIssuer(token: string): unknown {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

function keyOf(issuer: CiIssuer, kid: unknown): FoundKey | string {
  if (kid === undefined) {
    if (issuer.keys.length === 1) return { key: issuer.keys[0]!.key, alg: issuer.keys[0]!.alg, kid: issuer.keys[0]!.kid };
    return `CI token has no kid and issuer ${issuer.issuer} has ${issuer.keys.length} keys`;
  }
  const key = issuer.keys.find((k) => k.kid === kid);
  return key ? { key: key.key, alg: key.alg, kid: key.kid } : `unknown key id ${quoteText(kid)} for CI issuer ${issuer.issuer}`;
}

function times(payload: unknown): { iat: number; exp: number; nbf?: number } | string {
  const p = payload as Record<string, unknown>;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!num(p.exp)) return 'CI token has no exp claim';
  if (!num(p.iat)) return 'CI token has no iat claim';
  if (p.nbf !== undefined && !num(p.nbf)) return 'CI token claim nbf is not a number of seconds';
  return { iat: p.iat as number, exp: p.exp as number, ...(p.nbf !== undefined ? { nbf: p.nbf as number } : {}) };
}

function audienceOk(aud: unknown, want: string): boolean {
  return aud === want || (Array.isArray(aud) && aud.includes(want));
}

/**
 * Everything that does not depend on the clock (signature, issuer, audience, claims, tenant, commit);
 * the verification cache keeps what this returns and re-checks only {@link ciTokenTimeReason}.
 */
export async function verifyCiTokenStatic(jwt: string, expected: CiExpectation, issuers: CiIssuers): Promise<VerifyResult<CiStatement>> {
  let issuer: CiIssuer | undefined;
  const verified = await verifyCompactJws(jwt, {
    what: 'CI token',
    algs: CI_TOKEN_ALGS,
    key: (header) => {
      const iss = unverifiedIssuer(jwt);
      if (typeof iss !== 'string') return 'CI token has no iss claim';
      issuer = issuers.get(iss);
      return issuer ? keyOf(issuer, header.kid) : `CI token issuer ${quoteText(iss)} is not trusted`;
    },
  });
  if (!verified.ok) return verified;
  const trusted = issuer!;
  const payload = verified.payload as Record<string, unknown>;
  if (payload === null || typeof payload !== 'object' || payload.iss !== trusted.issuer) return { ok: false, reason: 'CI token payload is not a JSON object with its issuer' };
  if (!audienceOk(payload.aud, trusted.audience)) return { ok: false, reason: `CI token is for audience ${quoteText(Array.isArray(payload.aud) ? payload.aud.join(',') : payload.aud)}, not ${trusted.audience}` };
  const window = times(payload);
  if (typeof window === 'string') return { ok: false, reason: window };
  const identity = ciIdentityOf(payload);
  if (!identity.ok) return { ok: false, reason: identity.error };
  const id = identity.value;
  if (!trusted.mayDeploy(id.repository, expected.tenant)) return { ok: false, reason: `repository ${quoteText(id.repository)} may not deploy to tenant ${quoteText(expected.tenant)}` };
  const commit = expected.commit?.toLowerCase();
  if (commit !== undefined && !(commit.length >= MIN_COMMIT_CHARS && id.commit.startsWith(commit))) {
    return { ok: false, reason: `CI token is for commit ${id.commit}, not ${quoteText(expected.commit)}` };
  }
  const statement: CiStatement = {
    identity: Object.freeze(id),
    tenant: expected.tenant,
    ...(trusted.isProtected(id.environment)
      ? { approval: Object.freeze({ environment: id.environment!, approver: `environment:${id.environment!}`, ...(id.actor !== undefined ? { actor: id.actor } : {}) }) }
      : {}),
    issuedAt: window.iat,
    expiresAt: window.exp,
    ...(window.nbf !== undefined ? { notBefore: window.nbf } : {}),
    digest: tokenDigest(jwt),
  };
  return { ok: true, statement: Object.freeze(statement) };
}

/** Undefined when the CI token is valid at `now` (milliseconds since the epoch), else the reason. */
export function ciTokenTimeReason(s: CiStatement, now: number): string | undefined {
  return windowReason('CI token', { iat: s.issuedAt, exp: s.expiresAt, nbf: s.notBefore }, Math.floor(now / 1000));
}

/**
 * Verifies `jwt` against the configured `issuers` for `expected`, at `now` (milliseconds since the
 * epoch). Returns the identity (and the approval when the environment is protected) or one short line:
 * `CI token issuer https://… is not trusted`, `CI token is for audience sigstore, not tracegate`,
 * `repository org/x may not deploy to tenant team-a`, `signature does not verify`.
 */
export async function verifyCiToken(jwt: string, expected: CiExpectation, issuers: CiIssuers, now: number): Promise<VerifyResult<CiStatement>> {
  const result = await verifyCiTokenStatic(jwt, expected, issuers);
  if (!result.ok) return result;
  const late = ciTokenTimeReason(result.statement, now);
  return late === undefined ? result : { ok: false, reason: late };
}
