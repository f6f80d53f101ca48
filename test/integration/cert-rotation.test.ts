/**
 * certs.mode self end to end: the recorder's leader (`--rotate-certs`) against the test API server with
 * RBAC on and exactly the chart's recorder rights, the chart's two webhook configurations, the real gate
 * serving from files that mirror the TLS Secret (swapped as the kubelet swaps a Secret volume: a new
 * timestamped directory and one atomic rename of the `..data` symlink), and the apiserver's dynamic
 * admission (`followStoredAdmission`) calling the gate with whatever caBundle is stored at that moment.
 *
 * Deployments are created without pause throughout, and in bursts after every rotation step both before
 * and after the gate picked up the Secret, while the test's clock drives the recorder through: issuing
 * from nothing, a serving renewal, a CA roll and the old CA's removal — zero failed webhook calls. Then
 * hostile edits: a garbage tls.key in the Secret, a caBundle replaced by someone else — both repaired.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api, AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { splitBundle } from '../../src/certs/index.js';
import type { RotationStep } from '../../src/certs/index.js';
import { followStoredAdmission } from '../support/admission-chain/index.js';
import type { StoredAdmission } from '../support/admission-chain/index.js';
import { GATE_SERVERNAME, admissionFixture, startGateHarness, type GateHarness } from '../support/gate-harness.js';
import { createRecorderHarness, type Any, type HarnessRecorder, type RecorderHarness } from '../support/recorder-harness.js';
import { runTool } from '../support/tools.js';

const DAY = 24 * 60 * 60 * 1000;
const NS = 'tracegate';
const TLS_SECRET = 'tracegate-tls';
const CA_SECRET = 'tracegate-tls-ca';
const chartDir = fileURLToPath(new URL('../../charts/tracegate', import.meta.url));
/** Kinds of the chart this test installs: the webhooks and the recorder's identity and rights. */
const INSTALLED = new Set(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);
/**
 * A CA life that lets real time hold every phase (the gate and the apiserver check certificates against
 * the real clock, so nothing may be issued in the future): issued 360 days ago it ends in 80 days, so
 * 20 days ago it was outside the 90-day roll window (serving renewal only) and now it is inside.
 */
const TEST_CA_DAYS = 440;
const REAL = Date.now();

let h: RecorderHarness;
let gate: GateHarness | undefined;
let admission: StoredAdmission;
let recorder: HarnessRecorder;
let dir: string;
let clock = new Date(REAL - 360 * DAY);
let admin: { core: CoreV1Api; apps: AppsV1Api; hooks: AdmissionregistrationV1Api };
let created = 0;
let lastSynced = '';

const secret = (name: string): Any | undefined => h.server.store.get('secrets', NS, name) as Any | undefined;
const decoded = (s: Any | undefined, key: string): string => Buffer.from(String(s?.['data']?.[key] ?? ''), 'base64').toString('utf8');
const fingerprints = (pem: string): string[] => splitBundle(pem).map((c) => c.info.fingerprintSha256);
const serialOf = (pem: string): string => splitBundle(pem)[0]?.info.serialHex ?? '';

/** The caBundle of every webhook of both configurations, decoded, by webhook name. */
function bundles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const resource of ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations']) {
    const cfg = h.server.store.get(resource, '', 'tracegate') as Any;
    for (const w of cfg['webhooks'] as Any[]) out[w['name']] = Buffer.from(String(w['clientConfig']['caBundle'] ?? ''), 'base64').toString('utf8');
  }
  return out;
}

/** The kubelet's AtomicWriter: the Secret's files into a fresh directory, then `..data` renamed over. */
async function syncVolume(): Promise<boolean> {
  const s = secret(TLS_SECRET);
  const rv = String(s?.['metadata']?.['resourceVersion'] ?? '');
  if (!s || rv === lastSynced) return false;
  const volume = join(dir, 'tls');
  const stamp = join(volume, `..${rv}`);
  await mkdir(stamp, { recursive: true });
  for (const [key, value] of Object.entries(s['data'] as Record<string, string>)) await writeFile(join(stamp, key), Buffer.from(value, 'base64'));
  await symlink(`..${rv}`, join(volume, '..data_tmp'));
  await rename(join(volume, '..data_tmp'), join(volume, '..data'));
  for (const key of ['tls.crt', 'tls.key', 'ca.crt']) {
    const link = join(volume, key);
    const exists = await readlink(link).then(() => true, () => false);
    if (!exists) await symlink(join('..data', key), link);
  }
  lastSynced = rv;
  return true;
}

/** The Secret reaches the gate: volume swapped, certificate reloaded (the gate also polls, every 200 ms). */
async function propagate(): Promise<'unchanged' | 'reloaded' | 'rejected'> {
  await syncVolume();
  return gate ? gate.gate.reloadCertificates() : 'unchanged';
}

/**
 * The strictest client: a new connection per review, trusting exactly the caBundle stored for that
 * webhook at that moment (read again per request, as the apiserver's client cache keys on it), checking
 * the Service name. The pooled connections of the admission chain alone could hide a bad new handshake.
 */
async function strictReviews(): Promise<void> {
  for (const [webhook, pem] of Object.entries(bundles())) {
    const path = webhook.startsWith('mutate') ? '/mutate' : '/validate';
    strict.calls++;
    try {
      const res = await gate!.request({ method: 'POST', path, body: JSON.stringify(REVIEW), ca: pem, agent: false, headers: { 'content-type': 'application/json' } });
      if (res.status !== 200) strict.failed.push(`${webhook}: HTTP ${res.status}`);
    } catch (err) {
      strict.failed.push(`${webhook}: ${(err as Error).message}`);
    }
  }
}
const strict = { calls: 0, failed: [] as string[] };
const REVIEW = admissionFixture('constructed/10-create-helm4-ssa.mutating.json');

/** One Deployment create through the apiserver's admission (mutate.tracegate.io and validate.tracegate.io). */
async function createOne(): Promise<void> {
  const name = `app-${created++}`;
  await admin.apps
    .createNamespacedDeployment({
      namespace: 'team-a',
      body: { metadata: { name }, spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } } } },
    })
    .catch(() => undefined); // denied by policy or failed: the webhook calls themselves are tallied below
}

async function burst(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) {
    await createOne();
    if (gate) await strictReviews();
  }
}

/** Every webhook call to the gate so far, by outcome. */
function tally(): { calls: number; failed: string[] } {
  const calls = admission.history.flatMap((r) => r.calls).filter((c) => c.url.includes(GATE_SERVERNAME));
  const failed = calls.filter((c) => c.outcome === 'failed-open' || c.outcome === 'failed-closed').map((c) => `${c.webhook}: ${c.error ?? c.outcome}`);
  return { calls: calls.length + strict.calls, failed: [...failed, ...strict.failed] };
}

/** The serial of the certificate the gate serves on a fresh connection. */
function servedSerial(): Promise<string> {
  return new Promise((ok, fail) => {
    const socket = connect({ host: '127.0.0.1', port: gate!.port, servername: GATE_SERVERNAME, rejectUnauthorized: false }, () => {
      ok(socket.getPeerCertificate().serialNumber.toLowerCase());
      socket.end();
    });
    socket.on('error', fail);
  });
}

/** Between steps: reviews while the gate may still serve the previous Secret, then after it has the new one. */
async function afterStep(step: RotationStep): Promise<void> {
  steps.push(step.action);
  await burst();
  await propagate();
  await burst();
}
const steps: string[] = [];

async function reconcile(): Promise<string[]> {
  steps.length = 0;
  const outcome = await recorder.running.certs!.reconcile();
  assert.equal(outcome.result, 'idle', `reconcile ended ${outcome.result} after ${outcome.steps.join(', ')}`);
  return [...steps];
}

let streaming = true;
let stream: Promise<void> = Promise.resolve();

before(async () => {
  h = await createRecorderHarness({ authorization: 'rbac', controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-cert-rotation-'));
  await mkdir(join(dir, 'tls'));
  const kc = new KubeConfig();
  kc.loadFromFile(h.admin);
  admin = { core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), hooks: kc.makeApiClient(AdmissionregistrationV1Api) };
  h.server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { 'tracegate.io/tenant': 'team-a' } } });

  // The chart as `helm install` would create it (self mode, the defaults): webhooks without a caBundle,
  // the recorder's ServiceAccount, Roles and bindings. Through kubectl, so the apiserver's checks apply.
  const rendered = await runTool(h.tools.helm, ['template', 'tracegate', chartDir, '--namespace', NS]);
  assert.equal(rendered.code, 0, rendered.stderr);
  const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Any).filter((d) => d !== null && INSTALLED.has(d['kind']));
  const recorderDocs = docs.filter((d) => d['kind'].endsWith('WebhookConfiguration') || d['metadata']?.['labels']?.['app.kubernetes.io/component'] === 'recorder');
  const file = join(dir, 'chart.yaml');
  await writeFile(file, recorderDocs.map((d) => JSON.stringify(d)).join('\n---\n'));
  await h.ok(h.tools.kubectl, ['apply', '-f', file]);
  const hooks = bundles();
  assert.ok(Object.keys(hooks).length >= 2, 'both configurations installed');
  for (const [name, pem] of Object.entries(hooks)) assert.equal(pem, '', `${name} starts without a caBundle`);

  admission = followStoredAdmission({
    server: h.server,
    resolveService: (namespace, name, port) => {
      if (`${namespace}/${name}:${port}` !== 'tracegate/tracegate:443' || !gate) throw new Error(`service "${name}" not found`);
      return { host: '127.0.0.1', port: gate.port };
    },
  });
  // The chart's ServiceAccount: its RBAC (rendered above) is all this recorder may do.
  recorder = await h.startRecorder({
    namespaces: [NS],
    identity: 'tracegate-recorder',
    leaseName: 'tracegate-recorder',
    certs: { namespace: NS, tlsSecret: TLS_SECRET, webhookConfiguration: 'tracegate', intervalMs: 3_600_000, thresholds: { caValidDays: TEST_CA_DAYS }, now: () => clock, afterStep },
  });
  await recorder.running.certs!.idle();
});

after(async () => {
  streaming = false;
  await stream;
  await gate?.close();
  admission?.close();
  await h?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the recorder rotates the gate certificates (certs.mode self)', () => {
  it('issues from nothing on becoming leader: the CA Secret, both caBundles, then the TLS Secret', async () => {
    assert.deepEqual(steps, ['issue-ca', 'publish-bundle', 'issue-serving']);
    const ca = secret(CA_SECRET);
    const tls = secret(TLS_SECRET);
    assert.equal(ca?.['type'], 'Opaque');
    assert.equal(tls?.['type'], 'kubernetes.io/tls');
    assert.deepEqual(Object.keys(tls?.['data'] ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'the CA key never enters the Secret the gate mounts');
    const caFp = fingerprints(decoded(ca, 'ca.crt'));
    for (const [name, pem] of Object.entries(bundles())) assert.deepEqual(fingerprints(pem), caFp, name);
    const served = splitBundle(decoded(tls, 'tls.crt'))[0]!.info;
    assert.ok(served.dnsNames.includes(GATE_SERVERNAME));

    // The gate starts from the mounted Secret; the stream of creates starts and never stops.
    await syncVolume();
    gate = await startGateHarness({ config: { tlsCertFile: join(dir, 'tls', 'tls.crt'), tlsKeyFile: join(dir, 'tls', 'tls.key'), tlsCaFile: join(dir, 'tls', 'ca.crt'), certReloadIntervalMs: 200 } });
    stream = (async () => {
      while (streaming) await createOne();
    })();
    await burst();
    const t = tally();
    assert.ok(t.calls > 0, 'the apiserver called the gate');
    assert.deepEqual(t.failed, []);
  });

  it('renews the serving certificate under the same CA: the caBundles never change', async () => {
    const before = bundles();
    const oldSerial = serialOf(decoded(secret(TLS_SECRET), 'tls.crt'));
    const calls = tally().calls;
    clock = new Date(REAL - 20 * DAY); // 25 days before the first serving certificate ends
    assert.deepEqual(await reconcile(), ['issue-serving']);
    assert.deepEqual(bundles(), before);
    const newSerial = serialOf(decoded(secret(TLS_SECRET), 'tls.crt'));
    assert.notEqual(newSerial, oldSerial);
    assert.equal(await servedSerial(), newSerial);
    assert.ok(tally().calls > calls);
    assert.deepEqual(tally().failed, []);
  });

  it('rolls the CA: old and new trusted before the switch, the old dropped only after the grace', async () => {
    const oldCa = fingerprints(decoded(secret(CA_SECRET), 'ca.crt'));
    clock = new Date(REAL); // the CA ends in 80 days: inside the 90-day roll window
    assert.deepEqual(await reconcile(), ['issue-ca', 'publish-bundle', 'issue-serving']);
    const newCa = fingerprints(decoded(secret(CA_SECRET), 'ca.crt'));
    assert.notDeepEqual(newCa, oldCa);
    for (const [name, pem] of Object.entries(bundles())) assert.deepEqual(fingerprints(pem), [...newCa, ...oldCa], name);
    assert.equal(await servedSerial(), serialOf(decoded(secret(TLS_SECRET), 'tls.crt')));
    assert.deepEqual(await reconcile(), [], 'within the grace nothing changes');

    clock = new Date(REAL + DAY + 60_000);
    assert.deepEqual(await reconcile(), ['publish-bundle', 'update-trust']);
    for (const [name, pem] of Object.entries(bundles())) assert.deepEqual(fingerprints(pem), newCa, name);
    assert.deepEqual(fingerprints(decoded(secret(TLS_SECRET), 'ca.crt')), newCa);
    await burst();
    assert.deepEqual(tally().failed, []);
  });

  it('replaces a garbage tls.key: the gate keeps serving its last good pair meanwhile', async () => {
    clock = new Date(); // issuing again: certificates must not start in the gate's future
    const s = await admin.core.readNamespacedSecret({ name: TLS_SECRET, namespace: NS });
    await admin.core.replaceNamespacedSecret({ name: TLS_SECRET, namespace: NS, body: { ...s, data: { ...s.data, 'tls.key': Buffer.from('not a key').toString('base64') } } });
    assert.equal(await propagate(), 'rejected');
    await burst();
    assert.deepEqual(await reconcile(), ['issue-serving']);
    assert.equal(await servedSerial(), serialOf(decoded(secret(TLS_SECRET), 'tls.crt')));
    const line = recorder.logs.records().find((r) => r['action'] === 'issue-serving' && /private key cannot be read/.test(String(r['reason'])));
    assert.ok(line, 'one log line says why, with the new certificate\'s serial and notAfter');
    assert.match(String(line['serial']), /^[0-9a-f]{32}$/);
    assert.ok(line['notAfter']);
    assert.deepEqual(tally().failed, []);
  });

  it('repairs a caBundle someone else replaced', async () => {
    const signing = fingerprints(decoded(secret(CA_SECRET), 'ca.crt'));
    const cfg = await admin.hooks.readValidatingWebhookConfiguration({ name: 'tracegate' });
    const foreign = decoded(secret(TLS_SECRET), 'tls.crt'); // a certificate, not a CA: trusts nothing
    cfg.webhooks![0]!.clientConfig.caBundle = Buffer.from(foreign).toString('base64');
    await admin.hooks.replaceValidatingWebhookConfiguration({ name: 'tracegate', body: cfg });
    const broken = tally().failed.length;
    await burst(1);
    assert.ok(tally().failed.length > broken, 'the edit breaks calls (the harm the repair undoes)');
    assert.deepEqual(await reconcile(), ['publish-bundle']);
    for (const [name, pem] of Object.entries(bundles())) assert.deepEqual(fingerprints(pem), signing, name);
    const failedBefore = tally().failed.length;
    await burst();
    assert.equal(tally().failed.length, failedBefore);
  });

  it('tracegate record takes the flags the chart passes (--rotate-certs --tls-secret --webhook-configuration)', async () => {
    // A configuration and Secret of its own, so this second leader never touches what the gate uses.
    await admin.hooks.createValidatingWebhookConfiguration({
      body: {
        metadata: { name: 'cli-check' },
        webhooks: [{ name: 'cli.check.io', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { service: { name: 'cli-gate', namespace: NS, path: '/validate' } }, rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }] }],
      },
    });
    const running = h.cli([
      'record', '-n', NS, '--lease-namespace', NS, '--lease-name', 'cli-certs', '--identity', 'cli-certs', '--metrics-port', '0', '--log-level', 'silent',
      '--rotate-certs', '--tls-secret=cli-tls', '--webhook-configuration=cli-check',
    ]);
    await h.waitFor('the CLI recorder to issue', () => secret('cli-tls') !== undefined);
    h.signals.emit('SIGTERM');
    const res = await running;
    assert.equal(res.code, 0, res.stderr);
    const cfg = h.server.store.get('validatingwebhookconfigurations', '', 'cli-check') as Any;
    assert.deepEqual(fingerprints(Buffer.from(String(cfg['webhooks'][0]['clientConfig']['caBundle']), 'base64').toString('utf8')), fingerprints(decoded(secret('cli-tls-ca'), 'ca.crt')));
    assert.ok(splitBundle(decoded(secret('cli-tls'), 'tls.crt'))[0]!.info.dnsNames.includes('cli-gate.tracegate.svc'), 'names from the webhook\'s Service');
  });

  it('never logs a key; reports expiry and rotations as metrics', async (t) => {
    t.diagnostic(`${tally().calls} calls to the gate (apiserver chain and strict client), ${created} Deployments created`);
    const text = recorder.logs.lines.join('');
    assert.doesNotMatch(text, /PRIVATE KEY|not a key/);
    const expiry = await recorder.metric('tracegate_recorder_cert_expiry_timestamp_seconds');
    assert.ok(expiry > REAL / 1000, 'ca + serving notAfter');
    assert.ok((await recorder.metric('tracegate_recorder_cert_rotations_total')) >= 10);
  });
});
