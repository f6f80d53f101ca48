/**
 * Canonical JSON and the digests built on it. Stored change ids carry a template hash, so the text must
 * never change: every case is compared with the first definition (kept below as the reference) and the
 * hashes of a fixed template are pinned to the values earlier releases wrote.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { templateHash } from '../../src/admission/change-id.js';
import type { PodTemplate } from '../../src/k8s/types.js';
import { canonicalJson, quoteJson, sha256Digest } from '../../src/policy/digest.js';

/** The original canonical JSON: keys sorted at every level, written by one recursive walk. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => reference(v) ?? '').join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) if (obj[key] !== undefined) parts.push(`${JSON.stringify(key)}:${reference(obj[key])}`);
  return `{${parts.join(',')}}`;
}

/** canonicalJson, or the error it throws, as text. */
function outcome(fn: (v: unknown) => string, value: unknown): string {
  try {
    return String(fn(value));
  } catch (err) {
    return `throws ${(err as Error).message}`;
  }
}

function assertSame(value: unknown, label: string): void {
  assert.equal(outcome(canonicalJson, value), outcome(reference, value), label);
}

/** An object with exactly these own keys in this order (`__proto__` too, as JSON.parse makes it). */
function ordered(entries: Array<[string, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

/** A template with the shapes real ones have: kubectl's creationTimestamp, env, a Secret ref, quantities as numbers. */
const TEMPLATE: PodTemplate = {
  metadata: { creationTimestamp: null, labels: { app: 'web', tier: 'front' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z', 'prometheus.io/scrape': 'true' } },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'registry.example.com/shop/web:1.4.2',
        env: [{ name: 'A', value: 'x' }, { name: 'MOTTO', value: 'grüße "quoted" \\ \t' }, { name: 'S', valueFrom: { secretKeyRef: { name: 'web-secrets', key: 'password' } } }],
        resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: 1, memory: '512Mi' } },
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
      },
      { image: 'registry.example.com/shop/envoy:1.31.2', name: 'envoy', args: ['--config', '/etc/envoy.yaml'] },
    ],
    volumes: [{ name: 'tmp', emptyDir: {} }],
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
  },
};

describe('canonicalJson', () => {
  it('sorts keys at every level, whatever order they arrive in', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: { c: 2 } }), '{"a":1,"b":{"c":2}}');
  });

  it('sorts small and large maps alike, whichever order their keys come in', () => {
    for (const size of [2, 3, 31, 32, 33, 200]) {
      const names = Array.from({ length: size }, (_, i) => `k${(i * 7919) % 1000}`.padEnd(6, String.fromCharCode(97 + (i % 26))));
      for (const order of [names, [...names].reverse(), [...names].sort(), [...names].sort().reverse()]) {
        assertSame(ordered(order.map((k, i) => [k, i % 3 ? { b: i, a: [k] } : k])), `${size} keys`);
      }
    }
  });

  it('writes a real template exactly as the first definition did', () => {
    assertSame(TEMPLATE, 'template');
    assertSame(JSON.parse(JSON.stringify(TEMPLATE)), 'template after a JSON round trip');
    assertSame({ ...TEMPLATE, metadata: { annotations: TEMPLATE.metadata?.annotations, labels: TEMPLATE.metadata?.labels } }, 'sorted metadata');
  });

  it('agrees with the first definition on values that are not plain JSON', () => {
    class Box {
      b = 1;
      a = 2;
    }
    const fn = () => 1;
    const odd: unknown[] = [
      undefined, null, 0, -0, NaN, Infinity, '', 'x', 'é"\\\u0001\ud800', true, fn, Symbol('s'), new Date(0), new Box(),
      [1, , 3], [undefined], { a: undefined, b: fn }, { toJSON: () => 5 }, Object.create(null) as unknown,
      { 10: 1, 9: 2, b: 1, a: 2 }, { '': 1, ' ': 2 }, ordered([['__proto__', { b: 1, a: 2 }], ['a', 1]]), 10n, { n: 10n },
      [new Map([[1, 2]])], new String('ab'), { a: [fn, undefined, Symbol('t')] },
    ];
    for (const [i, v] of odd.entries()) {
      for (const wrapped of [v, [v], { k: v }, { b: 1, a: v }, { a: 1, b: v }, [1, { a: v }]]) assertSame(wrapped, `case ${i}`);
    }
  });

  it('agrees with the first definition on generated documents, sorted and not', () => {
    // A fixed linear congruential sequence: the same documents on every run.
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const keys = ['a', 'b', 'B', 'é', '10', '2', '__proto__', 'name', 'value', 'x y', ''];
    const leaves: unknown[] = [null, 1, -2.5, 'text', 'ü\n"', true, false, undefined];
    const gen = (depth: number): unknown => {
      const t = next();
      if (depth > 4 || t < 0.3) return leaves[Math.floor(next() * leaves.length)];
      if (t < 0.55) return Array.from({ length: Math.floor(next() * 4) }, () => gen(depth + 1));
      const entries: Array<[string, unknown]> = [];
      for (let i = Math.floor(next() * 5); i > 0; i--) {
        const k = keys[Math.floor(next() * keys.length)]!;
        if (!entries.some(([e]) => e === k)) entries.push([k, gen(depth + 1)]);
      }
      // Half the objects arrive with their keys in order: those are written without a sort.
      if (next() < 0.5) entries.sort(([x], [y]) => (x < y ? -1 : 1));
      return ordered(entries);
    };
    for (let i = 0; i < 3000; i++) {
      const doc = gen(0);
      assertSame(doc, `document ${i}`);
      const text = JSON.stringify(doc);
      if (text !== undefined) assertSame(JSON.parse(text), `document ${i} parsed`);
    }
  });
});

describe('quoteJson', () => {
  it('writes what JSON.stringify writes for any text', () => {
    for (const s of ['', 'plain', 'tracegate.io/commit', 'a"b', 'a\\b', 'tab\there', 'line\nbreak', '\u0000', 'é', '→', '\ud83d\ude00', '\ud800', '~/']) {
      assert.equal(quoteJson(s), JSON.stringify(s), JSON.stringify(s));
    }
  });
});

describe('digests stay what stored change ids carry', () => {
  it('templateHash of a fixed template', () => {
    assert.equal(templateHash(TEMPLATE), 'a23dbff05707d9e9');
    assert.equal(templateHash(undefined), '74234e98afe7498f');
    assert.equal(templateHash({ spec: { containers: [] } }), 'f00de3f067f25bf7');
  });

  it('templateHash ignores restartedAt and creationTimestamp only', () => {
    const bare: PodTemplate = { ...TEMPLATE, metadata: { labels: TEMPLATE.metadata?.labels, annotations: { 'prometheus.io/scrape': 'true' } } };
    assert.equal(templateHash(bare), templateHash(TEMPLATE));
    assert.notEqual(templateHash({ ...bare, metadata: { ...bare.metadata, labels: { app: 'web' } } }), templateHash(TEMPLATE));
  });

  it('sha256Digest of a fixed document', () => {
    assert.equal(sha256Digest({ b: [1, 'two', null, true, { d: 4, c: 3 }], a: 'é' }), 'sha256:2c000c866b3aee654edc12c3b25450c27c1c1f8df5040612386f24b08e4c070b');
  });
});

describe('canonicalJson on deep and cyclic input', () => {
  it('writes JSON nested 50,000 levels without overflowing the stack, as JSON.parse read it', () => {
    const depth = 50_000;
    const text = `${'{"b":['.repeat(depth)}1${']}'.repeat(depth)}`;
    assert.equal(canonicalJson(JSON.parse(text)), text);
  });

  it('sorts keys at every level of a deep document', () => {
    let doc: unknown = { z: 1, a: 2 };
    let expected = '{"a":2,"z":1}';
    for (let i = 0; i < 10_000; i++) {
      doc = { y: doc, x: i };
      expected = `{"x":${i},"y":${expected}}`;
    }
    assert.equal(canonicalJson(doc), expected);
  });

  it('a cyclic structure throws a RangeError instead of running forever', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), RangeError);
    assert.throws(() => sha256Digest([cyclic]), RangeError);
  });
});
