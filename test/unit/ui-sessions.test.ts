import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAccess } from '../../src/ui/access.js';
import { createCachedReviewer, type Permission, type Reviewer, type UserIdentity } from '../../src/ui/reviews.js';
import { createSessionStore } from '../../src/ui/sessions.js';

const alice: UserIdentity = { username: 'alice', groups: ['team-a'] };

describe('session store', () => {
  it('gives unguessable distinct ids and forgets a session at its TTL', () => {
    let t = 0;
    const store = createSessionStore({ ttlMs: 1000, maxSessions: 10, recheckMs: 100, now: () => t });
    const a = store.create(alice, 'tok')!;
    const b = store.create(alice, 'tok')!;
    assert.notEqual(a.id, b.id);
    assert.match(a.id, /^[A-Za-z0-9_-]{43}$/);
    t = 999;
    assert.equal(store.get(a.id)?.user.username, 'alice');
    t = 1000;
    assert.equal(store.get(a.id), undefined);
    assert.equal(store.get(undefined), undefined);
    assert.equal(store.get('forged'), undefined);
  });

  it('holds at most maxPerUser sessions of one user, dropping that user\'s oldest', () => {
    let n = 0;
    const store = createSessionStore({ ttlMs: 1e9, maxSessions: 100, maxPerUser: 3, recheckMs: 1e9, now: () => 0, randomId: () => `s${n++}` });
    for (let i = 0; i < 1000; i++) store.create(alice, 'tok');
    assert.equal(store.size(), 3);
    assert.equal(store.get('s0'), undefined);
    assert.ok(store.get('s999'));
  });

  // Regression (security review: sessions): one tenant's ServiceAccount logging in 1,000 times used
  // to drop the oldest session of anyone — an auditor's — at the global cap.
  it('never drops another user\'s session: a looping login evicts only its own, a full store refuses', () => {
    const store = createSessionStore({ ttlMs: 8 * 3600e3, maxSessions: 1000, recheckMs: 300e3 });
    const auditor = store.create({ username: 'carol', groups: ['auditors'] }, 'carol-token')!;
    const bot = { username: 'system:serviceaccount:team-a:default', groups: [] };
    for (let i = 0; i < 1000; i++) assert.ok(store.create(bot, 'any-pod-token'));
    assert.ok(store.get(auditor.id), 'the auditor is still signed in');
    assert.equal(store.size(), 11, 'the auditor and the bot\'s 10 newest');

    const full = createSessionStore({ ttlMs: 1e9, maxSessions: 2, recheckMs: 1e9, now: () => 0 });
    const a = full.create(alice, 'tok')!;
    const b = full.create({ username: 'bob', groups: [] }, 'tok')!;
    assert.equal(full.create({ username: 'mallory', groups: [] }, 'tok'), undefined, 'refused, nobody dropped');
    assert.ok(full.get(a.id) && full.get(b.id));
    // A user at the global cap may still replace their own oldest session.
    const full2 = createSessionStore({ ttlMs: 1e9, maxSessions: 2, maxPerUser: 1, recheckMs: 1e9, now: () => 0 });
    const first = full2.create(alice, 'tok')!;
    full2.create({ username: 'bob', groups: [] }, 'tok');
    const again = full2.create(alice, 'tok');
    assert.ok(again && full2.get(again.id));
    assert.equal(full2.get(first.id), undefined);
    full2.delete(again.id);
    assert.equal(full2.size(), 1);
  });

  it('sweeps expired sessions on login, so idle ones do not accumulate', () => {
    let t = 0;
    const store = createSessionStore({ ttlMs: 10, maxSessions: 100, recheckMs: 5, now: () => t });
    for (let i = 0; i < 50; i++) store.create(alice, 'tok');
    t = 20;
    store.create(alice, 'tok');
    assert.equal(store.size(), 1);
  });

  it('asks for a re-check after recheckMs, and records it', () => {
    let t = 0;
    const store = createSessionStore({ ttlMs: 1000, maxSessions: 10, recheckMs: 100, now: () => t });
    const s = store.create(alice, 'tok')!;
    t = 99;
    assert.equal(store.needsRecheck(s), false);
    t = 100;
    assert.equal(store.needsRecheck(s), true);
    store.rechecked(s, { ...alice, groups: ['team-a', 'new'] });
    assert.equal(store.needsRecheck(s), false);
    assert.deepEqual(store.get(s.id)?.user.groups, ['team-a', 'new']);
  });
});

function countingReviewer(allow: (u: UserIdentity, p: Permission) => boolean) {
  const asked: string[] = [];
  const reviewer: Reviewer = {
    authenticate: async () => undefined,
    allowed: async (u, p) => (asked.push(`${u.username}:${p.verb}:${p.resource}:${p.namespace}`), allow(u, p)),
  };
  return { reviewer, asked };
}

describe('cached SubjectAccessReviews', () => {
  it('reuses an answer within the TTL, per user and groups, and asks again after', async () => {
    let t = 0;
    const { reviewer, asked } = countingReviewer(() => true);
    const cached = createCachedReviewer(reviewer, { ttlMs: 100, maxEntries: 10, now: () => t });
    const p: Permission = { verb: 'list', group: 'tracegate.io', resource: 'changetrails', namespace: 'team-a' };
    await cached.allowed(alice, p);
    await cached.allowed(alice, p);
    assert.equal(asked.length, 1);
    await cached.allowed({ ...alice, groups: ['team-a', 'auditors'] }, p);
    assert.equal(asked.length, 2, 'other groups are another subject');
    t = 100;
    await cached.allowed(alice, p);
    assert.equal(asked.length, 3);
  });

  it('holds at most maxEntries', async () => {
    const { reviewer, asked } = countingReviewer(() => false);
    const cached = createCachedReviewer(reviewer, { ttlMs: 1e9, maxEntries: 2, now: () => 0 });
    for (const ns of ['a', 'b', 'c', 'a']) await cached.allowed(alice, { verb: 'get', group: '', resource: 'secrets', namespace: ns });
    assert.deepEqual(asked.map((a) => a.split(':').at(-1)), ['a', 'b', 'c', 'a']);
  });

  it('does not confuse a username with a separator for another subject', async () => {
    const { reviewer } = countingReviewer((u) => u.username === 'a');
    const cached = createCachedReviewer(reviewer, { ttlMs: 1e9, maxEntries: 10, now: () => 0 });
    const p: Permission = { verb: 'list', group: 'tracegate.io', resource: 'changetrails', namespace: '' };
    assert.equal(await cached.allowed({ username: 'a', groups: ['b'] }, p), true);
    assert.equal(await cached.allowed({ username: 'a","b', groups: [] }, p), false);
  });
});

describe('access decisions', () => {
  it('settles a cluster-wide grant with one review, else asks per namespace', async () => {
    const wide = countingReviewer(() => true);
    assert.deepEqual(await createAccess(wide.reviewer).trailNamespaces(alice, ['team-b', 'team-b-2']), ['team-b', 'team-b-2']);
    assert.deepEqual(wide.asked, ['alice:list:changetrails:']);
    const narrow = countingReviewer((_u, p) => p.namespace === 'team-b-2');
    assert.deepEqual(await createAccess(narrow.reviewer).trailNamespaces(alice, ['team-b', 'team-b-2']), ['team-b-2']);
    assert.equal(narrow.asked.length, 3);
  });

  it('needs both trails and secrets for manifests', async () => {
    const onlyTrails = countingReviewer((_u, p) => p.resource === 'changetrails');
    assert.equal(await createAccess(onlyTrails.reviewer).canReadManifests(alice, 'team-a'), false);
    const onlySecrets = countingReviewer((_u, p) => p.resource === 'secrets');
    assert.equal(await createAccess(onlySecrets.reviewer).canReadManifests(alice, 'team-a'), false);
    const both = countingReviewer(() => true);
    assert.equal(await createAccess(both.reviewer).canReadManifests(alice, 'team-a'), true);
    assert.ok(both.asked.includes('alice:get:secrets:team-a'));
  });
});
