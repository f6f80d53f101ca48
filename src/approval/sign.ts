/**
 * Making an approval: a private key read from PEM (Ed25519 or P-256; node:crypto parses it, jose
 * signs), the claims for one object, and the compact JWS. The key's text never reaches a message.
 */
import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, type JWK } from 'jose';
import { TracegateError } from '../errors.js';
import { APPROVAL_TYP, DEFAULT_APPROVAL_AUDIENCE, type ApprovalAlg, type ApprovalBindingClaim, type ApprovalClaims } from './statement.js';

/** A private key ready to sign approvals. */
export interface SigningKey {
  kid: string;
  alg: ApprovalAlg;
  key: KeyObject;
  /** The public half as a JWK with kid, alg and use: what goes into the gate's JWKS. */
  publicJwk: JWK;
}

function keyError(message: string): TracegateError {
  return new TracegateError('APPROVAL_SIGNING_KEY', message);
}

/**
 * Reads an unencrypted PEM private key (PKCS#8, or SEC1 for P-256) of type Ed25519 or ECDSA P-256.
 * `kid` defaults to the key's RFC 7638 thumbprint. `source` names the file in errors; nothing of the
 * key's text is ever shown.
 */
export async function readSigningKey(pem: string, source: string, kid?: string): Promise<SigningKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw keyError(`${source} is not an unencrypted PEM private key (PKCS#8: openssl genpkey -algorithm ed25519 -out approver.pem)`);
  }
  let alg: ApprovalAlg;
  if (key.asymmetricKeyType === 'ed25519') alg = 'EdDSA';
  else if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256';
  else throw keyError(`${source} holds a key of type ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}: approvals are signed with Ed25519 or ECDSA P-256`);
  const { kty, crv, x, y } = createPublicKey(key).export({ format: 'jwk' });
  const pub: JWK = { kty: kty!, crv: crv!, x: x!, ...(y !== undefined ? { y } : {}) };
  const id = kid ?? (await calculateJwkThumbprint(pub));
  return { kid: id, alg, key, publicJwk: Object.freeze({ ...pub, kid: id, alg, use: 'sig' }) };
}

/** What one approval says. */
export interface ApprovalRequest {
  /** Who issues it (the tool or the organisation). */
  issuer: string;
  approver: string;
  /** `tracegate` (default) or a cluster name. */
  audience?: string;
  binding: ApprovalBindingClaim;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  /** Milliseconds since the epoch. */
  now: number;
  /** The `jti` (default: a random UUID). */
  id?: string;
}

/** The claims of an approval request (times in whole seconds). */
export function approvalClaims(req: ApprovalRequest): ApprovalClaims {
  const iat = Math.floor(req.now / 1000);
  return {
    iss: req.issuer,
    sub: req.approver,
    aud: req.audience ?? DEFAULT_APPROVAL_AUDIENCE,
    iat,
    exp: iat + req.ttlSeconds,
    jti: req.id ?? randomUUID(),
    tracegate: req.binding,
  };
}

/** Signs an approval: the compact JWS, and the header and claims it carries. */
export async function signApproval(req: ApprovalRequest, key: SigningKey): Promise<{ jws: string; header: Record<string, string>; claims: ApprovalClaims }> {
  const claims = approvalClaims(req);
  const header = { alg: key.alg, kid: key.kid, typ: APPROVAL_TYP };
  const jws = await new SignJWT({ ...claims, tracegate: { ...claims.tracegate } }).setProtectedHeader(header).sign(key.key);
  return { jws, header, claims };
}
