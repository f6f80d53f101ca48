/**
 * The mutating webhook's patch: annotation ops and their JSON pointers, and the encoded `patch` field,
 * which must be byte for byte the base64 of JSON.stringify of the ops.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodePatch, ensureAnnotationsOps, escapePointer, type PatchOp } from '../../src/admission/patch.js';

function decoded(patch: string): unknown {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
}

describe('escapePointer', () => {
  it('escapes each key as RFC 6901 asks', () => {
    assert.equal(escapePointer('tracegate.io/commit'), 'tracegate.io~1commit');
    assert.equal(escapePointer('a~b/c'), 'a~0b~1c');
    assert.equal(escapePointer('plain'), 'plain');
  });
});

describe('ensureAnnotationsOps', () => {
  const wanted = { 'tracegate.io/tenant': 'shop', 'tracegate.io/commit': 'abc', 'kubernetes.io/change-cause': 'x → y' };

  it('adds the whole map when there is none or it is empty', () => {
    for (const current of [undefined, null, {}, 'not a map', ['a']]) {
      assert.deepEqual(ensureAnnotationsOps('/metadata', current, wanted), [{ op: 'add', path: '/metadata/annotations', value: wanted }], JSON.stringify(current));
    }
    assert.deepEqual(ensureAnnotationsOps('/metadata', {}, {}), []);
  });

  it('adds only the keys whose value differs, in the order they are wanted, with or without a path memo', () => {
    const current = { 'tracegate.io/commit': 'abc', other: 'kept' };
    const expected: PatchOp[] = [
      { op: 'add', path: '/metadata/annotations/tracegate.io~1tenant', value: 'shop' },
      { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'x → y' },
    ];
    assert.deepEqual(ensureAnnotationsOps('/metadata', current, wanted), expected);
    assert.deepEqual(ensureAnnotationsOps('/metadata', { ...current, ...wanted }, wanted), []);
  });
});

describe('encodePatch', () => {
  it('is the base64 of JSON.stringify of the ops, whatever the values hold', () => {
    const ops: PatchOp[] = [
      { op: 'add', path: '/metadata/annotations/tracegate.io~1change-id', value: 'm8x2k1qz4f.5c1e9a7f3b2d8c4e' },
      { op: 'add', path: '/metadata/annotations/kubernetes.io~1change-cause', value: 'ci via helm: image web: a:1 → a:2 (commit "c0ffee")\n\t\\ \u0001 😀' },
      { op: 'add', path: '/metadata/annotations', value: { a: '1', 'b/c': 'é', n: 3 } },
      { op: 'add', path: '/spec/revisionHistoryLimit', value: 10 },
      { op: 'remove', path: '/metadata/annotations/old' },
      { op: 'replace', path: '/weird/"quoted"\\path', value: null },
      { op: 'test', path: '/list', value: [1, 'two', { three: true }] },
    ];
    assert.equal(encodePatch(ops), Buffer.from(JSON.stringify(ops)).toString('base64'));
    assert.deepEqual(decoded(encodePatch(ops)), JSON.parse(JSON.stringify(ops)));
    assert.equal(encodePatch([]), Buffer.from('[]').toString('base64'));
  });
});
