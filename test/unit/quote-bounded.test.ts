/**
 * Request values in answers and logs: never whole when large, never with raw control or invisible
 * characters, always with the original length when cut. And the decision line bounds every request
 * value it carries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Decision } from '../../src/admission/decision.js';
import { boundedDecision } from '../../src/log.js';
import { QUOTE_MAX_CHARS, boundText, quoteBounded } from '../../src/policy/digest.js';

describe('quoteBounded', () => {
  it('quotes short text as JSON does', () => {
    for (const s of ['', 'admission.k8s.io/v1beta1', 'a"b', 'back\\slash', 'grüße', '🚀']) assert.equal(quoteBounded(s), JSON.stringify(s));
  });

  it('cuts long text to the limit and gives the original length', () => {
    const huge = 'v'.repeat(6 * 1024 * 1024);
    assert.equal(quoteBounded(huge), `"${'v'.repeat(QUOTE_MAX_CHARS)}"…(6291456 characters)`);
    assert.equal(quoteBounded('abcdef', 3), '"abc"…(6 characters)');
  });

  it('never cuts a surrogate pair in half', () => {
    const text = `${'a'.repeat(9)}🚀🚀`;
    assert.equal(quoteBounded(text, 10), `"${'a'.repeat(9)}"…(13 characters)`);
    assert.equal(quoteBounded(text, 11), `"${'a'.repeat(9)}🚀"…(13 characters)`);
  });

  it('writes control and invisible characters as \\uXXXX', () => {
    assert.equal(quoteBounded('a\u0007b\nc'), '"a\\u0007b\\nc"');
    assert.equal(quoteBounded('x\u202ey\u2028z\u0085'), '"x\\u202ey\\u2028z\\u0085"');
  });

  it('describes containers instead of serialising them, and writes scalars as themselves', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(quoteBounded(deep), 'an array');
    assert.equal(quoteBounded({ a: 'x'.repeat(1e6) }), 'a JSON object');
    assert.equal(quoteBounded(null), 'null');
    assert.equal(quoteBounded(42), '42');
    assert.equal(quoteBounded(false), 'false');
    assert.equal(quoteBounded(undefined), 'undefined');
  });
});

describe('boundText', () => {
  it('returns ordinary text unchanged (the same string)', () => {
    const s = 'system:serviceaccount:ci:deployer';
    assert.equal(boundText(s), s);
    assert.equal(boundText('a"b\\c é'), 'a"b\\c é');
  });

  it('cuts, escapes and notes the length, without quotes', () => {
    assert.equal(boundText('ab\u0000cdef', 4), 'ab\\u0000c…(7 characters)');
    assert.equal(boundText('tab\there'), 'tab\\u0009here');
  });
});

describe('boundedDecision', () => {
  const decision: Decision = {
    webhook: 'validate',
    uid: 'e4a1c7b2-0d3f-4b8e-9c6a-5f2d1e7b3a94',
    kind: 'Deployment',
    namespace: 'shop',
    name: 'web',
    operation: 'UPDATE',
    user: 'alice@example.com',
    decision: 'allow',
    rules: [],
    policies: ['image-hygiene@1.1.0=sha256:00'],
    dryRun: false,
    changes: ['image web: registry.example.com/shop/web:1.4.2 → registry.example.com/shop/web:1.4.3'],
  };

  it('is the decision itself when every value is ordinary', () => {
    assert.equal(boundedDecision(decision), decision);
  });

  it('cuts huge values and long lists, leaving the rest as it was', () => {
    const big = { ...decision, uid: 'u'.repeat(3_000_000), user: 'evil\u001b[31m', changes: Array.from({ length: 500 }, (_, i) => `change ${i}`) };
    const out = boundedDecision(big);
    assert.notEqual(out, big);
    assert.match(out.uid, /^u{256}…\(3000000 characters\)$/);
    assert.equal(out.user, 'evil\\u001b[31m');
    assert.equal(out.changes!.length, 51);
    assert.equal(out.changes![50], '…(450 more)');
    assert.equal(out.name, 'web');
    assert.equal(big.uid.length, 3_000_000, 'the decision itself is not changed');
    assert.ok(JSON.stringify(out).length < 5_000);
  });
});
