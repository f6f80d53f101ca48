/**
 * Signed approvals verified against known-answer vectors that openssl made (test/fixtures/approval,
 * make-vectors.sh): the good ones verify, each forged, tampered, expired or replayed one is refused
 * with the one-line reason naming the failed check.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadTrustedKeys, type TrustedKeys } from '../../src/approval/keys.js';
import type { ApprovalExpectation } from '../../src/approval/statement.js';
import { approvalExpectationOf } from '../../src/approval/template-digest.js';
import { verifyApproval } from '../../src/approval/verify-approval.js';
import type { KubeObject } from '../../src/k8s/types.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const vector = (name: string) => read(`vectors/${name}`).trim();
const jwks = JSON.parse(read('approval.jwks.json')) as unknown;
const object = parse(read('deployment.yaml')) as KubeObject;

// The vectors' window: issued 2026-12-01T09:00:00Z, expiring 10:00:00Z.
const AT = Date.parse('2026-12-01T09:30:00Z');
const TEMPLATE = '046c1c31876b8ff974c7bb2efa2765f0e85dee740f4835cd9def8da49894b741';

let keys: TrustedKeys;
let expected: ApprovalExpectation;
before(async () => {
  keys = await loadTrustedKeys({ tenants: { 'team-a': jwks } });
  expected = approvalExpectationOf(object, 'team-a');
});

async function reason(token: string, exp: ApprovalExpectation = expected, now = AT, trust = keys): Promise<string> {
  const r = await verifyApproval(token, exp, trust, now);
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { reason: string }).reason;
}

describe('verifyApproval: openssl-made approvals', () => {
  it('verifies an Ed25519 approval that binds the pod template, and returns the statement', async () => {
    const r = await verifyApproval(vector('ed25519-template.jws'), expected, keys, AT);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.statement.kid, 'ed-1');
    assert.equal(r.statement.alg, 'EdDSA');
    assert.equal(r.statement.approver, 'bob');
    assert.equal(r.statement.issuer, 'openssl-vectors');
    assert.equal(r.statement.commit, '3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e9f0a1b');
    assert.equal(r.statement.pipelineRun, 'gh-7421');
    assert.equal(r.statement.testResults, 'https://ci.example.com/runs/7421/tests');
    assert.equal(r.statement.template, TEMPLATE);
    assert.equal(r.statement.expiresAt, Date.parse('2026-12-01T10:00:00Z') / 1000);
    assert.match(r.statement.digest, /^sha256:[0-9a-f]{64}$/);
    assert.ok(Object.isFrozen(r.statement));
  });

  it('verifies an ES256 approval (r||s converted from openssl DER) that binds the images', async () => {
    const r = await verifyApproval(vector('es256-images.jws'), expected, keys, AT);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.statement.alg, 'ES256');
    assert.equal(r.statement.template, undefined);
    assert.deepEqual(r.statement.images, expected.images);
  });

  it('accepts the clock skew of 60 s at both ends of the window', async () => {
    assert.ok((await verifyApproval(vector('ed25519-template.jws'), expected, keys, Date.parse('2026-12-01T10:00:59Z'))).ok);
    assert.ok((await verifyApproval(vector('ed25519-template.jws'), expected, keys, Date.parse('2026-12-01T08:59:00Z'))).ok);
  });
});

describe('verifyApproval: forged and tampered approvals', () => {
  it('refuses a signature by another key under a trusted kid', async () => {
    assert.equal(await reason(vector('wrong-key.jws')), 'signature does not verify');
  });
  it('refuses alg none before any key is looked at', async () => {
    assert.equal(await reason(vector('alg-none.jws')), 'alg none is not allowed');
  });
  it('refuses HS256 with the public key as the HMAC secret', async () => {
    assert.equal(await reason(vector('hs256-public-key.jws')), 'alg HS256 is not allowed');
  });
  it('refuses RS256 for approvals, though it is a valid RSA signature', async () => {
    assert.equal(await reason(vector('rs256.jws')), 'alg RS256 is not allowed');
  });
  it('refuses a tampered payload and a tampered header', async () => {
    assert.equal(await reason(vector('tampered-payload.jws')), 'signature does not verify');
    assert.equal(await reason(vector('tampered-header.jws')), 'signature does not verify');
  });
  it('refuses another JWT type (a CI ID token or a login token is not an approval)', async () => {
    assert.equal(await reason(vector('typ-jwt.jws')), 'approval has typ JWT, not tracegate-approval+jwt');
  });
  it('refuses an unknown kid, and a key of another tenant', async () => {
    assert.equal(await reason(vector('unknown-kid.jws')), 'unknown key id k9 for tenant team-a');
    assert.equal(await reason(vector('ed25519-template.jws'), { ...expected, tenant: 'team-b' }), 'unknown key id ed-1 for tenant team-b');
  });
  it('refuses a key whose algorithm is not the header\'s', async () => {
    const [h, p, s] = vector('ed25519-template.jws').split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'ed-1', typ: 'tracegate-approval+jwt' })).toString('base64url');
    assert.ok(h);
    assert.equal(await reason(`${header}.${p}.${s}`), 'key ed-1 is an EdDSA key, not ES256');
  });
  it('refuses what is not a compact JWS, in one line that never repeats the token', async () => {
    for (const [token, want] of [
      ['', 'approval is empty'],
      ['abc', 'approval is not a compact JWS (header.payload.signature in base64url)'],
      ['a.b.c.d', 'approval is not a compact JWS (header.payload.signature in base64url)'],
      ['!!!.b.c', 'approval is not a compact JWS (header.payload.signature in base64url)'],
      [`${Buffer.from('not json').toString('base64url')}.e30.sig`, 'approval header is not base64url-encoded JSON'],
      [`${'a'.repeat(17_000)}.b.c`, 'approval is longer than 16384 characters'],
    ] as const) {
      assert.equal(await reason(token), want);
    }
  });
  it('shows a hostile kid bounded and with its control characters escaped', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: `k\n${'x'.repeat(500)}`, typ: 'tracegate-approval+jwt' })).toString('base64url');
    const r = await reason(`${header}.e30.c2ln`);
    assert.doesNotMatch(r, /\n/);
    assert.ok(r.length < 200, r);
    assert.match(r, /^unknown key id k\\u000axxx/);
  });
});

describe('verifyApproval: time', () => {
  it('refuses an expired approval, naming when it expired', async () => {
    assert.equal(await reason(vector('ed25519-template.jws'), expected, Date.parse('2026-12-01T10:01:00Z')), 'approval expired at 2026-12-01T10:00:00Z');
  });
  it('refuses an approval before its nbf, and one issued in the future', async () => {
    assert.equal(await reason(vector('not-yet-valid.jws')), 'approval is not valid before 2026-12-01T09:45:00Z');
    assert.equal(await reason(vector('ed25519-template.jws'), expected, Date.parse('2026-12-01T08:58:59Z')), 'approval was issued in the future (2026-12-01T09:00:00Z)');
  });
  it('refuses a lifetime longer than the maximum (7 days by default, configurable)', async () => {
    assert.equal(await reason(vector('too-long.jws')), 'approval lives 8d, longer than the maximum 7d');
    const short = await loadTrustedKeys({ tenants: { 'team-a': jwks }, maxLifetimeSeconds: 1800 });
    assert.equal(await reason(vector('ed25519-template.jws'), expected, AT, short), 'approval lives 1h, longer than the maximum 30m');
    const long = await loadTrustedKeys({ tenants: { 'team-a': jwks }, maxLifetimeSeconds: 9 * 86400 });
    assert.ok((await verifyApproval(vector('too-long.jws'), expected, long, AT)).ok);
  });
});

describe('verifyApproval: replay on another object', () => {
  const replay = async (change: Partial<ApprovalExpectation>, token = vector('ed25519-template.jws')) => reason(token, { ...expected, ...change });
  it('refuses another namespace, kind and name', async () => {
    assert.equal(await replay({ namespace: 'team-b' }), 'approval is for namespace team-a, not team-b');
    assert.equal(await replay({ kind: 'StatefulSet' }), 'approval is for a Deployment, not a StatefulSet');
    assert.equal(await replay({ name: 'api' }), 'approval is for Deployment web, not api');
  });
  it('refuses another pod template, even with the same images', async () => {
    assert.equal(await replay({ template: 'f'.repeat(64) }), 'approval binds another pod template');
  });
  it('refuses other images when the approval binds images', async () => {
    assert.equal(await replay({ images: [...expected.images.slice(1), 'migrate=registry.example.com/team-a/web:6.6.6'] }, vector('es256-images.jws')), 'approval binds other images');
    const r = await verifyApproval(vector('es256-images.jws'), { ...expected, template: 'f'.repeat(64) }, keys, AT);
    assert.ok(r.ok, 'an images approval does not bind the rest of the template');
  });
  it('refuses another audience and another cluster', async () => {
    const other = await loadTrustedKeys({ tenants: { 'team-a': jwks }, audiences: ['prod-eu-1'] });
    assert.equal(await reason(vector('ed25519-template.jws'), expected, AT, other), 'approval is for audience tracegate, not prod-eu-1');
  });
});
