/**
 * No input bends the gate: pipelined requests are all answered (or their connection closed), review
 * shapes no apiserver sends get a 400 instead of a 500 or a patch that does not apply, deep nesting is
 * refused before anything walks it, request values are never echoed or logged whole, and bodies share a
 * memory budget (429 + Retry-After beyond it) and a rate floor (408 below it). The process-level proofs
 * (memory under stalled uploads, SIGTERM) are in gate-process.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  admissionFixture,
  envelope,
  openRaw,
  rawPost,
  reviewFor,
  startGateHarness,
  type GateHarness,
  type HttpResult,
} from '../support/gate-harness.js';
import { applyPatchAsApiserver } from '../support/json-patch.js';

/** A hang guard per suite, not a speed check: a request the gate never answers fails instead of hanging. */
const HANG_GUARD_MS = 60_000;
/** Far more than any reason or log line needs: what is asserted is that nothing of megabyte size comes back. */
const SHORT_TEXT = 2_000;

let h: GateHarness;
let valid: ReturnType<typeof envelope>;

before(async () => {
  h = await startGateHarness();
  valid = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');
});

after(async () => {
  await h?.close();
});

/** A copy of the valid review with `edit` applied to its request and a fresh uid. */
function edited(edit: (request: any) => void, uid = `uid-${Math.random().toString(36).slice(2)}`): ReturnType<typeof envelope> {
  const r = structuredClone(valid);
  r.request.uid = uid;
  edit(r.request);
  return r;
}

function assertBadRequest(res: HttpResult, message: RegExp): void {
  assert.equal(res.status, 400, res.text.slice(0, 500));
  assert.equal(res.json?.error?.code, 'REVIEW_MALFORMED');
  assert.match(res.json.error.message, message);
  assert.ok(res.text.length < SHORT_TEXT, `answer of ${res.text.length} bytes`);
}

/** `[[…[leaf]…]]` nested `depth` levels, built without recursion. */
function nested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { f: v };
  return v;
}

describe('pipelined requests on one TLS connection', { timeout: HANG_GUARD_MS }, () => {
  it('valid, malformed, valid: three answers in order, and the connection stays usable', async () => {
    const a = edited(() => undefined, 'pipelined-a');
    const c = edited(() => undefined, 'pipelined-c');
    const conn = await openRaw(h.tlsOptions());
    conn.socket.write(Buffer.concat([rawPost('/validate', JSON.stringify(a)), rawPost('/validate', '{"apiVersion": nope'), rawPost('/mutate', JSON.stringify(c))]));
    const { responses, closed } = await conn.responsesOrClose(3);
    assert.equal(closed, false);
    assert.deepEqual(responses.map((r) => r.status), [200, 400, 200]);
    assert.equal(responses[0]!.json.response.uid, 'pipelined-a');
    assert.equal(responses[1]!.json.error.code, 'REVIEW_MALFORMED');
    assert.equal(responses[2]!.json.response.uid, 'pipelined-c');
    // A fourth request on the same connection is answered too.
    conn.socket.write(rawPost('/validate', JSON.stringify(edited(() => undefined, 'pipelined-d'))));
    const more = await conn.responsesOrClose(4);
    assert.equal(more.responses[3]?.json?.response?.uid, 'pipelined-d');
    conn.socket.destroy();
  });

  it('every kind of refusal in the middle of a pipeline is answered', async () => {
    const bodies = [
      rawPost('/mutate', JSON.stringify(edited(() => undefined, 'p1'))),
      rawPost('/validate', JSON.stringify({ ...valid, apiVersion: 'admission.k8s.io/v1beta1' })),
      rawPost('/validate', JSON.stringify(edited((r) => (r.object.spec = 'x')))),
      rawPost('/mutate', JSON.stringify(envelope({ ...valid.request, object: nested(400) }))),
      rawPost('/mutate', JSON.stringify(edited(() => undefined, 'p5'))),
      // Refused before its body is read, so it closes the connection: last in the pipeline.
      rawPost('/validate', JSON.stringify(valid), { 'content-type': 'text/plain' }),
    ];
    const conn = await openRaw(h.tlsOptions());
    conn.socket.write(Buffer.concat(bodies));
    const { responses } = await conn.responsesOrClose(bodies.length);
    assert.deepEqual(responses.map((r) => r.status), [200, 400, 400, 400, 200, 415]);
    assert.equal(responses[4]!.json.response.uid, 'p5');
    conn.socket.destroy();
  });

  it('a body over the limit in a pipeline: its 413 is answered, the rest of it dropped, and the request behind it answered', async () => {
    const small = await startGateHarness({ config: { bodyLimitBytes: 16 * 1024 } });
    try {
      const conn = await openRaw(small.tlsOptions());
      const big = JSON.stringify(edited((r) => (r.object.metadata.annotations = { big: 'x'.repeat(20 * 1024) })));
      conn.socket.write(Buffer.concat([rawPost('/validate', JSON.stringify(valid)), rawPost('/validate', big), rawPost('/validate', JSON.stringify(valid))]));
      const { responses } = await conn.responsesOrClose(3);
      // The rest of the oversized body is read and dropped (never buffered), so the connection stays in
      // step: the request pipelined behind it is answered too.
      assert.deepEqual(responses.map((r) => r.status), [200, 413, 200]);
      conn.socket.destroy();
    } finally {
      await small.close();
    }
  });

  it('shutdown with a pipelined connection drains it without waiting for the grace period', async () => {
    const g = await startGateHarness({ config: { shutdownGraceMs: 30_000 } });
    const conn = await openRaw(g.tlsOptions());
    conn.socket.write(Buffer.concat([rawPost('/validate', JSON.stringify(valid)), rawPost('/mutate', '{'), rawPost('/validate', JSON.stringify(valid))]));
    const { responses } = await conn.responsesOrClose(3);
    assert.deepEqual(responses.map((r) => r.status), [200, 400, 200]);
    await g.gate.shutdown('test', { delayMs: 0 });
    await conn.closed;
    assert.doesNotMatch(g.logs.text(), /drain timed out/);
    await g.close();
  });

  it('a request in flight when the drain begins is answered with Connection: close, and the drain ends with it', async () => {
    const g = await startGateHarness({ config: { shutdownGraceMs: 30_000 } });
    const body = Buffer.from(JSON.stringify(valid));
    const conn = await openRaw(g.tlsOptions());
    conn.socket.write(Buffer.concat([rawPost('/validate', Buffer.alloc(0), { 'content-length': body.length }), body.subarray(0, 100)]));
    // Wait until the gate is reading that body (a keep-alive connection busy with it is not idle).
    while (!/tracegate_admission_in_flight 1\b/.test((await g.request({ path: '/metrics', agent: false })).text));
    const stopped = g.gate.shutdown('test', { delayMs: 0 });
    conn.socket.write(body.subarray(100));
    const { responses } = await conn.responsesOrClose(1);
    assert.equal(responses[0]?.status, 200);
    assert.equal(responses[0]!.headers.connection, 'close');
    await conn.closed;
    await stopped;
    assert.doesNotMatch(g.logs.text(), /drain timed out/);
    await g.close();
  });
});

describe('review shapes no apiserver sends: 400, never 500', { timeout: HANG_GUARD_MS }, () => {
  const cases: [string, (r: any) => void, RegExp][] = [
    ['object.kind "constructor"', (r) => (r.object.kind = 'constructor'), /request\.object\.kind "constructor" does not match request\.kind\.kind "Deployment"/],
    ['oldObject.kind "__proto__"', (r) => (r.oldObject.kind = '__proto__'), /request\.oldObject\.kind "__proto__" does not match/],
    ['object.kind another workload kind', (r) => (r.object.kind = 'StatefulSet'), /does not match request\.kind\.kind/],
    ['spec.template.metadata a string', (r) => (r.object.spec.template.metadata = 'web-template'), /request\.object\.spec\.template\.metadata must be an object, got "web-template"/],
    ['spec.template a number', (r) => (r.object.spec.template = 7), /spec\.template must be an object, got 7/],
    ['spec.template.spec an array', (r) => (r.object.spec.template.spec = []), /spec\.template\.spec must be an object, got an array/],
    ['metadata a string', (r) => (r.object.metadata = 'web'), /request\.object\.metadata must be an object/],
    ['metadata null', (r) => (r.oldObject.metadata = null), /request\.oldObject\.metadata must be an object, got null/],
    ['spec null', (r) => (r.object.spec = null), /request\.object\.spec must be an object, got null/],
    ['annotations a list', (r) => (r.object.metadata.annotations = ['a']), /metadata\.annotations must be an object of strings/],
    ['an annotation a number', (r) => (r.object.spec.template.metadata.annotations = { n: 1 }), /annotations\["n"\] must be a string, got 1/],
    ['managedFields an object', (r) => (r.object.metadata.managedFields = {}), /managedFields must be an array/],
    ['a managedFields entry null', (r) => (r.object.metadata.managedFields = [null]), /managedFields\[0\] must be an object/],
    ['a manager a number', (r) => (r.object.metadata.managedFields[0].manager = 5), /managedFields\[0\]\.manager must be a string/],
    ['request.namespace an object', (r) => (r.namespace = { a: 1 }), /request\.namespace must be a string, got a JSON object/],
  ];
  for (const [name, edit, message] of cases) {
    it(`${name}: a clear 400 on both webhooks`, async () => {
      for (const path of ['/validate', '/mutate']) assertBadRequest(await h.review(path, edited(edit)), message);
    });
  }

  it('request.kind "constructor" (and other prototype keys) with matching objects: a proper skip, never 500', async () => {
    for (const kind of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const review = edited((r) => {
        r.kind.kind = kind;
        r.object.kind = kind;
        r.oldObject.kind = kind;
      });
      for (const path of ['/validate', '/mutate']) {
        const res = await h.review(path, review);
        assert.equal(res.status, 200, `${kind} ${path}: ${res.text.slice(0, 300)}`);
        assert.equal(res.json.response.uid, review.request.uid);
        assert.equal(res.json.response.allowed, true);
        assert.equal(res.json.response.patch, undefined);
      }
    }
  });

  it('the shapes a real apiserver sends still pass: every fixture, and a CronJob and a Pod', async () => {
    const cron = reviewFor({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: 'team-a' }, spec: { schedule: '0 1 * * *', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image: 'registry.example.com/job:1.0.0' }] } } } } } });
    const pod = reviewFor({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [{ name: 'c', image: 'registry.example.com/c:1.0.0' }] } });
    for (const review of [cron, pod]) {
      for (const path of ['/validate', '/mutate']) {
        const res = await h.review(path, review);
        assert.equal(res.status, 200, res.text.slice(0, 500));
        if (res.json.response.patch) assert.ok(applyPatchAsApiserver(review.request.object, res.json.response.patch).ok);
      }
    }
  });
});

/** The review's JSON text with its `"__DEEP__"` string replaced by JSON nested `depth` levels (written as text: JSON.stringify itself recurses). */
function deepText(review: unknown, depth: number): string {
  const deep = `${'{"f":['.repeat(depth / 2)}1${']}'.repeat(depth / 2)}`;
  return JSON.stringify(review).replace('"__DEEP__"', deep);
}

describe('nesting', { timeout: HANG_GUARD_MS }, () => {
  it('a template nested 5,000 deep: 400 before anything walks it', async () => {
    const review = deepText(edited((r) => (r.object.spec.template.spec.affinity = '__DEEP__')), 5_000);
    for (const path of ['/validate', '/mutate']) assertBadRequest(await h.review(path, review), /deeper than 256 levels/);
  });

  it('managedFields fieldsV1 nested 100,000 deep (free-form JSON the apiserver stores): 400 on both webhooks', async () => {
    const review = deepText(edited((r) => (r.object.metadata.managedFields[0].fieldsV1 = '__DEEP__')), 100_000);
    for (const path of ['/validate', '/mutate']) assertBadRequest(await h.review(path, review), /deeper than 256 levels/);
  });

  it('nesting just under the limit is judged normally', async () => {
    // The review itself is 6 levels deep down to managedFields[0].fieldsV1.
    const review = edited((r) => (r.object.metadata.managedFields[0].fieldsV1 = nested(240)));
    const res = await h.review('/mutate', review);
    assert.equal(res.status, 200, res.text.slice(0, 300));
    assert.equal(res.json.response.uid, review.request.uid);
  });
});

describe('no echo or log amplification', { timeout: HANG_GUARD_MS }, () => {
  it('a 6 MiB apiVersion: a short 400 and a short log line', async () => {
    const before = h.logs.lines.length;
    const huge = 'v'.repeat(6 * 1024 * 1024);
    const res = await h.review('/validate', { ...valid, apiVersion: huge });
    assertBadRequest(res, /got "v{200}"…\(6291456 characters\) \/ "AdmissionReview"/);
    const lines = h.logs.lines.slice(before);
    assert.ok(lines.length > 0);
    for (const line of lines) assert.ok(line.length < SHORT_TEXT, `log line of ${line.length} bytes`);
  });

  it('control characters in a quoted value are visible escapes, never raw', async () => {
    const res = await h.review('/validate', { ...valid, kind: 'Admission\u0007Review\u202e' });
    assertBadRequest(res, /"Admission\\u0007Review\\u202e"/);
  });

  it('a 2 MiB uid, name and user: the decision line carries them cut short', async () => {
    const big = 'u'.repeat(2 * 1024 * 1024);
    const before = h.logs.lines.length;
    const review = edited((r) => {
      r.name = big;
      r.userInfo.username = big;
    }, `uid-${big}`);
    const res = await h.review('/validate', review);
    assert.equal(res.status, 200);
    assert.equal(res.json.response.uid, review.request.uid, 'the uid is echoed whole: the protocol requires it');
    const lines = h.logs.lines.slice(before);
    const decision = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'admission decision');
    assert.ok(decision, 'a decision line');
    assert.match(decision.uid, /^uid-u{252}…\(2097156 characters\)$/);
    assert.match(decision.user, /^u{256}…\(2097152 characters\)$/);
    for (const line of lines) assert.ok(line.length < SHORT_TEXT * 2, `log line of ${line.length} bytes`);
  });
});

describe('the body budget and the rate floor', { timeout: HANG_GUARD_MS }, () => {
  it('past the budget: 429 with Retry-After and Connection: close before the body is read; served again once it frees', async () => {
    const g = await startGateHarness({ config: { bodyLimitBytes: 64 * 1024, maxBufferedBodyBytes: 64 * 1024, minBodyBytesPerSecond: 0 } });
    try {
      const hog = await openRaw(g.tlsOptions());
      // Declares 60 KiB, sends a little, and stalls: its reservation holds the budget.
      hog.socket.write(Buffer.concat([rawPost('/validate', Buffer.alloc(0), { 'content-length': 60 * 1024 }), Buffer.from('{"apiVersion":')]));
      // Once the gate holds the hog's reservation, a second declared body does not fit.
      let busy: HttpResult | undefined;
      for (let i = 0; i < 50 && busy?.status !== 429; i++) busy = await g.review('/validate', valid, { headers: { connection: 'close' } });
      assert.equal(busy!.status, 429, busy!.text);
      assert.equal(busy!.json.error.code, 'GATE_BUSY');
      assert.equal(busy!.headers['retry-after'], '1');
      assert.equal(busy!.headers.connection, 'close');
      hog.socket.destroy();
      await hog.closed;
      // The hog's reservation is released with its connection: the next review is served.
      let res: HttpResult | undefined;
      for (let i = 0; i < 50 && res?.status !== 200; i++) res = await g.review('/validate', valid, { headers: { connection: 'close' } });
      assert.equal(res!.status, 200, res!.text);
      assert.match(await g.get('/metrics').then((m) => m.text), /tracegate_admission_bad_requests_total\{status="429"\} [1-9]/);
    } finally {
      await g.close();
    }
  });

  it('a body trickling slower than the floor after the grace period: 408 naming the rate, connection closed', async () => {
    const g = await startGateHarness({ config: { minBodyBytesPerSecond: 4096, bodyRateGraceMs: 200, maxRequestTimeoutMs: 30_000 } });
    try {
      const conn = await openRaw(g.tlsOptions());
      conn.socket.write(Buffer.concat([rawPost('/validate', Buffer.alloc(0), { 'content-length': 100_000 }), Buffer.from('{"apiVersion":')]));
      const { responses, closed } = await conn.responsesOrClose(1);
      assert.equal(responses[0]?.status, 408, JSON.stringify(responses));
      assert.equal(responses[0]!.json.error.code, 'REVIEW_TIMEOUT');
      assert.match(responses[0]!.json.error.message, /slower than 4096 bytes per second/);
      await conn.closed;
      assert.ok(closed || conn.socket.destroyed);
    } finally {
      await g.close();
    }
  });
});
