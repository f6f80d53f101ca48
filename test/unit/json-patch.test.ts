import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { escapePointer } from '../../src/admission/patch.js';
import {
  applyJsonPatch,
  applyPatchAsApiserver,
  decodePatchKey,
  decodeResponsePatch,
  omitEmptyLikeApiserver,
} from '../support/json-patch.js';

const FIXTURES = new URL('../fixtures/admission/constructed/', import.meta.url);

/** Applies and expects success; returns the patched document. */
function ok(doc: unknown, patch: unknown[]): unknown {
  const r = applyJsonPatch(doc, patch);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

/** Applies and expects failure; returns the error text. */
function fails(doc: unknown, patch: unknown[]): string {
  const r = applyJsonPatch(doc, patch);
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r.ok ? r.value : null)}`);
  return r.ok ? '' : r.error;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

describe('json-patch v4: add', () => {
  it('adds a new object key', () => {
    assert.deepEqual(ok({ a: 1 }, [{ op: 'add', path: '/b', value: 2 }]), { a: 1, b: 2 });
  });

  it('replaces an existing key instead of failing (RFC 6902 add semantics)', () => {
    assert.deepEqual(ok({ a: { x: 1 } }, [{ op: 'add', path: '/a', value: { y: 2 } }]), { a: { y: 2 } });
  });

  it('a map-level add on an existing annotations map drops the other annotations', () => {
    const doc = { metadata: { annotations: { keep: 'me' } } };
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/metadata/annotations', value: { mine: 'v' } }]), { metadata: { annotations: { mine: 'v' } } });
  });

  it('fails with "doc is missing path" when the parent is absent', () => {
    const err = fails({ metadata: {} }, [{ op: 'add', path: '/metadata/annotations/foo', value: 'x' }]);
    assert.match(err, /^add operation does not apply: doc is missing path: "\/metadata\/annotations\/foo"/);
  });

  it('treats a null or scalar parent as missing', () => {
    assert.match(fails({ metadata: { annotations: null } }, [{ op: 'add', path: '/metadata/annotations/a', value: 'x' }]), /doc is missing path/);
    assert.match(fails({ metadata: 'text' }, [{ op: 'add', path: '/metadata/a', value: 'x' }]), /doc is missing path/);
  });

  it('never creates intermediate objects', () => {
    assert.match(fails({}, [{ op: 'add', path: '/a/b/c', value: 1 }]), /doc is missing path: "\/a\/b\/c"/);
  });

  it('inserts null when the value member is absent', () => {
    assert.deepEqual(ok({}, [{ op: 'add', path: '/a' }]), { a: null });
  });

  it('cannot add at the root path ""', () => {
    assert.match(fails({ a: 1 }, [{ op: 'add', path: '', value: { b: 2 } }]), /doc is missing path: ""/);
  });

  it('adds a key literally named __proto__ as data, not as a prototype', () => {
    const out = ok({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
    assert.ok(Object.hasOwn(out, '__proto__'));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('json-patch v4: arrays', () => {
  const doc = { a: [1, 2, 3] };

  it('inserts before the index and appends at len or "-"', () => {
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/a/0', value: 0 }]), { a: [0, 1, 2, 3] });
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/a/3', value: 4 }]), { a: [1, 2, 3, 4] });
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/a/-', value: 4 }]), { a: [1, 2, 3, 4] });
  });

  it('fails beyond len', () => {
    assert.match(fails(doc, [{ op: 'add', path: '/a/4', value: 9 }]), /error in add for path: '\/a\/4': Unable to access invalid index: 4/);
  });

  it('accepts negative indices counted from the end (non-standard)', () => {
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/a/-1', value: 9 }]), { a: [1, 2, 3, 9] });
    assert.deepEqual(ok(doc, [{ op: 'remove', path: '/a/-1' }]), { a: [1, 2] });
    assert.deepEqual(ok(doc, [{ op: 'replace', path: '/a/-3', value: 0 }]), { a: [0, 2, 3] });
    assert.match(fails(doc, [{ op: 'remove', path: '/a/-4' }]), /invalid index/);
  });

  it('parses indices like Go strconv.Atoi (leading zeros and sign allowed, words not)', () => {
    assert.deepEqual(ok(doc, [{ op: 'replace', path: '/a/01', value: 0 }]), { a: [1, 0, 3] });
    assert.deepEqual(ok(doc, [{ op: 'replace', path: '/a/+2', value: 0 }]), { a: [1, 2, 0] });
    assert.match(fails(doc, [{ op: 'add', path: '/a/x', value: 0 }]), /value was not a proper array index: 'x'/);
  });

  it('removes and replaces existing elements only', () => {
    assert.deepEqual(ok(doc, [{ op: 'remove', path: '/a/1' }]), { a: [1, 3] });
    assert.match(fails(doc, [{ op: 'remove', path: '/a/3' }]), /invalid index/);
    assert.match(fails(doc, [{ op: 'replace', path: '/a/3', value: 0 }]), /replace operation does not apply: doc is missing key: \/a\/3/);
  });

  it('walks through array elements to reach nested objects', () => {
    const pod = { spec: { containers: [{ name: 'web', image: 'a:1' }] } };
    assert.deepEqual(ok(pod, [{ op: 'replace', path: '/spec/containers/0/image', value: 'a:2' }]), { spec: { containers: [{ name: 'web', image: 'a:2' }] } });
    assert.match(fails(pod, [{ op: 'replace', path: '/spec/containers/1/image', value: 'a:2' }]), /doc is missing path/);
  });
});

describe('json-patch v4: remove, replace, test, move, copy', () => {
  it('remove of a missing key fails; remove of a null-valued key works', () => {
    assert.match(fails({ a: 1 }, [{ op: 'remove', path: '/b' }]), /error in remove for path: '\/b': Unable to remove nonexistent key: b/);
    assert.deepEqual(ok({ a: null, b: 1 }, [{ op: 'remove', path: '/a' }]), { b: 1 });
  });

  it('remove with a missing parent fails with "doc is missing path"', () => {
    assert.match(fails({}, [{ op: 'remove', path: '/metadata/annotations/x' }]), /^remove operation does not apply: doc is missing path/);
  });

  it('replace of a missing key in an existing object succeeds (lenient, non-RFC)', () => {
    assert.deepEqual(ok({ a: 1 }, [{ op: 'replace', path: '/b', value: 2 }]), { a: 1, b: 2 });
  });

  it('replace with a missing parent fails', () => {
    assert.match(fails({}, [{ op: 'replace', path: '/a/b', value: 2 }]), /^replace operation does not apply: doc is missing path: \/a\/b/);
  });

  it('replace at the root swaps the document; a scalar root value is silently ignored', () => {
    assert.deepEqual(ok({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 });
    assert.deepEqual(ok({ a: 1 }, [{ op: 'replace', path: '', value: 5 }]), { a: 1 });
  });

  it('test compares structurally and fails the whole patch on a mismatch', () => {
    assert.deepEqual(ok({ a: { x: [1, { y: 'z' }] } }, [{ op: 'test', path: '/a', value: { x: [1, { y: 'z' }] } }]), { a: { x: [1, { y: 'z' }] } });
    assert.match(fails({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }]), /testing value \/a failed/);
    assert.match(fails({ a: { x: 1 } }, [{ op: 'test', path: '/a', value: { x: 1, y: 2 } }]), /testing value \/a failed/);
    assert.match(fails({}, [{ op: 'test', path: '/a/b', value: 1 }]), /test operation does not apply: is missing path/);
  });

  it('test for null passes on a missing key', () => {
    assert.deepEqual(ok({ a: 1 }, [{ op: 'test', path: '/b', value: null }]), { a: 1 });
    assert.match(fails({ a: 1 }, [{ op: 'test', path: '/b', value: 1 }]), /testing value \/b failed/);
  });

  it('move and copy', () => {
    assert.deepEqual(ok({ a: { x: 1 }, b: {} }, [{ op: 'move', from: '/a/x', path: '/b/x' }]), { a: {}, b: { x: 1 } });
    assert.deepEqual(ok({ a: [1, 2, 3] }, [{ op: 'move', from: '/a/0', path: '/a/-' }]), { a: [2, 3, 1] });
    const copied = ok({ a: { x: [1] } }, [{ op: 'copy', from: '/a', path: '/b' }, { op: 'add', path: '/b/x/-', value: 2 }]);
    assert.deepEqual(copied, { a: { x: [1] }, b: { x: [1, 2] } }, 'copy is deep');
    assert.match(fails({ a: 1 }, [{ op: 'move', from: '/missing', path: '/b' }]), /Unable to remove nonexistent key/);
  });

  it('copy from a missing object key inserts null (library quirk)', () => {
    assert.deepEqual(ok({ a: 1 }, [{ op: 'copy', from: '/nope', path: '/b' }]), { a: 1, b: null });
  });

  it('rejects unknown ops, a missing path and non-string paths', () => {
    assert.match(fails({}, [{ op: 'merge', path: '/a', value: 1 }]), /^Unexpected kind: merge$/);
    assert.match(fails({}, [{ path: '/a', value: 1 }]), /^Unexpected kind: unknown$/);
    assert.match(fails({}, [{ op: 'add', value: 1 }]), /add operation failed to decode path/);
    assert.match(fails({}, [{ op: 'replace', path: 5, value: 1 }]), /replace operation failed to decode path: json: cannot unmarshal number/);
  });

  it('applies in order, stops at the first failure and never modifies the input', () => {
    const doc = { a: 1 };
    assert.match(fails(doc, [{ op: 'add', path: '/b', value: 2 }, { op: 'remove', path: '/zzz' }]), /nonexistent key/);
    assert.deepEqual(doc, { a: 1 });
    assert.deepEqual(ok(doc, [{ op: 'add', path: '/b', value: 2 }, { op: 'remove', path: '/a' }]), { b: 2 });
    assert.deepEqual(doc, { a: 1 });
  });

  it('rejects a patch that is not an array of objects, and documents that are not containers', () => {
    assert.equal(applyJsonPatch({}, { op: 'add' }).ok, false);
    assert.equal(applyJsonPatch({}, ['add']).ok, false);
    assert.equal(applyJsonPatch('text', []).ok, false);
    assert.deepEqual(applyJsonPatch({ a: 1 }, []), { ok: true, value: { a: 1 } });
  });
});

describe('json-patch v4: RFC 6901 pointer segments', () => {
  it('unescapes ~1 to / and ~0 to ~, in that order', () => {
    assert.equal(decodePatchKey('tracegate.io~1tenant'), 'tracegate.io/tenant');
    assert.equal(decodePatchKey('a~0b'), 'a~b');
    assert.equal(decodePatchKey('~01'), '~1', '~01 is an escaped ~ followed by 1, never a /');
    assert.equal(decodePatchKey('~2'), '~2', 'invalid escapes are kept');
  });

  it('round-trips the gate escaping of every key shape', () => {
    for (const key of ['tracegate.io/tenant', 'kubernetes.io/change-cause', 'a~b/c', '~1', '/~/', '']) {
      assert.equal(decodePatchKey(escapePointer(key)), key);
      const out = ok({ m: { other: 'x' } }, [{ op: 'add', path: `/m/${escapePointer(key)}`, value: 'v' }]);
      assert.deepEqual(out, { m: { other: 'x', [key]: 'v' } });
    }
  });

  it('an unescaped "/" in a key turns it into a nested path that is missing', () => {
    const err = fails({ metadata: { annotations: { a: 'b' } } }, [{ op: 'add', path: '/metadata/annotations/tracegate.io/tenant', value: 't' }]);
    assert.match(err, /doc is missing path: "\/metadata\/annotations\/tracegate.io\/tenant"/);
  });
});

describe('omitEmptyLikeApiserver (the apiserver re-encodes with Go omitempty before patching)', () => {
  it('drops empty maps, empty slices and nulls; keeps empty structs and containers', () => {
    const obj = {
      metadata: { name: 'web', annotations: {}, labels: {}, creationTimestamp: null },
      spec: {
        strategy: {},
        template: {
          metadata: { annotations: {}, labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', env: [], resources: {}, ports: [] }], volumes: [] },
        },
      },
      status: {},
    };
    assert.deepEqual(omitEmptyLikeApiserver(obj), {
      metadata: { name: 'web' },
      spec: { strategy: {}, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', resources: {} }] } } },
      status: {},
    });
    assert.deepEqual(omitEmptyLikeApiserver({ spec: { containers: [] } }), { spec: { containers: [] } });
    assert.deepEqual(obj.metadata.annotations, {}, 'input untouched');
  });

  it('a key-level add under `annotations: {}` fails after re-encoding, a map-level add works', () => {
    const obj = { metadata: { name: 'web', annotations: {} } };
    const keyLevel = applyPatchAsApiserver(obj, b64([{ op: 'add', path: '/metadata/annotations/a', value: 'b' }]));
    assert.equal(keyLevel.ok, false);
    assert.match(keyLevel.ok ? '' : keyLevel.error, /doc is missing path/);
    const mapLevel = applyPatchAsApiserver(obj, b64([{ op: 'add', path: '/metadata/annotations', value: { a: 'b' } }]));
    assert.deepEqual(mapLevel, { ok: true, value: { metadata: { name: 'web', annotations: { a: 'b' } } } });
  });
});

describe('decodeResponsePatch', () => {
  it('decodes base64 of a JSON array', () => {
    assert.deepEqual(decodeResponsePatch(b64([{ op: 'add', path: '/a', value: 1 }])), { ok: true, value: [{ op: 'add', path: '/a', value: 1 }] });
  });

  it('rejects double encoding, non-base64 and unpadded base64', () => {
    const once = b64([{ op: 'add', path: '/a', value: 1 }]);
    assert.match((decodeResponsePatch(b64(once)) as { error: string }).error, /not a JSON array/);
    assert.equal(decodeResponsePatch('[{"op":"add"}]').ok, false);
    const padded = b64([10]);
    assert.equal(padded, 'WzEwXQ==');
    assert.deepEqual(decodeResponsePatch(padded), { ok: true, value: [10] });
    assert.equal(decodeResponsePatch('WzEwXQ').ok, false, 'Go decodes base64 with padding');
    assert.equal(decodeResponsePatch(42).ok, false);
  });

  it('applies the constructed mutate response to its request object as documented', () => {
    const request = JSON.parse(readFileSync(new URL('11-update-kubectl-set-image.mutating.json', FIXTURES), 'utf8')) as { request: { object: { spec: { template: { metadata: Record<string, unknown> } } } } };
    const response = JSON.parse(readFileSync(new URL('22-response-mutate.json', FIXTURES), 'utf8')) as { response: { patch: string } };
    assert.equal(request.request.object.spec.template.metadata.annotations, undefined, 'fixture premise: template annotations absent');
    const out = applyPatchAsApiserver(request.request.object, response.response.patch);
    assert.ok(out.ok, out.ok ? '' : out.error);
    const patched = out.value as typeof request.request.object;
    assert.deepEqual(patched.spec.template.metadata.annotations, { 'example.com/injected-by': 'policy-webhook' });
  });
});
