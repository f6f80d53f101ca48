/**
 * The rotation plan (src/certs/rotation-plan.ts), driven through whole lifecycles by a small in-memory
 * cluster that applies each step as the recorder would. After every step the zero-failed-reviews
 * invariant is checked: every webhook's caBundle trusts every serving certificate a gate may still be
 * serving — the TLS Secret's current one and those it held within the propagation grace.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  CLOCK_SKEW_MS,
  DEFAULT_ROTATION_THRESHOLDS,
  caBundleBase64,
  issueCa,
  issueServingCert,
  planRotation,
  serviceDnsNames,
  splitBundle,
  verifyServingPair,
} from '../../src/certs/index.js';
import type { RotationStep, RotationThresholds, WebhookTrust } from '../../src/certs/index.js';

const DAY = 24 * 60 * 60 * 1000;
const T0 = new Date('2026-01-01T00:00:00Z');
const NAMES = serviceDnsNames('tracegate', 'tracegate');
const WEBHOOKS = [
  { configuration: 'tracegate', kind: 'MutatingWebhookConfiguration', webhook: 'stamp.tracegate.io' },
  { configuration: 'tracegate', kind: 'ValidatingWebhookConfiguration', webhook: 'validate.tracegate.io' },
  { configuration: 'tracegate', kind: 'ValidatingWebhookConfiguration', webhook: 'deletions.tracegate.io' },
];

interface Served {
  cert: string;
  key: string;
  /** When it left the Secret (undefined: still there). */
  replacedAt?: number;
}

/** The cluster as the plan sees it, plus the history of serving pairs, and a step applier. */
function cluster(thresholds: RotationThresholds = DEFAULT_ROTATION_THRESHOLDS) {
  const state = {
    now: T0,
    caSecret: undefined as Record<string, string> | undefined,
    tlsSecret: undefined as Record<string, string> | undefined,
    webhooks: WEBHOOKS.map((w) => ({ ...w })) as WebhookTrust[],
    served: [] as Served[],
  };
  const plan = () => planRotation({ now: state.now, dnsNames: NAMES, caSecret: state.caSecret, tlsSecret: state.tlsSecret, webhooks: state.webhooks, thresholds });
  function apply(step: RotationStep): void {
    const now = state.now;
    switch (step.action) {
      case 'issue-ca': {
        const ca = issueCa({ now, validDays: thresholds.caValidDays });
        state.caSecret = { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem };
        return;
      }
      case 'publish-bundle':
        for (const w of state.webhooks) if (step.webhooks.some((s) => s.kind === w.kind && s.webhook === w.webhook)) w.caBundlePem = step.bundlePem;
        return;
      case 'issue-serving': {
        const s = issueServingCert({ ca: step.ca, dnsNames: NAMES, now, validDays: thresholds.servingValidDays });
        for (const old of state.served) old.replacedAt ??= now.getTime();
        state.served.push({ cert: s.certPem, key: s.keyPem });
        state.tlsSecret = { 'tls.crt': s.certPem, 'tls.key': s.keyPem, 'ca.crt': step.trustPem };
        return;
      }
      case 'update-trust':
        state.tlsSecret = { ...state.tlsSecret, 'ca.crt': step.trustPem };
        return;
      case 'idle':
        return;
    }
  }
  /** Every pair a gate may serve now is trusted by every webhook (an empty cluster serves nothing). */
  function assertNoFailedReviews(context: string): void {
    const live = state.served.filter((s) => s.replacedAt === undefined || state.now.getTime() < s.replacedAt + thresholds.propagationGraceMs);
    for (const s of live) {
      for (const w of state.webhooks) {
        const ok = verifyServingPair({ caPem: w.caBundlePem ?? '', certPem: s.cert, keyPem: s.key, now: state.now });
        assert.ok(ok.ok, `${context}: ${w.webhook} would reject a served certificate: ${ok.ok ? '' : ok.error}`);
      }
    }
  }
  /** Applies steps until idle; returns the actions taken. */
  function settle(): string[] {
    const actions: string[] = [];
    for (let i = 0; i < 12; i++) {
      const step = plan();
      if (step.action === 'idle') return actions;
      actions.push(step.action);
      apply(step);
      assertNoFailedReviews(`after ${step.action}`);
    }
    assert.fail(`did not settle: ${actions.join(', ')}`);
  }
  return { state, plan, apply, settle, assertNoFailedReviews };
}

const fingerprints = (pem: string | undefined) => splitBundle(pem ?? '').map((c) => c.info.fingerprintSha256);

describe('planRotation', () => {
  it('issues a CA, publishes it, then issues the serving certificate when nothing exists', () => {
    const c = cluster();
    const first = c.plan();
    assert.equal(first.action, 'issue-ca');
    assert.equal(first.action === 'issue-ca' && first.roll, false);
    assert.match(first.reason, /no CA Secret/);
    assert.deepEqual(c.settle(), ['issue-ca', 'publish-bundle', 'issue-serving']);
    const ca = fingerprints(c.state.caSecret?.['ca.crt']);
    for (const w of c.state.webhooks) assert.deepEqual(fingerprints(w.caBundlePem), ca);
    assert.deepEqual(fingerprints(c.state.tlsSecret?.['ca.crt']), ca);
    const idle = c.plan();
    assert.equal(idle.action, 'idle');
  });

  it('does nothing while the certificates are good', () => {
    const c = cluster();
    c.settle();
    c.state.now = new Date(T0.getTime() + 200 * DAY);
    assert.equal(c.plan().action, 'idle');
  });

  it('renews the serving certificate under the same CA without touching the caBundle', () => {
    const c = cluster();
    c.settle();
    const bundles = c.state.webhooks.map((w) => w.caBundlePem);
    const oldSerial = splitBundle(c.state.tlsSecret!['tls.crt']!)[0]!.info.serialHex;
    c.state.now = new Date(T0.getTime() + 340 * DAY); // 25 days before the 365-day serving certificate ends
    const step = c.plan();
    assert.equal(step.action, 'issue-serving');
    assert.match(step.reason, /expires soon/);
    assert.deepEqual(c.settle(), ['issue-serving']);
    assert.deepEqual(c.state.webhooks.map((w) => w.caBundlePem), bundles);
    assert.notEqual(splitBundle(c.state.tlsSecret!['tls.crt']!)[0]!.info.serialHex, oldSerial);
  });

  it('re-issues the serving certificate when it lacks a name the webhooks call', () => {
    const c = cluster();
    c.settle();
    const step = planRotation({ now: c.state.now, dnsNames: [...NAMES, 'extra.tracegate.svc'], caSecret: c.state.caSecret, tlsSecret: c.state.tlsSecret, webhooks: c.state.webhooks, thresholds: DEFAULT_ROTATION_THRESHOLDS });
    assert.equal(step.action, 'issue-serving');
    assert.match(step.reason, /does not cover extra\.tracegate\.svc/);
  });

  it('rolls the CA: old+new published first, then the serving switch, the old CA dropped after the grace', () => {
    const c = cluster();
    c.settle();
    const oldCa = fingerprints(c.state.caSecret!['ca.crt'])[0]!;
    // Yearly serving renewals under the old CA, the last one capped at the CA's end (125 days left)...
    for (const day of [340, 680, 1020, 1360, 1700]) {
      c.state.now = new Date(T0.getTime() + day * DAY);
      assert.deepEqual(c.settle(), ['issue-serving'], `day ${day}`);
    }
    // ...then 80 days before the 1825-day CA ends: inside the 90-day roll window.
    c.state.now = new Date(T0.getTime() + 1745 * DAY);
    const first = c.plan();
    assert.equal(first.action, 'issue-ca');
    assert.equal(first.action === 'issue-ca' && first.roll, true);
    assert.match(first.reason, /CA roll: CA certificate expires soon/);
    c.apply(first);
    c.assertNoFailedReviews('after the new CA');
    const newCa = fingerprints(c.state.caSecret!['ca.crt'])[0]!;
    const publish = c.plan();
    assert.equal(publish.action, 'publish-bundle');
    assert.deepEqual(fingerprints(publish.action === 'publish-bundle' ? publish.bundlePem : ''), [newCa, oldCa]);
    assert.deepEqual(c.settle(), ['publish-bundle', 'issue-serving']);
    // Within the grace the old CA stays: a gate may still serve the old pair.
    c.state.now = new Date(c.state.now.getTime() + DEFAULT_ROTATION_THRESHOLDS.propagationGraceMs - 1000);
    assert.equal(c.plan().action, 'idle');
    c.state.now = new Date(c.state.now.getTime() + 2000);
    const trim = c.plan();
    assert.equal(trim.action, 'publish-bundle');
    assert.match(trim.reason, /old CA no longer served/);
    assert.deepEqual(c.settle(), ['publish-bundle', 'update-trust']);
    for (const w of c.state.webhooks) assert.deepEqual(fingerprints(w.caBundlePem), [newCa]);
    assert.deepEqual(fingerprints(c.state.tlsSecret!['ca.crt']), [newCa]);
  });

  it('rolls (does not restart) when the CA Secret is lost while the served certificate is trusted', () => {
    const c = cluster();
    c.settle();
    const oldCa = fingerprints(c.state.caSecret!['ca.crt'])[0]!;
    c.state.caSecret = undefined;
    const step = c.plan();
    assert.equal(step.action === 'issue-ca' && step.roll, true);
    c.apply(step);
    const publish = c.plan();
    assert.equal(publish.action, 'publish-bundle');
    assert.ok(fingerprints(publish.action === 'publish-bundle' ? publish.bundlePem : '').includes(oldCa));
    assert.deepEqual(c.settle(), ['publish-bundle', 'issue-serving']);
  });

  it('re-issues, never throws, on garbage Secret contents, naming what is wrong without quoting keys', () => {
    const c = cluster();
    c.settle();
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const cases: [string, Record<string, string>, RegExp][] = [
      ['garbage key', { ...c.state.tlsSecret!, 'tls.key': 'not a key AAAA' }, /private key cannot be read/],
      ['wrong-type key (an EC key)', { ...c.state.tlsSecret!, 'tls.key': ecKey }, /does not match/],
      ['garbage certificate', { ...c.state.tlsSecret!, 'tls.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, /not a readable certificate/],
      ['no key', { 'tls.crt': c.state.tlsSecret!['tls.crt']!, 'ca.crt': c.state.tlsSecret!['ca.crt']! }, /no serving key/],
    ];
    for (const [what, tls, reason] of cases) {
      const step = planRotation({ now: c.state.now, dnsNames: NAMES, caSecret: c.state.caSecret, tlsSecret: tls, webhooks: c.state.webhooks, thresholds: DEFAULT_ROTATION_THRESHOLDS });
      assert.equal(step.action, 'issue-serving', what);
      assert.match(step.reason, reason, what);
      assert.doesNotMatch(step.reason, /AAAA|PRIVATE KEY/, what);
    }
    const badCa = planRotation({ now: c.state.now, dnsNames: NAMES, caSecret: { 'ca.crt': 'garbage', 'ca.key': 'garbage' }, tlsSecret: c.state.tlsSecret, webhooks: c.state.webhooks, thresholds: DEFAULT_ROTATION_THRESHOLDS });
    assert.equal(badCa.action, 'issue-ca');
    assert.match(badCa.reason, /no PEM certificate found/);
    const mismatch = issueCa({ now: c.state.now });
    const wrongKey = planRotation({ now: c.state.now, dnsNames: NAMES, caSecret: { 'ca.crt': c.state.caSecret!['ca.crt']!, 'ca.key': mismatch.keyPem }, tlsSecret: c.state.tlsSecret, webhooks: c.state.webhooks, thresholds: DEFAULT_ROTATION_THRESHOLDS });
    assert.equal(wrongKey.action, 'issue-ca');
    assert.match(wrongKey.reason, /does not match/);
  });

  it('repairs a caBundle someone else edited: a foreign CA, garbage, or nothing', () => {
    const c = cluster();
    c.settle();
    const signing = fingerprints(c.state.caSecret!['ca.crt']);
    const foreign = issueCa({ now: c.state.now });
    c.state.webhooks[0]!.caBundlePem = c.state.webhooks[0]!.caBundlePem + foreign.certPem;
    c.state.webhooks[1]!.caBundlePem = 'garbage';
    c.state.webhooks[2]!.caBundlePem = undefined;
    const step = c.plan();
    assert.equal(step.action, 'publish-bundle');
    assert.deepEqual(step.action === 'publish-bundle' && step.webhooks.map((w) => w.webhook), WEBHOOKS.map((w) => w.webhook));
    c.settle();
    for (const w of c.state.webhooks) assert.deepEqual(fingerprints(w.caBundlePem), signing);
  });

  it('publishes only to the webhooks that are stale', () => {
    const c = cluster();
    c.settle();
    c.state.webhooks[1]!.caBundlePem = undefined;
    const step = c.plan();
    assert.equal(step.action, 'publish-bundle');
    assert.deepEqual(step.action === 'publish-bundle' && step.webhooks.map((w) => w.webhook), ['validate.tracegate.io']);
  });

  it('drops expired and non-CA certificates from the bundle', () => {
    const c = cluster();
    c.settle();
    const expired = issueCa({ now: new Date(T0.getTime() - 10 * DAY), validDays: 5 });
    const leaf = c.state.tlsSecret!['tls.crt']!;
    const signing = c.state.caSecret!['ca.crt']!;
    // Inside the grace of a fresh serving certificate: other valid CAs would be kept, these never are.
    c.state.webhooks[0]!.caBundlePem = signing + expired.certPem + leaf;
    const step = c.plan();
    assert.equal(step.action, 'publish-bundle');
    assert.deepEqual(fingerprints(step.action === 'publish-bundle' ? step.bundlePem : ''), fingerprints(signing));
  });

  it('fixes the TLS Secret\'s ca.crt alone when only it differs', () => {
    const c = cluster();
    c.settle();
    c.state.tlsSecret = { ...c.state.tlsSecret!, 'ca.crt': 'edited' };
    const step = c.plan();
    assert.equal(step.action, 'update-trust');
    assert.deepEqual(c.settle(), ['update-trust']);
  });

  it('issues against the webhooks it has: none (configurations absent) is fine', () => {
    const step = planRotation({ now: T0, dnsNames: NAMES, webhooks: [], thresholds: DEFAULT_ROTATION_THRESHOLDS });
    assert.equal(step.action, 'issue-ca');
    const ca = issueCa({ now: T0 });
    const next = planRotation({ now: T0, dnsNames: NAMES, caSecret: { 'ca.crt': ca.certPem, 'ca.key': ca.keyPem }, webhooks: [], thresholds: DEFAULT_ROTATION_THRESHOLDS });
    assert.equal(next.action, 'issue-serving');
  });

  it('keeps the serving certificate\'s issue time from notBefore (no annotation needed)', () => {
    const c = cluster();
    c.settle();
    const info = splitBundle(c.state.tlsSecret!['tls.crt']!)[0]!.info;
    assert.equal(info.notBefore.getTime() + CLOCK_SKEW_MS, T0.getTime());
    // A base64 caBundle round-trips through the plan's canonical form unchanged.
    assert.equal(Buffer.from(caBundleBase64(c.state.webhooks[0]!.caBundlePem!), 'base64').toString('utf8'), c.state.webhooks[0]!.caBundlePem);
  });
});

