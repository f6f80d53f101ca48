/** Keyed MACs over provenance, and the gate's deletion note read back by the recorder. */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { deletionEvent, readDeletionEvent } from '../../src/provenance/deletion-event.js';
import { createMacKeyring } from '../../src/provenance/mac.js';

const k1 = { id: 'k1', secret: randomBytes(32) };
const k2 = { id: 'k2', secret: randomBytes(32) };

describe('MAC keyring', () => {
  it('verifies what it signed, and nothing else', () => {
    const ring = createMacKeyring([k1]);
    const mac = ring.sign(['team-a', 'web', 'alice']);
    assert.match(mac, /^k1\.[A-Za-z0-9_-]{22}$/);
    assert.equal(ring.verify(['team-a', 'web', 'alice'], mac), true);
    assert.equal(ring.verify(['team-a', 'web', 'bob'], mac), false);
    assert.equal(ring.verify(['team-a', 'webalice', ''], mac), false, 'fields are length-prefixed: moving bytes between them changes the MAC');
    assert.equal(ring.verify(['team-a', 'web', 'alice'], `k2.${mac.slice(3)}`), false, 'unknown key id');
    assert.equal(ring.verify(['team-a', 'web', 'alice'], mac.slice(0, -2)), false, 'truncated');
    assert.equal(ring.verify(['team-a', 'web', 'alice'], undefined), false);
  });

  it('agrees with an independent HMAC-SHA-256 over the documented encoding', () => {
    const ring = createMacKeyring([k1]);
    const enc = Buffer.concat(['a', 'bc'].flatMap((f) => [Buffer.from([0, 0, 0, Buffer.byteLength(f)]), Buffer.from(f)]));
    const expected = createHmac('sha256', k1.secret).update(enc).digest().subarray(0, 16).toString('base64url');
    assert.equal(ring.sign(['a', 'bc']), `k1.${expected}`);
  });

  it('rotates with overlap: the new key signs, the old one still verifies', () => {
    const old = createMacKeyring([k1]).sign(['x']);
    const ring = createMacKeyring([k2, k1]);
    assert.equal(ring.verify(['x'], old), true);
    assert.match(ring.sign(['x']), /^k2\./);
    assert.equal(createMacKeyring([k2]).verify(['x'], old), false, 'once k1 is removed its MACs no longer verify');
  });

  it('refuses weak or malformed keys', () => {
    assert.throws(() => createMacKeyring([]), /at least one key/);
    assert.throws(() => createMacKeyring([{ id: 'k1', secret: randomBytes(16) }]), /at least 32/);
    assert.throws(() => createMacKeyring([{ id: 'K 1', secret: randomBytes(32) }]), /key id/);
  });
});

describe('deletion notes', () => {
  const note = { kind: 'Deployment', apiVersion: 'apps/v1', namespace: 'team-a', name: 'web', uid: 'u1', user: 'bob', requestUid: 'r1' };
  const prefix = 'tracegate.io/';
  const ring = createMacKeyring([k1]);
  const expect = { namespace: 'team-a', kind: 'Deployment', name: 'web', uid: 'u1' };

  it('round-trips the deleter with a MAC that checks', () => {
    const event = deletionEvent(note, { prefix, keyring: ring, now: new Date(0), instance: 'gate-0' });
    assert.equal((event.involvedObject as Record<string, unknown>).uid, 'u1');
    assert.deepEqual(readDeletionEvent(event, expect, { prefix, keyring: ring }), { user: 'bob', verified: true });
  });

  it('flags a note whose deleter was rewritten, or that was written without the key', () => {
    const event = deletionEvent(note, { prefix, keyring: ring, now: new Date(0), instance: 'gate-0' }) as { metadata: { annotations: Record<string, string> } };
    event.metadata.annotations[`${prefix}deleted-by`] = 'carol';
    assert.deepEqual(readDeletionEvent(event, expect, { prefix, keyring: ring }), { user: 'carol', verified: false });
    const forged = deletionEvent({ ...note, user: 'carol' }, { prefix, now: new Date(0), instance: 'x' });
    assert.deepEqual(readDeletionEvent(forged, expect, { prefix, keyring: ring }), { user: 'carol', verified: false });
  });

  it('ignores notes about another object', () => {
    const event = deletionEvent(note, { prefix, keyring: ring, now: new Date(0), instance: 'gate-0' });
    assert.equal(readDeletionEvent(event, { ...expect, uid: 'u2' }, { prefix, keyring: ring }), undefined);
    assert.equal(readDeletionEvent({ reason: 'Other' }, expect, { prefix, keyring: ring }), undefined);
  });
});
