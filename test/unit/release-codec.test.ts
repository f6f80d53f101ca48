/**
 * The Helm release codec against the format Helm 3 and 4 write (reference/helm-release-storage.md §1–§2):
 * round trips, Helm's key order, both gzip headers, uncompressed records, the double base64 of the JSON
 * wire, labels, the 1 MiB cap and label-value sanitising.
 */
import assert from 'node:assert/strict';
import { isTracegateError } from '../../src/errors.js';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  decodeRelease,
  encodeRelease,
  fromSecret,
  isValidLabelKey,
  isValidLabelValue,
  MAX_SECRET_DATA_BYTES,
  releaseSecretName,
  ReleaseTooLargeError,
  toLabelValue,
  toSecret,
} from '../../src/recorder/codec.js';
import { deployedOf, isPending, latest, type HelmRelease } from '../../src/recorder/release.js';

/** §2.5: a Helm-4.1.4-written revision 3 after `helm rollback web 1`, decoded. */
function sample(): HelmRelease {
  return {
    name: 'web',
    info: {
      first_deployed: '2025-11-20T10:00:00.123456789Z',
      last_deployed: '2026-11-21T23:12:11.731189466Z',
      description: 'Rollback to 1',
      status: 'deployed',
      notes: 'Thanks for installing web.',
    },
    chart: {
      metadata: { name: 'web', version: '0.1.0', description: 'demo chart', apiVersion: 'v2', appVersion: '1.25', type: 'application' },
      lock: null,
      templates: [
        {
          name: 'templates/deployment.yaml',
          data: 'YXBpVmVyc2lvbjogYXBwcy92MQpraW5kOiBEZXBsb3ltZW50Cm1ldGFkYXRhOgogIG5hbWU6IHt7IC5SZWxlYXNlLk5hbWUgfX0KICBsYWJlbHM6CiAgICBhcHA6IHt7IC5SZWxlYXNlLk5hbWUgfX0Kc3BlYzoKICByZXBsaWNhczoge3sgLlZhbHVlcy5yZXBsaWNhQ291bnQgfX0KICBzZWxlY3RvcjoKICAgIG1hdGNoTGFiZWxzOgogICAgICBhcHA6IHt7IC5SZWxlYXNlLk5hbWUgfX0KICB0ZW1wbGF0ZToKICAgIG1ldGFkYXRhOgogICAgICBsYWJlbHM6CiAgICAgICAgYXBwOiB7eyAuUmVsZWFzZS5OYW1lIH19CiAgICBzcGVjOgogICAgICBjb250YWluZXJzOgogICAgICAgIC0gbmFtZTogd2ViCiAgICAgICAgICBpbWFnZTogInt7IC5WYWx1ZXMuaW1hZ2UucmVwb3NpdG9yeSB9fTp7eyAuVmFsdWVzLmltYWdlLnRhZyB9fSIKICAgICAgICAgIHBvcnRzOgogICAgICAgICAgICAtIGNvbnRhaW5lclBvcnQ6IDgwCg==',
        },
      ],
      values: { image: { repository: 'nginx', tag: '1.25' }, replicaCount: 1 },
      schema: null,
      schemamodtime: '0001-01-01T00:00:00Z',
      files: [],
    },
    manifest:
      '---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n        - name: web\n          image: "nginx:1.25"\n          ports:\n            - containerPort: 80\n',
    version: 3,
    namespace: 'demo',
    apply_method: 'csa',
  };
}

/** The JSON inside S, as text. */
function jsonOf(s: string): string {
  return gunzipSync(Buffer.from(s, 'base64')).toString('utf8');
}

function decoded(s: string): HelmRelease {
  const r = decodeRelease(s);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.value;
}

describe('encodeRelease / decodeRelease', () => {
  it('round-trips the Helm 4 sample exactly', () => {
    assert.deepEqual(decoded(encodeRelease(sample())), sample());
  });

  it('keeps keys it does not know, at every level, and a Helm 3 record with deleted ""', () => {
    const rel = { ...sample(), future_field: { a: [1, 2] } } as HelmRelease;
    rel.info = { ...rel.info, deleted: '', rollback_revision: 1 };
    rel.chart = { ...rel.chart, somethingNew: true };
    assert.deepEqual(decoded(encodeRelease(rel)), rel);
  });

  it('writes keys in Helm order, unknown keys last, whatever order they come in', () => {
    const s = sample();
    const shuffled = {
      extra: 1,
      apply_method: s.apply_method,
      version: s.version,
      manifest: s.manifest,
      namespace: s.namespace,
      chart: { files: [], schema: null, metadata: s.chart?.metadata, values: {}, templates: [], lock: null },
      info: { notes: 'n', status: 'deployed', description: 'd', last_deployed: 'l', first_deployed: 'f', custom: 'c' },
      name: s.name,
    } as unknown as HelmRelease;
    const json = JSON.parse(jsonOf(encodeRelease(shuffled))) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(json), ['name', 'info', 'chart', 'manifest', 'version', 'namespace', 'apply_method', 'extra']);
    assert.deepEqual(Object.keys(json.info ?? {}), ['first_deployed', 'last_deployed', 'description', 'status', 'notes', 'custom']);
    assert.deepEqual(Object.keys(json.chart ?? {}), ['metadata', 'lock', 'templates', 'values', 'schema', 'files']);
  });

  it('leaves time strings untouched (Go nanoseconds survive)', () => {
    const json = jsonOf(encodeRelease(sample()));
    assert.match(json, /"last_deployed":"2026-11-21T23:12:11\.731189466Z"/);
    assert.match(json, /"schemamodtime":"0001-01-01T00:00:00Z"/);
  });

  it('is base64 of gzip at best compression (what Go writes at level 9)', () => {
    const s = encodeRelease(sample());
    assert.ok(s.startsWith('H4sI'), s.slice(0, 8));
    const bytes = Buffer.from(s, 'base64');
    assert.deepEqual([...bytes.subarray(0, 3)], [0x1f, 0x8b, 0x08]);
    // zlib records the level in the header's XFL byte: 2 = best compression (0 = default, 4 = fastest).
    assert.equal(bytes[8], 2);
    assert.deepEqual(bytes, gzipSync(Buffer.from(jsonOf(s), 'utf8'), { level: 9 }));
  });

  it('decodes a record with Go\'s gzip header (…02ff) as well as Node\'s (…0203)', () => {
    const bytes = Buffer.from(encodeRelease(sample()), 'base64');
    const goStyle = Buffer.from(bytes);
    goStyle[8] = 0x02; // XFL: best compression
    goStyle[9] = 0xff; // OS: unknown, as Go's compress/gzip writes
    assert.deepEqual(decoded(goStyle.toString('base64')), sample());
  });

  it('decodes an uncompressed record (base64 of plain JSON), as Helm does', () => {
    const plain = Buffer.from(JSON.stringify(sample())).toString('base64');
    assert.ok(plain.startsWith('eyJ'));
    assert.deepEqual(decoded(plain), sample());
  });

  it('reports, never throws, on data that is not a release', () => {
    const gz = (text: string): string => gzipSync(Buffer.from(text)).toString('base64');
    const cases: Record<string, string> = {
      'not base64': 'H4sI@@@@',
      'unpadded base64': 'H4sIAA',
      'empty': '',
      'broken gzip': Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4]).toString('base64'),
      'not JSON': gz('{nope'),
      'JSON array': gz('[1,2]'),
      'no version': gz('{"name":"web","info":{}}'),
      'version 0': gz('{"name":"web","info":{},"version":0}'),
      'string version': gz('{"name":"web","info":{},"version":"3"}'),
      'no info': gz('{"name":"web","version":3}'),
      'numeric status': gz('{"name":"web","info":{"status":1},"version":3}'),
      'numeric manifest': gz('{"name":"web","info":{},"version":3,"manifest":5}'),
    };
    for (const [what, input] of Object.entries(cases)) {
      const r = decodeRelease(input);
      assert.equal(r.ok, false, what);
    }
  });
});

describe('toSecret / fromSecret', () => {
  const at = new Date('2026-11-21T23:12:11.731Z');

  it('names, types and labels the Secret like Helm\'s driver', () => {
    const secret = toSecret(sample(), { createdAt: at });
    assert.equal(secret.metadata.name, 'sh.helm.release.v1.web.v3');
    assert.equal(secret.metadata.namespace, 'demo');
    assert.equal(secret.type, 'helm.sh/release.v1');
    assert.deepEqual(Object.keys(secret.data), ['release']);
    assert.deepEqual(secret.metadata.labels, { name: 'web', owner: 'helm', status: 'deployed', version: '3', createdAt: '1795302731' });
    const updated = toSecret(sample(), { modifiedAt: at });
    assert.equal(updated.metadata.labels.modifiedAt, '1795302731');
    assert.equal(updated.metadata.labels.createdAt, undefined);
  });

  it('double-base64s data.release for the JSON wire ("SDRzSUFB…") and reads it back', () => {
    const wire = JSON.parse(JSON.stringify(toSecret(sample(), { createdAt: at }))) as ReturnType<typeof toSecret>;
    assert.ok(wire.data.release.startsWith('SDRzSUFB'), wire.data.release.slice(0, 12));
    assert.equal(Buffer.from(wire.data.release, 'base64').toString('latin1'), encodeRelease(sample()));
    const back = fromSecret(wire);
    assert.ok(back.ok, back.ok ? '' : back.error);
    assert.deepEqual(back.value.release, sample());
  });

  it('adds custom labels but never lets them override the system ones, and splits them on read', () => {
    const labels = { 'tracegate.io/tenant': 'shop', commit: 'abc123', status: 'hacked', owner: 'me', createdAt: '1' };
    const secret = toSecret(sample(), { labels, createdAt: at });
    assert.equal(secret.metadata.labels.status, 'deployed');
    assert.equal(secret.metadata.labels.owner, 'helm');
    assert.equal(secret.metadata.labels.createdAt, '1795302731');
    const back = fromSecret(secret);
    assert.ok(back.ok);
    assert.deepEqual(back.value.labels, { 'tracegate.io/tenant': 'shop', commit: 'abc123' });
    assert.deepEqual(back.value.systemLabels, { name: 'web', owner: 'helm', status: 'deployed', version: '3', createdAt: '1795302731' });
  });

  it('refuses what Helm could not read back: invalid label values/keys, no chart, no status, bad name', () => {
    assert.throws(() => toSecret(sample(), { labels: { user: 'alice@example.com' } }), /invalid value for label user/);
    assert.throws(() => toSecret(sample(), { labels: { 'bad key!': 'x' } }), /invalid label key/);
    assert.throws(() => toSecret({ ...sample(), chart: undefined }), /chart is required/);
    assert.throws(() => toSecret({ ...sample(), chart: undefined }), (e: unknown) => isTracegateError(e, 'RELEASE_INVALID'), 'a code from the error table');
    assert.throws(() => toSecret({ ...sample(), info: {} }), /info\.status is required/);
    assert.throws(() => toSecret({ ...sample(), name: 'Web_App' }), /invalid Helm release name/);
    assert.throws(() => toSecret({ ...sample(), version: 0 }), /positive integer/);
  });

  it('says when data.release lost the Secret\'s own base64 layer', () => {
    const single = { metadata: { name: 'sh.helm.release.v1.web.v3' }, data: { release: encodeRelease(sample()) } };
    const r = fromSecret(single);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /single base64 .*H4sI/);
    assert.equal(fromSecret({ metadata: { name: 'x' }, data: {} }).ok, false);
    assert.equal(fromSecret({ data: { release: 'not base64!' } }).ok, false);
  });

  it('throws ReleaseTooLargeError with size and limit over 1 MiB, and accepts a normal release', () => {
    // Hash-chained hex does not compress much, so the record stays over the limit after gzip.
    const chunks: string[] = [];
    let h = 'seed';
    for (let i = 0; i < 40_000; i++) chunks.push((h = createHash('sha256').update(h).digest('hex')));
    const big = { ...sample(), manifest: chunks.join('') };
    assert.throws(
      () => toSecret(big),
      (err: unknown) =>
        err instanceof ReleaseTooLargeError &&
        err.limit === MAX_SECRET_DATA_BYTES &&
        err.size > MAX_SECRET_DATA_BYTES &&
        err.message.includes(String(err.size)) &&
        err.message.includes(String(MAX_SECRET_DATA_BYTES)) &&
        err.secretName === 'sh.helm.release.v1.web.v3',
    );
    assert.doesNotThrow(() => toSecret(sample()));
  });

  it('releaseSecretName follows makeKey', () => {
    assert.equal(releaseSecretName('web', 12), 'sh.helm.release.v1.web.v12');
  });
});

describe('label values', () => {
  it('keeps valid values and sanitises the rest', () => {
    assert.equal(toLabelValue('abc123'), 'abc123');
    assert.equal(toLabelValue('alice@example.com'), 'alice-example.com');
    assert.equal(toLabelValue('system:serviceaccount:ci:deployer'), 'system-serviceaccount-ci-deployer');
    assert.equal(toLabelValue('  Jürgen Müller  '), 'Jurgen-Muller');
    assert.equal(toLabelValue('-_.x._-'), 'x');
    assert.equal(toLabelValue(''), '');
    assert.equal(toLabelValue('@@@'), '');
  });

  it('hashes long values into 63 characters, distinct for distinct inputs and stable', () => {
    const a = toLabelValue(`${'feature/'.repeat(10)}a`);
    const b = toLabelValue(`${'feature/'.repeat(10)}b`);
    assert.ok(a.length <= 63 && b.length <= 63);
    assert.notEqual(a, b);
    assert.equal(a, toLabelValue(`${'feature/'.repeat(10)}a`));
    assert.ok(a.startsWith('feature-feature-'));
  });

  it('always produces a valid label value', () => {
    const nasty = ['a'.repeat(64), '-'.repeat(100), `${'x'.repeat(51)}-${'y'.repeat(20)}`, '日本語', 'a b\tc\nd', '😀 deploy 😀', 'refs/heads/main'];
    for (const text of nasty) {
      const v = toLabelValue(text);
      assert.ok(isValidLabelValue(v), `${JSON.stringify(text)} → ${JSON.stringify(v)}`);
    }
  });

  it('validates label keys with and without prefix', () => {
    assert.equal(isValidLabelKey('tracegate.io/change-id'), true);
    assert.equal(isValidLabelKey('commit'), true);
    assert.equal(isValidLabelKey('Tracegate.io/x'), false);
    assert.equal(isValidLabelKey('a/b/c'), false);
    assert.equal(isValidLabelKey(`${'k'.repeat(64)}`), false);
  });
});

describe('release helpers', () => {
  const rel = (version: number, status: string): HelmRelease => ({ ...sample(), version, info: { status } });

  it('isPending is true only for pending-* statuses', () => {
    for (const s of ['pending-install', 'pending-upgrade', 'pending-rollback']) assert.equal(isPending(s), true);
    for (const s of ['deployed', 'superseded', 'failed', undefined]) assert.equal(isPending(s), false);
  });

  it('latest is the highest version whatever the order or status; deployedOf the highest deployed', () => {
    const history = [rel(2, 'superseded'), rel(4, 'failed'), rel(1, 'superseded'), rel(3, 'deployed')];
    assert.equal(latest(history)?.version, 4);
    assert.equal(deployedOf(history)?.version, 3);
    assert.equal(deployedOf([...history, rel(5, 'deployed')])?.version, 5);
    assert.equal(latest([]), undefined);
    assert.equal(deployedOf([rel(1, 'superseded')]), undefined);
  });
});
