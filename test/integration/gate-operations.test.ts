/**
 * Running the gate: probes, metrics, the policy listing, TLS versions and trust, certificate renewal
 * under load, the decision log (and what it must never contain), and a draining shutdown.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { issueCa, issueServingCert, serviceDnsNames, type IssuedServing } from '../../src/certs/index.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { GATE_SERVERNAME, admissionFixture, reviewFor, startGateHarness, storedObject, type GateHarness, type HttpResult } from '../support/gate-harness.js';
import { createKubectlLocal, type KubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools } from '../support/tools.js';

const SECRET = 'hunter2-secret';
const OTHER_SECRET = 'hunter3-secret';
/** Requests kept running across the certificate swap; the brief asks for at least 50. */
const CONCURRENT_REQUESTS = 50;
/** Cadence of the certificate poller, so a renewal is picked up while the test's requests run. */
const RELOAD_INTERVAL_MS = 200;
/** Pause between polls of some state the test waits for (not a limit: the wait ends when the state is reached). */
const POLL_MS = 20;
/** A hang guard for the whole file, not a speed check. */
const HANG_GUARD_MS = 60_000;

let h: GateHarness;
let k: KubectlLocal;

before(async () => {
  const [harness, tools] = await Promise.all([startGateHarness({ config: { certReloadIntervalMs: RELOAD_INTERVAL_MS } }), ensureRealTools()]);
  h = harness;
  k = createKubectlLocal(tools);
});

after(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh TLS connection to the gate; resolves with the socket once the handshake is done. */
function tlsConnect(extra: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((ok, fail) => {
    const socket = connect({ ...h.tlsOptions(), ...extra }, () => ok(socket));
    socket.once('error', fail);
  });
}

/** Serial number of the certificate a new connection is served, as a BigInt (hex case and zero padding vary). */
async function servedSerial(): Promise<bigint> {
  const socket = await tlsConnect();
  const serial = socket.getPeerCertificate().serialNumber;
  socket.destroy();
  return BigInt(`0x${serial}`);
}

/** Issues a renewed serving certificate with the gate's own CA, for the names the gate's certificate has. */
async function renewedServing(): Promise<IssuedServing> {
  const [certPem, keyPem] = await Promise.all([readFile(join(h.certDir, 'ca.crt'), 'utf8'), readFile(join(h.certDir, 'ca.key'), 'utf8')]);
  return issueServingCert({ ca: { certPem, keyPem }, dnsNames: [...serviceDnsNames('tracegate', 'tracegate'), 'localhost'], ipAddresses: ['127.0.0.1', '::1'] });
}

/** Replaces a file by rename, as a Secret volume update does: readers see the old or the new file. */
async function replaceFile(path: string, content: string): Promise<void> {
  await writeFile(`${path}.new`, content);
  await rename(`${path}.new`, path);
}

describe('probes, metrics and the policy listing', { timeout: HANG_GUARD_MS }, () => {
  it('/healthz and /readyz answer 200', async () => {
    const health = await h.get('/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.text, 'ok');
    const ready = await h.get('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.text, 'ready');
  });

  it('/metrics exposes latency, decisions by webhook, decision and tenant, in-flight and certificate expiry', async () => {
    const deny = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');
    const skip = admissionFixture('constructed/15-delete-kubectl.json');
    for (const review of [deny, skip]) for (const path of ['/validate', '/mutate']) assert.equal((await h.review(path, review)).status, 200);
    const res = await h.get('/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const m = res.text;
    assert.match(m, /^# TYPE tracegate_admission_duration_seconds histogram$/m);
    assert.match(m, /^tracegate_admission_duration_seconds_bucket\{le="[^"]+",webhook="validate",decision="deny"\} [1-9]/m);
    assert.match(m, /^tracegate_admission_duration_seconds_count\{webhook="mutate",decision="allow"\} [1-9]/m);
    assert.match(m, /^tracegate_admission_decisions_total\{webhook="validate",decision="deny",tenant="shop"\} [1-9]/m);
    assert.match(m, /^tracegate_admission_decisions_total\{webhook="validate",decision="skip",tenant="none"\} [1-9]/m);
    assert.match(m, /^tracegate_admission_decisions_total\{webhook="mutate",decision="allow",tenant="shop"\} [1-9]/m);
    assert.match(m, /^tracegate_admission_in_flight 0$/m);
    const served = new X509Certificate(await readFile(join(h.certDir, 'tls.crt'), 'utf8'));
    const expiry = /^tracegate_certificate_expiry_timestamp_seconds\{certificate="serving"\} (\d+)$/m.exec(m);
    assert.ok(expiry, 'serving certificate expiry metric');
    assert.equal(Number(expiry[1]), new Date(served.validTo).getTime() / 1000);
    assert.match(m, /^tracegate_certificate_expiry_timestamp_seconds\{certificate="ca"\} \d+$/m);
  });

  it('/policies lists names, versions and digests — the ones audit annotations cite', async () => {
    const res = await h.get('/policies');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const view = res.json as { digest: string; policies: { name: string; version: string; digest: string }[] };
    assert.match(view.digest, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(view.policies.map((p) => p.name).sort(), ['image-hygiene', 'provenance', 'resources', 'rollback-history']);
    for (const p of view.policies) {
      assert.equal(typeof p.version, 'string');
      assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
    }
    const v = await h.review('/validate', admissionFixture('constructed/10-create-helm4-ssa.mutating.json'));
    const cited = (v.json.response.auditAnnotations.policies as string).split(',').sort();
    assert.deepEqual(cited, view.policies.map((p) => `${p.name}@${p.version}=${p.digest}`).sort());
  });
});

describe('TLS', { timeout: HANG_GUARD_MS }, () => {
  it('refuses TLS 1.1 (the server answers with a protocol_version alert)', async () => {
    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal is the server's.
    const err = await tlsConnect({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
      (s) => (s.destroy(), undefined),
      (e: NodeJS.ErrnoException) => e,
    );
    assert.ok(err, 'a TLS 1.1 handshake succeeded');
    assert.equal(err.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('serves TLS 1.2 and 1.3 with a certificate valid for the Service name', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const socket = await tlsConnect({ minVersion: v, maxVersion: v });
      assert.equal(socket.getProtocol(), v);
      assert.equal(socket.authorized, true);
      socket.destroy();
    }
    const res = await h.request({ path: '/healthz', agent: false });
    assert.equal(res.status, 200);
  });

  it('a client that trusts another CA refuses the gate', async () => {
    const other = issueCa({ commonName: 'someone-else' });
    const err = await h.request({ path: '/healthz', agent: false, ca: other.certPem }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    assert.ok(err, 'the request succeeded with the wrong CA');
    assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('a name outside the certificate is refused', async () => {
    const err = await tlsConnect({ servername: 'evil.example.com' }).then(
      (s) => (s.destroy(), undefined),
      (e: NodeJS.ErrnoException) => e,
    );
    assert.ok(err);
    assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

describe('certificate renewal', { timeout: HANG_GUARD_MS }, () => {
  it('a renewed certificate is picked up while requests run; none fails and new connections get it', async () => {
    const before = await servedSerial();
    const renewed = await renewedServing();
    const next = BigInt(`0x${renewed.serialHex}`);
    assert.notEqual(next, before);
    const review = admissionFixture('constructed/10-create-helm4-ssa.mutating.json');
    // Half on kept-alive connections (in flight across the swap), half on new ones (handshakes during it).
    const one = (i: number): Promise<HttpResult> =>
      h.request({ method: 'POST', path: i % 2 ? '/validate' : '/mutate', body: JSON.stringify(review), headers: { 'content-type': 'application/json' }, ...(i % 4 < 2 ? {} : { agent: false }) });
    const running: Promise<HttpResult>[] = [];
    for (let i = 0; i < CONCURRENT_REQUESTS / 2; i++) running.push(one(i));
    // Key first, certificate last, as writeCertSet does; a poll in between sees a mismatch and keeps the old pair.
    await replaceFile(join(h.certDir, 'tls.key'), renewed.keyPem);
    await replaceFile(join(h.certDir, 'tls.crt'), renewed.certPem);
    let serial = before;
    while (serial !== next || running.length < CONCURRENT_REQUESTS) {
      for (let i = 0; i < 5; i++) running.push(one(running.length));
      serial = await servedSerial();
      if (serial !== next) await sleep(POLL_MS);
    }
    const results = await Promise.all(running);
    assert.ok(results.length >= CONCURRENT_REQUESTS);
    for (const res of results) {
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.response.uid, review.request.uid);
    }
    assert.equal(await servedSerial(), next);
    const old = await tlsConnect({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
      (sock) => (sock.destroy(), undefined),
      (e: NodeJS.ErrnoException) => e,
    );
    assert.equal(old?.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the renewed context still refuses TLS 1.1');
    const m = (await h.get('/metrics')).text;
    assert.match(m, /^tracegate_certificate_reloads_total\{result="reloaded"\} [1-9]/m);
    const expiry = /^tracegate_certificate_expiry_timestamp_seconds\{certificate="serving"\} (\d+)$/m.exec(m);
    assert.equal(Number(expiry?.[1]), renewed.notAfter.getTime() / 1000);
  });

  it('a corrupt renewed certificate is rejected and the last good one keeps serving', async () => {
    const good = await servedSerial();
    const [goodCert, goodKey] = await Promise.all([readFile(join(h.certDir, 'tls.crt'), 'utf8'), readFile(join(h.certDir, 'tls.key'), 'utf8')]);
    const other = await renewedServing();
    try {
      await replaceFile(join(h.certDir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
      assert.equal(await h.gate.reloadCertificates(), 'rejected');
      assert.equal(await servedSerial(), good);
      // A valid certificate with someone else's key is just as unusable.
      await replaceFile(join(h.certDir, 'tls.crt'), other.certPem);
      assert.equal(await h.gate.reloadCertificates(), 'rejected');
      assert.equal(await servedSerial(), good);
      // A complete pair from another CA: the apiserver, trusting the caBundle, would fail every call.
      const strangerCa = issueCa({ commonName: 'someone else' });
      const stranger = issueServingCert({ ca: strangerCa, dnsNames: [GATE_SERVERNAME, 'localhost'], ipAddresses: ['127.0.0.1'] });
      await replaceFile(join(h.certDir, 'tls.key'), stranger.keyPem);
      await replaceFile(join(h.certDir, 'tls.crt'), stranger.certPem);
      assert.equal(await h.gate.reloadCertificates(), 'rejected');
      assert.equal(await servedSerial(), good);
      assert.equal((await h.request({ path: '/healthz', agent: false })).status, 200);
      assert.ok(h.logs.records().some((r) => r.msg === 'renewed TLS certificate rejected; still serving the previous one'));
      assert.match((await h.get('/metrics')).text, /^tracegate_certificate_reloads_total\{result="rejected"\} [1-9]/m);
    } finally {
      await replaceFile(join(h.certDir, 'tls.key'), goodKey);
      await replaceFile(join(h.certDir, 'tls.crt'), goodCert);
    }
    assert.equal(await h.gate.reloadCertificates(), 'unchanged');
  });
});

describe('the decision log', { timeout: HANG_GUARD_MS }, () => {
  let withSecret: KubeObject;

  before(async () => {
    const obj = await k.createDeployment('web', { image: 'registry.example.com/team-a/web:1.4.2', namespace: 'team-a' });
    withSecret = await k.patch(obj, { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'DB_PASSWORD', value: SECRET }] }] } } } });
    assert.equal(JSON.stringify(withSecret).includes(SECRET), true, 'premise: the object carries the secret');
  });

  it('one line per review with who, what, where, the decision, rules, policies and duration', async () => {
    const review = reviewFor(withSecret, { fieldManager: 'kubectl-create', username: 'alice@example.com' });
    const responses = await Promise.all(['/validate', '/mutate'].map((p) => h.review(p, review)));
    for (const res of responses) assert.equal(res.status, 200);
    const lines = h.logs.records().filter((r) => r.msg === 'admission decision' && r.uid === review.request.uid);
    assert.deepEqual(lines.map((l) => l.webhook).sort(), ['mutate', 'validate']);
    for (const line of lines) {
      assert.equal(line.kind, 'Deployment');
      assert.equal(line.namespace, 'team-a');
      assert.equal(line.name, 'web');
      assert.equal(line.operation, 'CREATE');
      assert.equal(line.user, 'alice@example.com');
      assert.equal(line.fieldManager, 'kubectl-create');
      assert.equal(line.tenant, 'team-a');
      assert.equal(typeof line.durationMs, 'number');
      assert.ok(Array.isArray(line.rules));
      assert.ok(Array.isArray(line.policies));
    }
    const validate = lines.find((l) => l.webhook === 'validate')!;
    assert.equal(validate.decision, 'deny');
    assert.ok((validate.rules as string[]).includes('resources/requests-and-limits'));
    for (const p of validate.policies as string[]) assert.match(p, /^[a-z0-9-]+@[^=]+=sha256:[0-9a-f]{64}$/);
    assert.equal(lines.find((l) => l.webhook === 'mutate')!.decision, 'allow');
  });

  it('never contains env values — not in logs, not in answers, not even when they change or the body is broken', async () => {
    const stored = storedObject(withSecret);
    const changed = await k.patch(stored, { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'DB_PASSWORD', value: OTHER_SECRET }] }] } } } });
    const update = reviewFor(changed, { oldObject: stored, fieldManager: 'kubectl-patch' });
    // A client that forgot to quote the value: JSON errors tend to quote the text around the fault.
    const broken = JSON.stringify(update).replace(`"${OTHER_SECRET}"`, OTHER_SECRET);
    const answers = [
      ...(await Promise.all(['/validate', '/mutate'].map((p) => h.review(p, reviewFor(withSecret, { fieldManager: 'kubectl-create' }))))),
      ...(await Promise.all(['/validate', '/mutate'].map((p) => h.review(p, update)))),
      await h.review('/validate', broken),
    ];
    const mutated = answers[3]!.json.response;
    assert.ok(mutated.patch, 'premise: the env change is a template change that gets a change-cause');
    const decoded = Buffer.from(mutated.patch, 'base64').toString('utf8');
    assert.match(decoded, /env web changed/);
    for (const res of answers) {
      for (const secret of [SECRET, OTHER_SECRET, 'hunter', '-secret']) {
        assert.ok(!res.text.includes(secret), `answer contains ${secret}: ${res.text}`);
        assert.ok(!(res.json?.response?.patch && Buffer.from(res.json.response.patch, 'base64').toString('utf8').includes(secret)), 'patch contains the secret');
      }
    }
    assert.equal(answers.at(-1)!.status, 400);
    const log = h.logs.text();
    for (const secret of [SECRET, OTHER_SECRET, 'hunter', '-secret']) assert.ok(!log.includes(secret), `the log contains ${secret}`);
  });
});

describe('shutdown', { timeout: HANG_GUARD_MS }, () => {
  it('drains: an upload in progress completes, readiness turns 503, new connections are refused', async () => {
    const review = admissionFixture('constructed/11-update-kubectl-set-image.mutating.json');
    const body = Buffer.from(JSON.stringify(review));
    const half = Math.floor(body.length / 2);

    // A: a review whose body is only half uploaded.
    const upload = await tlsConnect();
    let uploadAnswer = '';
    upload.setEncoding('utf8');
    upload.on('data', (d: string) => (uploadAnswer += d));
    const uploadClosed = new Promise<void>((r) => upload.on('close', () => r()));
    upload.write(`POST /validate HTTP/1.1\r\nHost: ${GATE_SERVERNAME}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    upload.write(body.subarray(0, half));
    while ((await h.gate.metrics.inFlight.get()).values[0]?.value !== 1) await sleep(POLL_MS);

    // B: a readiness probe whose headers are not complete yet, so the connection is not idle.
    const probe = await tlsConnect();
    let probeAnswer = '';
    probe.setEncoding('utf8');
    probe.on('data', (d: string) => (probeAnswer += d));
    const probeClosed = new Promise<void>((r) => probe.on('close', () => r()));
    probe.write(`GET /readyz HTTP/1.1\r\nHost: ${GATE_SERVERNAME}\r\n`);
    // A full round trip on another connection: by its end the gate has read B's partial request.
    assert.equal((await h.request({ path: '/healthz', agent: false })).status, 200);

    const stopped = h.gate.shutdown('test', { delayMs: 0 });
    assert.equal(h.gate.ready(), false);
    while (h.gate.server.listening) await sleep(POLL_MS);
    const refused = await h.request({ path: '/healthz', agent: false }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    assert.equal(refused?.code, 'ECONNREFUSED');

    probe.write('\r\n');
    upload.write(body.subarray(half));
    await Promise.all([stopped, uploadClosed, probeClosed]);

    assert.match(probeAnswer, /^HTTP\/1\.1 503 /);
    assert.match(probeAnswer, /not ready: shutting down/);
    assert.match(uploadAnswer, /^HTTP\/1\.1 200 /);
    const answer = JSON.parse(uploadAnswer.slice(uploadAnswer.indexOf('\r\n\r\n') + 4)) as { response: { uid: string } };
    assert.equal(answer.response.uid, review.request.uid);
  });
});
