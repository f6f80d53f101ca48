/**
 * Public keys from a JWKS (RFC 7517), checked member by member before jose imports them: only the key
 * types a caller allows, public halves only (a private or symmetric key in a trust file is a load
 * error: it would mean the file leaks a signing secret), a `kid` on every key, `alg`/`use`/`key_ops`
 * consistent with verification.
 */
import { importJWK, type CryptoKey, type JWK } from 'jose';
import { isRecord } from '../k8s/types.js';
import { quoteText } from './reasons.js';

/** Key types and the one JWS algorithm each is used with here. */
export const KEY_ALGS = { Ed25519: 'EdDSA', 'P-256': 'ES256', RSA: 'RS256' } as const;
export type KeyType = keyof typeof KEY_ALGS;
export type KeyAlg = (typeof KEY_ALGS)[KeyType];

/** One imported public key. */
export interface PublicKey {
  kid: string;
  type: KeyType;
  alg: KeyAlg;
  key: CryptoKey;
}

// JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Field elements of Ed25519 and P-256 are 32 bytes.
const COORD_BYTES = 32;
// NIST SP 800-131A: RSA below 2048 bits is disallowed for signatures (jose refuses such keys too).
const MIN_RSA_BITS = 2048;
/** A trust file with more keys than this is a mistake (rotation needs two or three per issuer). */
const MAX_KEYS = 100;

function bytes(v: unknown): number | undefined {
  return typeof v === 'string' && BASE64URL.test(v) ? Buffer.from(v, 'base64url').length : undefined;
}

/** The key type of a JWK and the minimal JWK jose should import, or a reason. */
function publicPart(jwk: Record<string, unknown>, name: string): { type: KeyType; jwk: JWK } | string {
  const { kty, crv } = jwk;
  if (kty === 'OKP' && crv === 'Ed25519') {
    return bytes(jwk.x) === COORD_BYTES ? { type: 'Ed25519', jwk: { kty, crv, x: jwk.x as string } } : `${name} has no valid x (32 bytes, base64url)`;
  }
  if (kty === 'EC' && crv === 'P-256') {
    return bytes(jwk.x) === COORD_BYTES && bytes(jwk.y) === COORD_BYTES ? { type: 'P-256', jwk: { kty, crv, x: jwk.x as string, y: jwk.y as string } } : `${name} has no valid x and y (32 bytes each, base64url)`;
  }
  if (kty === 'RSA') {
    const n = jwk.n;
    const size = bytes(n);
    if (size === undefined || bytes(jwk.e) === undefined) return `${name} has no valid n and e (base64url)`;
    const bits = size * 8 - Math.clz32(Buffer.from(n as string, 'base64url')[0] ?? 0) + 24;
    if (bits < MIN_RSA_BITS) return `${name} is a ${bits}-bit RSA key: at least ${MIN_RSA_BITS} bits are required`;
    return { type: 'RSA', jwk: { kty, n: n as string, e: jwk.e as string } };
  }
  return `${name} has kty ${quoteText(kty)}${crv === undefined ? '' : ` crv ${quoteText(crv)}`}, which is not a key type allowed here`;
}

/** Checks one JWK's members; a reason when it cannot be a public verification key of an allowed type. */
function checkKey(jwk: unknown, index: number, allowed: readonly KeyType[], seen: Set<string>): { kid: string; type: KeyType; jwk: JWK } | string {
  if (!isRecord(jwk)) return `key ${index} is not an object`;
  const kid = jwk.kid;
  if (typeof kid !== 'string' || kid === '') return `key ${index} has no kid`;
  const name = `key ${quoteText(kid)}`;
  if (seen.has(kid)) return `${name} appears twice`;
  seen.add(kid);
  const secret = PRIVATE_MEMBERS.find((m) => jwk[m] !== undefined);
  if (secret !== undefined) return `${name} carries private key material (${secret}): a trust file holds public keys only`;
  const part = publicPart(jwk, name);
  if (typeof part === 'string') return part;
  if (!allowed.includes(part.type)) return `${name} has key type ${part.type}, which is not allowed here (allowed: ${allowed.join(', ')})`;
  const alg = KEY_ALGS[part.type];
  if (jwk.alg !== undefined && jwk.alg !== alg) return `${name} says alg ${quoteText(jwk.alg)}, but ${part.type} keys verify ${alg} here`;
  if (jwk.use !== undefined && jwk.use !== 'sig') return `${name} has use ${quoteText(jwk.use)}, not sig`;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return `${name} has key_ops without verify`;
  return { kid, type: part.type, jwk: part.jwk };
}

/**
 * The public keys of a JWKS document, imported for verification; `where` names the file or tenant in
 * the error. Throws an Error with a one-line message (naming the key, never its material) when any key
 * is unusable: a trust file is all or nothing.
 */
export async function importPublicJwks(doc: unknown, allowed: readonly KeyType[], where: string): Promise<PublicKey[]> {
  if (!isRecord(doc) || !Array.isArray(doc.keys)) throw new Error(`${where}: not a JWKS (a JSON object with a "keys" list)`);
  if (doc.keys.length === 0) throw new Error(`${where}: the JWKS has no keys`);
  if (doc.keys.length > MAX_KEYS) throw new Error(`${where}: the JWKS has ${doc.keys.length} keys, more than ${MAX_KEYS}`);
  const seen = new Set<string>();
  const checked = doc.keys.map((k, i) => checkKey(k, i, allowed, seen));
  const bad = checked.find((c): c is string => typeof c === 'string');
  if (bad !== undefined) throw new Error(`${where}: ${bad}`);
  const out: PublicKey[] = [];
  for (const c of checked as Exclude<(typeof checked)[number], string>[]) {
    const alg = KEY_ALGS[c.type];
    try {
      const key = await importJWK(c.jwk, alg);
      if (!('type' in key) || key.type !== 'public') throw new Error('not a public key');
      out.push(Object.freeze({ kid: c.kid, type: c.type, alg, key }));
    } catch {
      throw new Error(`${where}: key ${quoteText(c.kid)} is not a valid ${c.type} public key`);
    }
  }
  return out;
}
