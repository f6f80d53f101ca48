/**
 * Compact JWS verification in the order that keeps a forged token cheap and harmless: size and form,
 * the algorithm against an allow-list (`none`, HS* and anything unlisted refused before any key is
 * looked at), the type, the key by `kid`, the key's own algorithm, then the signature (jose) and only
 * then the payload. Every failure is one short line; the token and the key never appear in it.
 */
import { compactVerify, decodeProtectedHeader, errors, type CryptoKey, type ProtectedHeaderParameters } from 'jose';
import { quoteText } from './reasons.js';
import { MAX_TOKEN_CHARS } from './statement.js';

// Three base64url segments; the signature is empty only for `alg: none`, which the allow-list refuses.
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/;

/** A key the lookup found: what it verifies, and the name reasons use for it. */
export interface FoundKey {
  key: CryptoKey;
  alg: string;
  kid: string;
}

/** How one kind of token is verified. */
export interface JwsPolicy {
  /** Names the token in reasons: `approval`, `CI token`. */
  what: string;
  algs: readonly string[];
  /** The `typ` the header must carry (compared as RFC 7515 §4.1.9 says: case-insensitive, `application/` optional). */
  typ?: string;
  /** The verification key for this header, or the reason there is none. */
  key(header: ProtectedHeaderParameters): FoundKey | string;
}

/** A verified token: its header, its payload as parsed JSON, and the key that verified it. */
export type JwsResult = { ok: true; header: ProtectedHeaderParameters; payload: unknown; key: FoundKey } | { ok: false; reason: string };

function mediaType(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice('application/'.length) : t;
}

/** Header checks before any key or signature work: form, alg allow-list, typ. */
function checkHeader(token: unknown, policy: JwsPolicy): { header: ProtectedHeaderParameters } | string {
  if (typeof token !== 'string' || token === '') return `${policy.what} is empty`;
  if (token.length > MAX_TOKEN_CHARS) return `${policy.what} is longer than ${MAX_TOKEN_CHARS} characters`;
  if (!COMPACT.test(token)) return `${policy.what} is not a compact JWS (header.payload.signature in base64url)`;
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return `${policy.what} header is not base64url-encoded JSON`;
  }
  const alg = header.alg;
  if (typeof alg !== 'string') return `${policy.what} header has no alg`;
  if (!policy.algs.includes(alg)) return `alg ${quoteText(alg)} is not allowed`;
  if (policy.typ !== undefined) {
    if (typeof header.typ !== 'string') return `${policy.what} header has no typ (want ${policy.typ})`;
    if (mediaType(header.typ) !== mediaType(policy.typ)) return `${policy.what} has typ ${quoteText(header.typ)}, not ${policy.typ}`;
  }
  return { header };
}

/** Verifies `token` under `policy`. Pure except for the signature check (WebCrypto). */
export async function verifyCompactJws(token: unknown, policy: JwsPolicy): Promise<JwsResult> {
  const checked = checkHeader(token, policy);
  if (typeof checked === 'string') return { ok: false, reason: checked };
  const { header } = checked;
  const found = policy.key(header);
  if (typeof found === 'string') return { ok: false, reason: found };
  if (found.alg !== header.alg) return { ok: false, reason: `key ${quoteText(found.kid)} is an ${found.alg} key, not ${quoteText(header.alg)}` };
  let payload: Uint8Array;
  try {
    payload = (await compactVerify(token as string, found.key, { algorithms: [found.alg] })).payload;
  } catch (err) {
    if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'signature does not verify' };
    if (err instanceof errors.JOSENotSupported && /crit/i.test((err as Error).message)) return { ok: false, reason: `${policy.what} header has critical parameters that are not understood` };
    return { ok: false, reason: `${policy.what} is not a valid JWS` };
  }
  try {
    return { ok: true, header, payload: JSON.parse(Buffer.from(payload).toString('utf8')) as unknown, key: found };
  } catch {
    return { ok: false, reason: `${policy.what} payload is not JSON` };
  }
}
