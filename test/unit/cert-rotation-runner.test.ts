/**
 * createCertRotator (src/recorder/cert-rotation.ts) against in-memory Kubernetes APIs passed in as
 * dependencies: what it writes and how (JSON patch with the resourceVersion precondition, Secrets
 * replaced at the version read), a 409 from a concurrent writer re-read and re-planned, a follower
 * writing nothing, an unreadable cluster an error counted and retried — never a throw — and the flags.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Secret } from '@kubernetes/client-node';
import { DEFAULT_ROTATION_THRESHOLDS, splitBundle } from '../../src/certs/index.js';
import { createLogger } from '../../src/log.js';
import { buildRecordConfig } from '../../src/recorder/config.js';
import { checkThresholds, createCertRotator } from '../../src/recorder/cert-rotation.js';
import { createRecorderMetrics } from '../../src/recorder/metrics.js';
import { isTracegateError } from '../../src/errors.js';

type Any = Record<string, any>;

class ApiError extends Error {
  constructor(readonly code: number) {
    super(`HTTP ${code}`);
  }
}

/** Just enough of CoreV1Api and AdmissionregistrationV1Api over a map, with resourceVersion checks. */
function fakeCluster() {
  let rv = 1;
  const secrets = new Map<string, Any>();
  const configs = new Map<string, Any>();
  const calls: string[] = [];
  const faults: { conflictOnce?: string; readError?: number } = {};
  for (const kind of ['mutating', 'validating']) {
    configs.set(kind, {
      metadata: { name: 'tracegate', resourceVersion: String(rv++) },
      webhooks: [{ name: `${kind}.tracegate.io`, clientConfig: { service: { name: 'tracegate', namespace: 'tracegate', path: '/x' } } }],
    });
  }
  const notFound = () => new ApiError(404);
  function patch(kind: string, body: Any[]): Any {
    calls.push(`patch ${kind}`);
    const cfg = structuredClone(configs.get(kind)!);
    for (const op of body) {
      if (op.path === '/metadata/resourceVersion' && op.value !== cfg.metadata.resourceVersion) throw new ApiError(409);
      const m = /^\/webhooks\/(\d+)\/(name|clientConfig\/caBundle)$/.exec(op.path);
      if (!m) continue;
      const hook = cfg.webhooks[Number(m[1])];
      if (op.op === 'test' && hook.name !== op.value) throw new ApiError(422);
      if (op.op === 'add') hook.clientConfig.caBundle = op.value;
    }
    cfg.metadata.resourceVersion = String(rv++);
    configs.set(kind, cfg);
    return cfg;
  }
  const core = {
    readNamespacedSecret: async ({ name }: { name: string }) => {
      if (faults.readError) throw new ApiError(faults.readError);
      const s = secrets.get(name);
      if (!s) throw notFound();
      return structuredClone(s) as V1Secret;
    },
    createNamespacedSecret: async ({ body }: { body: V1Secret }) => {
      calls.push(`create ${body.metadata!.name}`);
      secrets.set(body.metadata!.name!, { ...body, metadata: { ...body.metadata, resourceVersion: String(rv++) } });
      return body;
    },
    replaceNamespacedSecret: async ({ name, body }: { name: string; body: V1Secret }) => {
      calls.push(`replace ${name}`);
      if (faults.conflictOnce === name) {
        delete faults.conflictOnce;
        // Another writer got there first: the stored version moves on.
        secrets.get(name)!.metadata.resourceVersion = String(rv++);
        throw new ApiError(409);
      }
      if (body.metadata?.resourceVersion !== secrets.get(name)?.metadata.resourceVersion) throw new ApiError(409);
      secrets.set(name, { ...body, metadata: { ...body.metadata, resourceVersion: String(rv++) } });
      return body;
    },
  };
  const admission = {
    readMutatingWebhookConfiguration: async () => structuredClone(configs.get('mutating')),
    readValidatingWebhookConfiguration: async () => structuredClone(configs.get('validating')),
    patchMutatingWebhookConfiguration: async ({ body }: { body: Any[] }) => patch('mutating', body),
    patchValidatingWebhookConfiguration: async ({ body }: { body: Any[] }) => patch('validating', body),
  };
  return { secrets, configs, calls, faults, core, admission };
}

function rotator(c: ReturnType<typeof fakeCluster>, opts: { leader?: boolean; now?: Date } = {}) {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', name: 'test', destination: { write: (s: string) => void lines.push(s) } });
  const metrics = createRecorderMetrics({ defaults: false });
  const r = createCertRotator({
    core: c.core as never,
    admission: c.admission as never,
    log,
    metrics,
    config: { namespace: 'tracegate', tlsSecret: 'tracegate-tls', webhookConfiguration: 'tracegate', intervalMs: 3_600_000 },
    canWrite: () => opts.leader ?? true,
    now: () => opts.now ?? new Date(),
  });
  return { r, lines, metrics };
}

describe('createCertRotator', () => {
  it('from nothing: creates the CA Secret, patches each caBundle at its resourceVersion, creates the TLS Secret', async () => {
    const c = fakeCluster();
    const { r, metrics, lines } = rotator(c);
    const out = await r.reconcile();
    assert.deepEqual(out, { result: 'idle', steps: ['issue-ca', 'publish-bundle', 'issue-serving'] });
    assert.deepEqual(c.calls, ['create tracegate-tls-ca', 'patch mutating', 'patch validating', 'create tracegate-tls']);
    const bundle = c.configs.get('mutating')!.webhooks[0].clientConfig.caBundle as string;
    const pems = (b64: string) => splitBundle(Buffer.from(b64, 'base64').toString('utf8')).map((x) => x.pem);
    assert.deepEqual(pems(bundle), pems(c.secrets.get('tracegate-tls-ca')!.data['ca.crt']));
    assert.equal(pems(bundle).length, 1);
    assert.equal(c.secrets.get('tracegate-tls')!.type, 'kubernetes.io/tls');
    const gauge = await metrics.certExpiry.get();
    assert.deepEqual(gauge.values.map((v) => v.labels.certificate).sort(), ['ca', 'serving']);
    assert.equal((await metrics.certRotations.get()).values.reduce((n, v) => n + v.value, 0), 3);
    assert.doesNotMatch(lines.join(''), /PRIVATE KEY/);
    assert.deepEqual(await r.reconcile(), { result: 'idle', steps: [] });
  });

  it('a 409 (someone wrote the Secret since it was read) is read again and planned again', async () => {
    const c = fakeCluster();
    const { r, lines } = rotator(c);
    await r.reconcile();
    const tls = c.secrets.get('tracegate-tls')!;
    tls.data['tls.key'] = Buffer.from('garbage').toString('base64');
    c.faults.conflictOnce = 'tracegate-tls';
    const out = await r.reconcile();
    assert.deepEqual(out, { result: 'idle', steps: ['issue-serving'] });
    assert.match(lines.join(''), /lost a race \(409\)/);
  });

  it('a follower plans but writes nothing', async () => {
    const c = fakeCluster();
    const { r } = rotator(c, { leader: false });
    assert.deepEqual(await r.reconcile(), { result: 'not-leader', steps: [] });
    assert.deepEqual(c.calls, []);
  });

  it('an unreadable cluster is an error counted and logged, not a throw', async () => {
    const c = fakeCluster();
    c.faults.readError = 403;
    const { r, metrics, lines } = rotator(c);
    assert.deepEqual(await r.reconcile(), { result: 'error', steps: [] });
    assert.equal((await metrics.certErrors.get()).values[0]?.value, 1);
    assert.match(lines.join(''), /cannot read the cluster/);
  });

  it('setActive runs once at once and stops with leadership', async () => {
    const c = fakeCluster();
    const { r } = rotator(c);
    r.setActive(true);
    await r.idle();
    assert.ok(c.secrets.has('tracegate-tls'));
    r.setActive(false);
    await r.idle();
  });
});

describe('checkThresholds', () => {
  it('refuses windows that would re-issue on every check', () => {
    assert.doesNotThrow(() => checkThresholds({ ...DEFAULT_ROTATION_THRESHOLDS }));
    for (const [change, text] of [
      [{ servingRenewBeforeDays: 365 }, 'servingRenewBeforeDays must be below servingValidDays'],
      [{ caRollBeforeDays: 1825 }, 'caRollBeforeDays must be below caValidDays'],
      [{ caRollBeforeDays: 30 }, 'caRollBeforeDays must exceed servingRenewBeforeDays'],
    ] as const) {
      assert.throws(() => checkThresholds({ ...DEFAULT_ROTATION_THRESHOLDS, ...change }), (err: unknown) => isTracegateError(err, 'CONFIG_INVALID') && err.message.includes(text));
    }
  });
});

describe('tracegate record certificate flags', () => {
  const build = (flags: Any) => buildRecordConfig({ flags, env: {}, hostname: 'h' });

  it('off by default; the chart\'s three flags and an interval', () => {
    assert.equal(build({}).certs, undefined);
    assert.deepEqual(build({ rotateCerts: true }).certs, { tlsSecret: 'tracegate-tls', webhookConfiguration: 'tracegate', checkIntervalSeconds: 300 });
    const c = build({ rotateCerts: true, tlsSecret: 'my-tls', webhookConfiguration: 'gate', certCheckInterval: '30m' });
    assert.deepEqual(c.certs, { tlsSecret: 'my-tls', webhookConfiguration: 'gate', checkIntervalSeconds: 1800 });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.certs));
  });

  it('refuses bad values, and certificate flags without --rotate-certs, with CONFIG_INVALID naming them', () => {
    const cases = [
      [{ rotateCerts: true, tlsSecret: 'Bad_Name' }, 'certs.tlsSecret'],
      [{ rotateCerts: true, tlsSecret: 'a'.repeat(251) }, 'certs.tlsSecret'],
      [{ rotateCerts: true, certCheckInterval: '10s' }, 'certs.checkIntervalSeconds'],
      [{ rotateCerts: true, certCheckInterval: 'soon' }, 'certs.checkIntervalSeconds'],
      [{ tlsSecret: 'my-tls' }, 'tlsSecret only apply with --rotate-certs'],
    ] as const;
    for (const [flags, text] of cases) {
      assert.throws(() => build(flags), (err: unknown) => isTracegateError(err, 'CONFIG_INVALID') && err.message.includes(text), JSON.stringify(flags));
    }
  });
});
