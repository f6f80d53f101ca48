/**
 * The digest file of an export, and its signature: sha256 of the export's exact bytes with what the
 * export covers (tenant, period, row count, when made), signed as a compact JWS (Ed25519 or P-256,
 * with approval signing's key handling) so an auditor holding only the public keys can tell the export
 * was not edited. The JWS travels beside the export, not inside it. The bare digest is tamper-evident
 * only together with a signature: whoever can edit the export can edit an unsigned digest too.
 */
import { SignJWT } from 'jose';
import { verifyCompactJws } from '../approval/jws.js';
import type { PublicKey } from '../approval/jwks.js';
import { quoteText } from '../approval/reasons.js';
import type { SigningKey } from '../approval/sign.js';
import { isRecord } from '../k8s/types.js';
import { exportDigest } from './export.js';

/** The JWS `typ` of an export signature: an approval or CI token is never accepted as one. */
export const EXPORT_TYP = 'tracegate-export+jws';

/** What a signature says about an export. */
export interface ExportClaims {
  /** `sha256:<hex>` of the export's bytes. */
  sha256: string;
  format: 'csv' | 'json';
  tenant: string | null;
  namespaces?: string[];
  since: string | null;
  until: string | null;
  generatedAt: string;
  /** Number of rows. */
  rows: number;
  truncated: boolean;
}

/** The digest file: the claims, and the signature over them when a key signed. */
export interface DigestFile extends ExportClaims {
  kid?: string;
  jws?: string;
}

/** Signs the claims (compact JWS, claims as the payload). */
export async function signExport(claims: ExportClaims, key: SigningKey): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: EXPORT_TYP }).sign(key.key);
}

/** The digest file's text (JSON, a final newline). */
export function renderDigestFile(claims: ExportClaims, signed?: { kid: string; jws: string }): string {
  return `${JSON.stringify({ ...claims, ...(signed ? { kid: signed.kid, jws: signed.jws } : {}) }, null, 2)}\n`;
}

/** The outcome of checking an export against its digest file. */
export type ExportCheck = { ok: true; claims: ExportClaims; signedBy?: string } | { ok: false; reason: string };

const CLAIM_KEYS = ['sha256', 'format', 'tenant', 'namespaces', 'since', 'until', 'generatedAt', 'rows', 'truncated'] as const;

const SHA256 = /^sha256:[0-9a-f]{64}$/;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
/** A tenant is a label value (apimachinery validation), a namespace a DNS-1123 label. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** More namespaces than any cluster has a tenant span: a longer list is no export's claim. */
const MAX_NAMESPACES = 10_000;

const isTime = (v: unknown): boolean => typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));

/**
 * Undefined when `c` has the shape {@link ExportClaims} gives, else which claim does not: a digest
 * file is input, and what `report verify` prints of it must be what an export could have said — no
 * line breaks or terminal escapes in a time, no words in a row count.
 */
export function claimsProblem(c: Record<string, unknown>): string | undefined {
  if (typeof c.sha256 !== 'string' || !SHA256.test(c.sha256)) return 'sha256 is not sha256:<64 hex digits>';
  if (c.format !== 'csv' && c.format !== 'json') return 'format is not csv or json';
  if (c.tenant !== null && (typeof c.tenant !== 'string' || !LABEL_VALUE.test(c.tenant))) return 'tenant is not null or a label value';
  if (c.namespaces !== undefined && (!Array.isArray(c.namespaces) || c.namespaces.length > MAX_NAMESPACES || !c.namespaces.every((n) => typeof n === 'string' && NAMESPACE.test(n)))) return 'namespaces is not a list of namespace names';
  for (const k of ['since', 'until'] as const) if (c[k] !== null && !isTime(c[k])) return `${k} is not null or an RFC 3339 time`;
  if (!isTime(c.generatedAt)) return 'generatedAt is not an RFC 3339 time';
  if (!Number.isSafeInteger(c.rows) || (c.rows as number) < 0) return 'rows is not a whole number';
  if (typeof c.truncated !== 'boolean') return 'truncated is not true or false';
  return undefined;
}

function sameClaims(a: Record<string, unknown>, b: Record<string, unknown>): string | undefined {
  for (const k of CLAIM_KEYS) if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return k;
  return undefined;
}

/**
 * Checks `bytes` against a digest file: the sha256 always; with `keys`, also a signature by one of
 * them whose claims are the digest file's (so neither the digest nor the period shown can be edited).
 * Without keys only the digest is checked, which proves nothing against someone who could edit both.
 */
export async function verifyExport(bytes: Uint8Array | string, digestFile: unknown, keys?: readonly PublicKey[]): Promise<ExportCheck> {
  if (!isRecord(digestFile) || typeof digestFile.sha256 !== 'string') return { ok: false, reason: 'the digest file has no sha256' };
  const actual = exportDigest(bytes);
  if (digestFile.sha256 !== actual) return { ok: false, reason: `the export's digest is ${actual}, the digest file says ${quoteText(digestFile.sha256)}: the export was changed` };
  const claims = Object.fromEntries(CLAIM_KEYS.filter((k) => digestFile[k] !== undefined).map((k) => [k, digestFile[k]])) as unknown as ExportClaims;
  const problem = claimsProblem(claims as unknown as Record<string, unknown>);
  if (problem !== undefined) return { ok: false, reason: `the digest file's ${problem}` };
  if (keys === undefined) return { ok: true, claims };
  if (digestFile.jws === undefined) return { ok: false, reason: 'the digest file is not signed (no jws)' };
  const byKid = new Map(keys.filter((k) => k.type !== 'RSA').map((k) => [k.kid, k]));
  const result = await verifyCompactJws(digestFile.jws, {
    what: 'export signature',
    algs: ['EdDSA', 'ES256'],
    typ: EXPORT_TYP,
    key(header) {
      const k = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined;
      return k ? { key: k.key, alg: k.alg, kid: k.kid } : `no trusted key has kid ${quoteText(header.kid)}`;
    },
  });
  if (!result.ok) return { ok: false, reason: result.reason };
  if (!isRecord(result.payload)) return { ok: false, reason: 'the signed payload is not an object' };
  const differs = sameClaims(result.payload, digestFile);
  if (differs !== undefined) return { ok: false, reason: `the digest file's ${differs} differs from what was signed` };
  return { ok: true, claims: { ...(result.payload as unknown as ExportClaims) }, signedBy: result.key.kid };
}
