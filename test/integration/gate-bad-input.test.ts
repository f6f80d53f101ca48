/**
 * Unusable requests get a clear JSON error with the right 4xx, and the gate keeps serving afterwards.
 * The apiserver treats any non-200 as a failed call (failurePolicy), never as a decision.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import { GATE_SERVERNAME, admissionFixture, envelope, reviewFor, startGateHarness, type GateHarness, type HttpResult } from '../support/gate-harness.js';

/** A lowered body limit, so oversize bodies stay small enough to send quickly. */
const BODY_LIMIT = 64 * 1024;
const SECRET = 'hunter2-secret';
/** Concurrent requests in the mixed burst: enough to interleave every kind several times. */
const BURST = 40;
/** A hang guard per suite, not a speed check: a request the gate never answers fails instead of hanging. */
const HANG_GUARD_MS = 60_000;

let h: GateHarness;
let valid: ReturnType<typeof envelope>;

before(async () => {
  h = await startGateHarness({ config: { bodyLimitBytes: BODY_LIMIT } });
  valid = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');
});

after(async () => {
  await h?.close();
});

afterEach(async () => {
  // Whatever the previous request did, the gate still answers a fresh connection.
  const health = await h.request({ path: '/healthz', agent: false });
  assert.equal(health.status, 200);
  assert.equal(health.text, 'ok');
});

/** Asserts a JSON error body with the given status and code; returns its message. */
function assertError(res: HttpResult, status: number, code: string): string {
  assert.equal(res.status, status, res.text);
  assert.match(String(res.headers['content-type']), /^application\/json\b/);
  assert.equal(res.json?.error?.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
  assert.ok(res.json.error.message.length > 0);
  return res.json.error.message as string;
}

/** POST /validate with a chunked body written in `chunks` pieces (no Content-Length). */
function postChunked(path: string, body: Buffer, chunks: number): Promise<HttpResult> {
  return new Promise((ok, fail) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: h.port, method: 'POST', path, ca: h.caPem, servername: GATE_SERVERNAME, agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, text, json: JSON.parse(text) }));
      },
    );
    // The gate may close the connection before the whole upload is written; its answer is what counts.
    req.on('error', fail);
    const size = Math.ceil(body.length / chunks);
    for (let i = 0; i < body.length; i += size) req.write(body.subarray(i, i + size));
    req.end();
  });
}

describe('malformed bodies', { timeout: HANG_GUARD_MS }, () => {
  it('not JSON: 400 REVIEW_MALFORMED, without echoing the body', async () => {
    const res = await h.review('/validate', `{"apiVersion":"admission.k8s.io/v1","request":{"env":[{"name":"DB_PASSWORD","value":"${SECRET}", "n": hunter`);
    assert.match(assertError(res, 400, 'REVIEW_MALFORMED'), /not valid JSON/);
    assert.ok(!res.text.includes('hunter'), res.text);
    assert.ok(!h.logs.text().includes('hunter'), 'the body leaked into the log');
  });

  it('empty body: 400', async () => {
    assertError(await h.review('/mutate', ''), 400, 'REVIEW_MALFORMED');
  });

  it('invalid UTF-8: 400 naming UTF-8', async () => {
    const text = JSON.stringify(valid).replace('"web"', '"w\u0000b"');
    const bytes = Buffer.from(text, 'utf8');
    bytes[bytes.indexOf(0)] = 0xff;
    assert.match(assertError(await h.review('/validate', bytes), 400, 'REVIEW_MALFORMED'), /UTF-8/);
  });

  it('JSON that is not an object: 400', async () => {
    for (const body of ['null', '[]', '"AdmissionReview"', '42']) {
      assertError(await h.review('/validate', body), 400, 'REVIEW_MALFORMED');
    }
  });
});

describe('wrong envelope', { timeout: HANG_GUARD_MS }, () => {
  const cases: [string, (r: any) => unknown, RegExp][] = [
    ['apiVersion v1beta1', (r) => ({ ...r, apiVersion: 'admission.k8s.io/v1beta1' }), /admission\.k8s\.io\/v1/],
    ['no apiVersion', (r) => ({ ...r, apiVersion: undefined }), /apiVersion/],
    ['kind AdmissionResponse', (r) => ({ ...r, kind: 'AdmissionResponse' }), /AdmissionReview/],
    ['no request', (r) => ({ ...r, request: undefined }), /no request/],
    ['request null', (r) => ({ ...r, request: null }), /no request/],
    ['no uid', (r) => ({ ...r, request: { ...r.request, uid: undefined } }), /uid/],
    ['empty uid', (r) => ({ ...r, request: { ...r.request, uid: '' } }), /uid/],
    ['unknown operation', (r) => ({ ...r, request: { ...r.request, operation: 'PATCH' } }), /operation/],
    ['object not an object', (r) => ({ ...r, request: { ...r.request, object: 'Deployment' } }), /object/],
  ];
  for (const [name, edit, message] of cases) {
    it(`${name}: 400 with a reason`, async () => {
      for (const path of ['/validate', '/mutate']) {
        assert.match(assertError(await h.review(path, edit(valid)), 400, 'REVIEW_MALFORMED'), message);
      }
    });
  }
});

describe('content type', { timeout: HANG_GUARD_MS }, () => {
  it('text/plain or none: 415', async () => {
    assertError(await h.review('/validate', valid, { headers: { 'content-type': 'text/plain' } }), 415, 'REVIEW_MEDIA_TYPE');
    assertError(await h.request({ method: 'POST', path: '/mutate', body: JSON.stringify(valid) }), 415, 'REVIEW_MEDIA_TYPE');
    assertError(await h.review('/validate', valid, { headers: { 'content-type': 'application/yaml' } }), 415, 'REVIEW_MEDIA_TYPE');
  });

  it('application/json with a charset is accepted', async () => {
    const res = await h.review('/validate', valid, { headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(res.status, 200);
    assert.equal(res.json.response.uid, valid.request.uid);
  });
});

describe('body size', { timeout: HANG_GUARD_MS }, () => {
  const oversize = () => {
    const big = structuredClone(valid);
    big.request.object.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(BODY_LIMIT) };
    return Buffer.from(JSON.stringify(big));
  };

  it('over the limit with a Content-Length: 413', async () => {
    const res = await h.request({ method: 'POST', path: '/validate', body: oversize(), headers: { 'content-type': 'application/json' }, agent: false });
    assert.match(assertError(res, 413, 'REVIEW_TOO_LARGE'), new RegExp(String(BODY_LIMIT)));
  });

  it('over the limit while streaming a chunked body: 413, not a reset connection', async () => {
    assertError(await postChunked('/mutate', oversize(), 8), 413, 'REVIEW_TOO_LARGE');
  });

  it('just under the limit, chunked: answered normally', async () => {
    const body = Buffer.from(JSON.stringify(valid));
    assert.ok(body.length < BODY_LIMIT);
    const res = await postChunked('/validate', body, 5);
    assert.equal(res.status, 200);
    assert.equal(res.json.response.uid, valid.request.uid);
  });
});

describe('kinds tracegate does not judge', { timeout: HANG_GUARD_MS }, () => {
  it('a ConfigMap is allowed and skipped, with no patch', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'team-a' }, data: { DB_PASSWORD: SECRET } };
    const review = reviewFor(cm, { fieldManager: 'kubectl-create' });
    assert.equal(review.request.resource.resource, 'configmaps');
    for (const path of ['/validate', '/mutate']) {
      const res = await h.review(path, review);
      assert.equal(res.status, 200);
      assert.equal(res.json.response.uid, review.request.uid);
      assert.equal(res.json.response.allowed, true);
      assert.equal(res.json.response.patch, undefined);
      assert.equal(res.json.response.auditAnnotations.decision, 'skip');
      assert.ok(!res.text.includes(SECRET));
    }
    assert.ok(!h.logs.text().includes(SECRET));
  });
});

describe('methods and paths', { timeout: HANG_GUARD_MS }, () => {
  it('GET or PUT on a webhook path: 405 with Allow: POST', async () => {
    for (const [method, path] of [['GET', '/validate'], ['PUT', '/mutate'], ['DELETE', '/validate']] as const) {
      const res = await h.request({ method, path });
      assertError(res, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(res.headers.allow, 'POST');
    }
  });

  it('an unknown path: 404', async () => {
    assertError(await h.review('/', valid), 404, 'NOT_FOUND');
    assertError(await h.request({ path: '/validate/extra' }), 404, 'NOT_FOUND');
  });
});

describe('slow and broken clients', { timeout: HANG_GUARD_MS }, () => {
  it('?timeout=1s with a body that never finishes gets an error and a closed connection', async () => {
    const { status, closed } = await new Promise<{ status: string; closed: boolean }>((ok, fail) => {
      const socket = connect(h.tlsOptions(), () => {
        socket.write('POST /validate?timeout=1s HTTP/1.1\r\nHost: tracegate\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"apiVersion":');
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', fail);
      socket.on('close', () => ok({ status: text.split('\r\n')[0] ?? '', closed: true }));
    });
    assert.ok(closed);
    assert.match(status, /^HTTP\/1\.1 408 /, 'REVIEW_TIMEOUT, not a silent reset');
  });

  it('a client that disconnects mid-body does not disturb the gate', async () => {
    await new Promise<void>((ok) => {
      const socket = connect(h.tlsOptions(), () => {
        socket.write('POST /mutate HTTP/1.1\r\nHost: tracegate\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"apiVersion":', () => socket.destroy());
      });
      socket.on('error', () => undefined);
      socket.on('close', () => ok());
    });
  });

  it('a burst of mixed bad requests all get their 4xx, and good ones in between still succeed', async () => {
    const bad = [
      () => h.review('/validate', '{'),
      () => h.review('/mutate', { ...valid, request: undefined }),
      () => h.review('/validate', valid, { headers: { 'content-type': 'text/plain' } }),
      () => h.request({ method: 'GET', path: '/mutate' }),
    ];
    // Every fifth request is a good one, interleaved with the four kinds of bad ones, all at once.
    const good = (i: number) => i % 5 === 4;
    const results = await Promise.all(Array.from({ length: BURST }, (_, i) => (good(i) ? h.review('/validate', valid) : bad[i % bad.length]!())));
    results.forEach((res, i) => {
      if (good(i)) assert.equal(res.status, 200);
      else assert.ok(res.status >= 400 && res.status < 500, `request ${i}: ${res.status}`);
    });
    const metrics = await h.get('/metrics');
    assert.match(metrics.text, /tracegate_admission_bad_requests_total\{status="400"\} [1-9]/);
  });
});
