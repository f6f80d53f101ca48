/**
 * Approvals tracegate signs, checked by independent implementations (the openssl binary and
 * node:crypto), then by tracegate; signing keys read without ever showing their text; claims refused
 * one by one after the signature verified.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { loadTrustedKeys, type TrustedKeys } from '../../src/approval/keys.js';
import { readSigningKey, signApproval, type ApprovalRequest, type SigningKey } from '../../src/approval/sign.js';
import type { ApprovalExpectation } from '../../src/approval/statement.js';
import { verifyApproval } from '../../src/approval/verify-approval.js';
import { isTracegateError } from '../../src/errors.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const pem = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const jwks = JSON.parse(pem('approval.jwks.json')) as unknown;
const tmp = mkdtempSync(join(tmpdir(), 'tg-approval-'));

const NOW = Date.parse('2026-12-01T09:00:00Z');
const expected: ApprovalExpectation = { tenant: 'team-a', namespace: 'team-a', kind: 'Deployment', name: 'web', template: 'a'.repeat(64), images: ['web=web:1'] };
const request: ApprovalRequest = {
  issuer: 'ci.example.com',
  approver: 'bob',
  binding: { namespace: 'team-a', kind: 'Deployment', name: 'web', template: 'a'.repeat(64), commit: '3f2a9c1', pipelineRun: '42' },
  ttlSeconds: 3600,
  now: NOW,
};

let ed: SigningKey;
let ec: SigningKey;
let keys: TrustedKeys;
before(async () => {
  ed = await readSigningKey(pem('ed25519.pem'), 'ed25519.pem', 'ed-1');
  ec = await readSigningKey(pem('p256.pem'), 'p256.pem', 'ec-1');
  keys = await loadTrustedKeys({ tenants: { 'team-a': jwks } });
});

function parts(jws: string): { input: Buffer; signature: Buffer; header: Record<string, unknown>; payload: Record<string, any> } {
  const [h, p, s] = jws.split('.') as [string, string, string];
  return { input: Buffer.from(`${h}.${p}`), signature: Buffer.from(s, 'base64url'), header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) };
}

/** DER `SEQUENCE { INTEGER r, INTEGER s }` from JWS's r||s, for openssl (RFC 7518 §3.4 in reverse). */
function derSignature(raw: Buffer): Buffer {
  const int = (b: Buffer) => {
    let v = b;
    while (v.length > 1 && v[0] === 0 && v[1]! < 0x80) v = v.subarray(1);
    if (v[0]! >= 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(raw.subarray(0, 32)), int(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('signApproval, checked by openssl and node:crypto', () => {
  it('signs Ed25519 approvals that openssl pkeyutl and node:crypto verify', async () => {
    const { jws } = await signApproval(request, ed);
    const { input, signature, header, payload } = parts(jws);
    assert.deepEqual(header, { alg: 'EdDSA', kid: 'ed-1', typ: 'tracegate-approval+jwt' });
    assert.equal(payload.sub, 'bob');
    assert.equal(payload.exp - payload.iat, 3600);
    assert.match(payload.jti, /^[0-9a-f-]{36}$/);
    assert.ok(cryptoVerify(null, input, createPublicKey(createPrivateKey(pem('ed25519.pem'))), signature));
    writeFileSync(join(tmp, 'ed.in'), input);
    writeFileSync(join(tmp, 'ed.sig'), signature);
    const out = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', new URL('ed25519.pub.pem', dir).pathname, '-rawin', '-in', join(tmp, 'ed.in'), '-sigfile', join(tmp, 'ed.sig')]);
    assert.match(out, /Signature Verified Successfully/);
  });

  it('signs ES256 approvals (r||s) that openssl dgst (DER) and node:crypto (P1363) verify', async () => {
    const { jws } = await signApproval(request, ec);
    const { input, signature } = parts(jws);
    assert.equal(signature.length, 64);
    const pub = createPublicKey(createPrivateKey(pem('p256.pem')));
    assert.ok(cryptoVerify('sha256', input, { key: pub, dsaEncoding: 'ieee-p1363' }, signature));
    writeFileSync(join(tmp, 'ec.pub.pem'), pub.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(tmp, 'ec.in'), input);
    writeFileSync(join(tmp, 'ec.der'), derSignature(signature));
    assert.match(openssl(['dgst', '-sha256', '-verify', join(tmp, 'ec.pub.pem'), '-signature', join(tmp, 'ec.der'), join(tmp, 'ec.in')]), /Verified OK/);
  });

  it('verifies its own approvals with tracegate, cluster-bound ones only on that cluster', async () => {
    assert.ok((await verifyApproval((await signApproval(request, ed)).jws, expected, keys, NOW + 60_000)).ok);
    const bound = (await signApproval({ ...request, audience: 'prod-eu-1', binding: { ...request.binding, cluster: 'prod-eu-1' } }, ec)).jws;
    const eu = await loadTrustedKeys({ tenants: { 'team-a': jwks }, cluster: 'prod-eu-1' });
    const us = await loadTrustedKeys({ tenants: { 'team-a': jwks }, cluster: 'prod-us-1', audiences: ['prod-eu-1'] });
    assert.ok((await verifyApproval(bound, expected, eu, NOW)).ok);
    assert.deepEqual(await verifyApproval(bound, expected, us, NOW), { ok: false, reason: 'approval is for cluster prod-eu-1, not prod-us-1' });
    const anyCluster = await loadTrustedKeys({ tenants: { 'team-a': jwks }, audiences: ['prod-eu-1'] });
    assert.deepEqual(await verifyApproval(bound, expected, anyCluster, NOW), { ok: false, reason: 'approval is for cluster prod-eu-1, and this gate has no cluster name' });
  });
});

describe('readSigningKey', () => {
  const keyError = async (text: string) => {
    try {
      await readSigningKey(text, 'approver.pem');
    } catch (err) {
      assert.ok(isTracegateError(err, 'APPROVAL_SIGNING_KEY'));
      return err.message;
    }
    assert.fail('expected APPROVAL_SIGNING_KEY');
  };

  it('names the key by its RFC 7638 thumbprint unless given a kid, and gives its public JWK', async () => {
    const k = await readSigningKey(pem('ed25519.pem'), 'ed25519.pem');
    assert.match(k.kid, /^[A-Za-z0-9_-]{43}$/);
    const listed = (jwks as { keys: Record<string, unknown>[] }).keys[0]!;
    assert.deepEqual(k.publicJwk, { kty: 'OKP', crv: 'Ed25519', x: listed.x, kid: k.kid, alg: 'EdDSA', use: 'sig' });
  });

  it('refuses other key types and what is not a key, never quoting the file', async () => {
    const rsa = pem('rsa-ci.pem');
    const message = await keyError(rsa);
    assert.equal(message, 'approver.pem holds a key of type rsa: approvals are signed with Ed25519 or ECDSA P-256');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    assert.match(await keyError(p384), /type ec \(secp384r1\)/);
    const encrypted = createPrivateKey(pem('ed25519.pem')).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }) as string;
    for (const text of [encrypted, pem('ed25519.pub.pem'), 'not a key']) {
      const m = await keyError(text);
      assert.match(m, /^approver\.pem is not an unencrypted PEM private key/);
      assert.ok(!m.includes('BEGIN') && !m.includes(text.length > 40 ? text.slice(-40, -20) : text), m);
    }
  });
});

describe('verifyApproval: claims, after the signature', () => {
  const signed = (payload: Record<string, unknown>) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1', typ: 'tracegate-approval+jwt' }).sign(createPrivateKey(pem('ed25519.pem')));
  const base = { iss: 'ci', sub: 'bob', aud: 'tracegate', iat: NOW / 1000, exp: NOW / 1000 + 600, jti: 'j1', tracegate: { ...request.binding } };
  const refusal = async (payload: Record<string, unknown>) => {
    const r = await verifyApproval(await signed(payload), expected, keys, NOW);
    assert.equal(r.ok, false, JSON.stringify(payload));
    return (r as { reason: string }).reason;
  };
  const withBinding = (b: Record<string, unknown>) => ({ ...base, tracegate: { ...base.tracegate, ...b } });

  it('accepts the base payload (the cases below change one claim each)', async () => {
    assert.ok((await verifyApproval(await signed(base), expected, keys, NOW)).ok);
  });

  it('requires exp, iat, jti, sub, aud and the tracegate claim', async () => {
    for (const key of ['exp', 'iat', 'jti', 'sub', 'aud', 'tracegate']) {
      const { [key]: _dropped, ...rest } = base as Record<string, unknown>;
      assert.equal(await refusal(rest), `approval has no ${key} claim`);
    }
    assert.equal(await refusal({ ...base, exp: '2026-12-01' }), 'approval claim exp is not a number of seconds');
    assert.equal(await refusal({ ...base, exp: base.iat }), 'approval expires before it was issued');
  });

  it('requires a commit as the provenance rule accepts it, and a binding', async () => {
    const { commit: _c, ...noCommit } = base.tracegate;
    assert.equal(await refusal({ ...base, tracegate: noCommit }), 'approval has no tracegate.commit claim');
    assert.equal(await refusal(withBinding({ commit: 'HEAD' })), 'approval commit HEAD is not a commit (7-64 lowercase hex)');
    const { template: _t, ...unbound } = base.tracegate;
    assert.equal(await refusal({ ...base, tracegate: unbound }), 'approval binds neither a pod template nor images');
    assert.equal(await refusal(withBinding({ template: 'abc' })), 'approval claim tracegate.template is not a sha256 hex digest');
  });

  it('refuses control characters (forged log lines) and a test-results link that is not http(s)', async () => {
    assert.equal(await refusal({ ...base, sub: 'bob\napproved: alice' }), 'approval claim sub contains control characters');
    assert.equal(await refusal(withBinding({ testResults: 'javascript:alert(1)' })), 'approval claim tracegate.testResults is not an http(s) URL');
    assert.equal(await refusal(withBinding({ pipelineRun: 42 })), 'approval claim tracegate.pipelineRun is not a non-empty string');
  });
});
