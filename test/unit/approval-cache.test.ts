/** The verification cache: bounded, keyed by token and binding, successes only, the clock checked on every hit. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { createApprovalVerifier, createCiTokenVerifier, createLruCache } from '../../src/approval/cache.js';
import { loadCiIssuers } from '../../src/approval/ci-issuers.js';
import { loadTrustedKeys, type TrustedKeys } from '../../src/approval/keys.js';
import { readSigningKey, signApproval } from '../../src/approval/sign.js';
import type { ApprovalExpectation } from '../../src/approval/statement.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
const vector = (name: string) => read(`vectors/${name}`).trim();
const AT = Date.parse('2026-12-01T09:30:00Z');
const expected: ApprovalExpectation = {
  tenant: 'team-a',
  namespace: 'team-a',
  kind: 'Deployment',
  name: 'web',
  template: '046c1c31876b8ff974c7bb2efa2765f0e85dee740f4835cd9def8da49894b741',
  images: [],
};

let keys: TrustedKeys;
before(async () => {
  keys = await loadTrustedKeys({ tenants: { 'team-a': JSON.parse(read('approval.jwks.json')) } });
});

describe('createLruCache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const c = createLruCache<number>(2);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1, 'a is now the most recently used');
    c.set('c', 3);
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), 1);
    assert.equal(c.get('c'), 3);
    assert.equal(c.size, 2);
    assert.throws(() => createLruCache(0), RangeError);
  });
});

describe('createApprovalVerifier', () => {
  it('verifies once, then answers from the cache with the same statement', async () => {
    const v = createApprovalVerifier({ keys });
    const first = await v.verify(vector('ed25519-template.jws'), expected, AT);
    const second = await v.verify(vector('ed25519-template.jws'), expected, AT + 1000);
    assert.ok(first.ok && second.ok);
    assert.equal(second.statement, first.statement);
    assert.deepEqual({ hits: v.stats.hits, misses: v.stats.misses, size: v.stats.size }, { hits: 1, misses: 1, size: 1 });
  });

  it('checks the clock on a hit: a cached approval still expires', async () => {
    const v = createApprovalVerifier({ keys });
    assert.ok((await v.verify(vector('ed25519-template.jws'), expected, AT)).ok);
    assert.deepEqual(await v.verify(vector('ed25519-template.jws'), expected, Date.parse('2026-12-01T10:05:00Z')), { ok: false, reason: 'approval expired at 2026-12-01T10:00:00Z' });
    assert.equal(v.stats.hits, 1);
  });

  it('keys the cache by the binding too: a verified approval replayed on another object is verified again and refused', async () => {
    const v = createApprovalVerifier({ keys });
    assert.ok((await v.verify(vector('ed25519-template.jws'), expected, AT)).ok);
    assert.deepEqual(await v.verify(vector('ed25519-template.jws'), { ...expected, namespace: 'team-b' }, AT), { ok: false, reason: 'approval is for namespace team-a, not team-b' });
    assert.equal(v.stats.misses, 2);
  });

  it('does not keep failures', async () => {
    const v = createApprovalVerifier({ keys });
    for (let i = 0; i < 2; i++) assert.equal((await v.verify(vector('wrong-key.jws'), expected, AT)).ok, false);
    assert.deepEqual({ hits: v.stats.hits, misses: v.stats.misses, size: v.stats.size }, { hits: 0, misses: 2, size: 0 });
  });

  it('stays within its capacity', async () => {
    const key = await readSigningKey(read('ed25519.pem'), 'ed25519.pem', 'ed-1');
    const v = createApprovalVerifier({ keys, capacity: 2 });
    const binding = { namespace: 'team-a', kind: 'Deployment', name: 'web', template: expected.template, commit: '3f2a9c1' };
    for (let i = 0; i < 3; i++) {
      const { jws } = await signApproval({ issuer: 'ci', approver: `approver-${i}`, binding, ttlSeconds: 3600, now: AT }, key);
      assert.ok((await v.verify(jws, expected, AT)).ok);
    }
    assert.equal(v.stats.size, 2);
  });
});

describe('createCiTokenVerifier', () => {
  it('caches verified CI tokens per tenant and re-checks their expiry', async () => {
    const issuers = await loadCiIssuers([{ issuer: 'https://token.actions.githubusercontent.com', audience: 'tracegate', jwks: JSON.parse(read('ci.jwks.json')), tenants: { 'team-a': ['org/team-a-*'] } }]);
    const v = createCiTokenVerifier({ issuers });
    const token = vector('ci-github-production.jwt');
    const at = Date.parse('2026-12-01T09:05:00Z');
    assert.ok((await v.verify(token, { tenant: 'team-a' }, at)).ok);
    assert.ok((await v.verify(token, { tenant: 'team-a' }, at)).ok);
    assert.equal(v.stats.hits, 1);
    assert.deepEqual(await v.verify(token, { tenant: 'team-a' }, Date.parse('2026-12-01T09:20:00Z')), { ok: false, reason: 'CI token expired at 2026-12-01T09:10:00Z' });
    assert.equal((await v.verify(token, { tenant: 'team-b' }, at)).ok, false);
  });
});
