/**
 * The next step of keeping the gate's certificates valid (the recorder's leader runs it, see
 * src/recorder/cert-rotation.ts): pure — state in, one step out; the caller issues keys and writes.
 *
 * The invariant is zero failed reviews: at every instant the caBundle of every webhook trusts the
 * serving certificate the gate serves, which lags the Secret (kubelet sync, the gate's poll) and may be
 * an older pair the gate kept because a newer one was bad. Hence the order of the steps:
 * 1. a signing CA (CA Secret) that is usable and not close to its end, else issue one;
 * 2. every webhook's caBundle = the signing CA + (while the switch may not have reached every gate)
 *    the other still-valid CAs it or the TLS Secret held — a CA roll publishes old+new first;
 * 3. only then a serving certificate of the signing CA in the TLS Secret (renewed before its end);
 * 4. the TLS Secret's ca.crt (what the gate checks a renewed pair against) equal to the bundle.
 * An old CA leaves the bundle once the serving certificate is from the signing CA and was issued at
 * least `propagationGraceMs` ago. Renewing under the same CA never touches the bundle.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { CLOCK_SKEW_MS, DEFAULT_CA_VALID_DAYS, DEFAULT_SERVING_VALID_DAYS } from './issue.js';
import { DEFAULT_RENEW_BEFORE_DAYS } from './files.js';
import { assessCertSet, inspectCert } from './inspect.js';
import type { CertInfo } from './inspect.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * 90 days: a CA is rolled while it can still vouch for the serving certificate through the whole roll,
 * and well before serving renewals under it would be capped at its end (capped at less than the 30-day
 * serving window they would re-issue on every check).
 */
export const DEFAULT_CA_ROLL_BEFORE_DAYS = 90;
/**
 * 24 hours: how long an old CA stays trusted after the serving certificate switched away from it —
 * kubelet refreshes Secret volumes within a minute or two and the gate polls its files every 10 s, so a
 * day also covers a node that was cut off for a while. Nothing is lost by waiting: the old CA is valid.
 */
export const DEFAULT_PROPAGATION_GRACE_MS = DAY_MS;

/** When to renew and for how long to issue. Days, as `tracegate certs` and cert-manager count them. */
export interface RotationThresholds {
  caValidDays: number;
  servingValidDays: number;
  /** Roll the CA when it ends within this many days. Must exceed `servingRenewBeforeDays`. */
  caRollBeforeDays: number;
  /** Renew the serving certificate when it ends within this many days. */
  servingRenewBeforeDays: number;
  propagationGraceMs: number;
}

/** The defaults, each explained where its constant is defined. */
export const DEFAULT_ROTATION_THRESHOLDS: Readonly<RotationThresholds> = Object.freeze({
  caValidDays: DEFAULT_CA_VALID_DAYS,
  servingValidDays: DEFAULT_SERVING_VALID_DAYS,
  caRollBeforeDays: DEFAULT_CA_ROLL_BEFORE_DAYS,
  servingRenewBeforeDays: DEFAULT_RENEW_BEFORE_DAYS,
  propagationGraceMs: DEFAULT_PROPAGATION_GRACE_MS,
});

/** One webhook's current trust: its caBundle decoded from base64 (undefined when unset). */
export interface WebhookTrust {
  configuration: string;
  /** Kind of the configuration: `MutatingWebhookConfiguration` or `ValidatingWebhookConfiguration`. */
  kind: string;
  webhook: string;
  caBundlePem?: string | undefined;
}

/** Everything the plan looks at. Secret entries are the decoded texts; absent Secret = undefined. */
export interface RotationState {
  now: Date;
  dnsNames: string[];
  /** The recorder-only Secret with the signing CA: `ca.crt`, `ca.key`. */
  caSecret?: Readonly<Record<string, string>> | undefined;
  /** The Secret the gate mounts: `tls.crt`, `tls.key`, `ca.crt`. */
  tlsSecret?: Readonly<Record<string, string>> | undefined;
  webhooks: readonly WebhookTrust[];
  thresholds: Readonly<RotationThresholds>;
}

/** What the caller should do next; after any step other than `idle`, read the state again and re-plan. */
export type RotationStep =
  | { action: 'issue-ca'; reason: string; roll: boolean }
  | { action: 'publish-bundle'; reason: string; bundlePem: string; webhooks: WebhookTrust[] }
  | { action: 'issue-serving'; reason: string; ca: { certPem: string; keyPem: string }; trustPem: string }
  | { action: 'update-trust'; reason: string; trustPem: string }
  | { action: 'idle'; reason: string; ca: CertInfo; serving: CertInfo; bundleCas: number };

/** A certificate out of a bundle, with the facts the plan needs. */
interface BundleCert {
  pem: string;
  info: CertInfo;
}

/** Decides the next step. Never throws: unreadable contents are reasons to re-issue, named in `reason`. */
export function planRotation(state: RotationState): RotationStep {
  const { now, thresholds: t } = state;
  const caPem = state.caSecret?.['ca.crt'];
  const caKeyPem = state.caSecret?.['ca.key'];
  const caVerdict = assessCertSet({ pems: { caCertPem: caPem, caKeyPem }, dnsNames: state.dnsNames, now, renewBeforeDays: t.caRollBeforeDays });
  const trusted = trustedNow(state);
  if (caVerdict.action === 'renew-all' || caPem === undefined || caKeyPem === undefined) {
    const why = state.caSecret === undefined ? 'no CA Secret' : caVerdict.reason;
    return { action: 'issue-ca', reason: trusted ? `CA roll: ${why}` : `new CA: ${why}`, roll: trusted };
  }
  const signing = splitBundle(caPem)[0];
  if (signing === undefined) return { action: 'issue-ca', reason: 'new CA: CA certificate unreadable', roll: trusted };

  const serving = servingVerdict(state, caPem, caKeyPem);
  const servingIssuedAt = serving.info === undefined ? undefined : serving.info.notBefore.getTime() + CLOCK_SKEW_MS;
  const switched = serving.fromSigning && servingIssuedAt !== undefined && now.getTime() >= servingIssuedAt + t.propagationGraceMs;
  const bundle = desiredBundle(state, signing, !switched);
  const bundlePem = bundle.map((c) => c.pem).join('');

  const stale = state.webhooks.filter((w) => canonical(w.caBundlePem ?? '') !== bundlePem);
  if (stale.length > 0) {
    const names = stale.map((w) => `${w.configuration}/${w.webhook}`).join(', ');
    const dropping = !stale.some((w) => !containsAll(w.caBundlePem ?? '', bundle));
    const reason = dropping ? `old CA no longer served; trimming the caBundle of ${names}` : `caBundle of ${names} does not hold exactly the CAs to trust`;
    return { action: 'publish-bundle', reason, bundlePem, webhooks: stale };
  }
  if (serving.renew !== undefined) {
    return { action: 'issue-serving', reason: serving.renew, ca: { certPem: signing.pem, keyPem: caKeyPem }, trustPem: bundlePem };
  }
  if (canonical(state.tlsSecret?.['ca.crt'] ?? '') !== bundlePem) {
    return { action: 'update-trust', reason: 'the TLS Secret\'s ca.crt differs from the caBundle', trustPem: bundlePem };
  }
  return { action: 'idle', reason: `serving certificate valid until ${serving.info!.notAfter.toISOString()}`, ca: signing.info, serving: serving.info!, bundleCas: bundle.length };
}

/** The PEM blocks of a bundle that parse as certificates, each normalised to end in one newline. */
export function splitBundle(pem: string): BundleCert[] {
  const out: BundleCert[] = [];
  for (const block of pem.match(PEM_BLOCK) ?? []) {
    const info = inspectCert(block);
    // LF only: forge writes CRLF, and a bundle must compare equal however its blocks were written.
    if (info.ok) out.push({ pem: `${block.replace(/\r\n/g, '\n').trim()}\n`, info: info.value });
  }
  return out;
}

/** A bundle as the plan writes it: readable blocks only, in order, one newline each. */
function canonical(pem: string): string {
  return splitBundle(pem).map((c) => c.pem).join('');
}

function containsAll(pem: string, wanted: BundleCert[]): boolean {
  const have = new Set(splitBundle(pem).map((c) => c.info.fingerprintSha256));
  return wanted.every((c) => have.has(c.info.fingerprintSha256));
}

/**
 * Whether some webhook would accept the serving certificate in the TLS Secret right now: then a new
 * CA must be published beside the old one before anything else changes (a roll, not a fresh start).
 */
function trustedNow(state: RotationState): boolean {
  const certPem = state.tlsSecret?.['tls.crt'];
  if (certPem === undefined) return false;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return false;
  }
  return state.webhooks.some((w) => splitBundle(w.caBundlePem ?? '').some((ca) => isValidCa(ca, state.now) && signedBy(cert, ca.pem)));
}

function signedBy(cert: X509Certificate, caPem: string): boolean {
  try {
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

function isValidCa(c: BundleCert, now: Date): boolean {
  return c.info.isCa && now >= c.info.notBefore && now <= c.info.notAfter;
}

interface ServingVerdict {
  /** Why a new serving certificate is needed; undefined: the current one is good. */
  renew?: string;
  /** The Secret's certificate when it parses (good or not). */
  info?: CertInfo;
  /** It is a valid pair signed by the signing CA. */
  fromSigning: boolean;
}

function servingVerdict(state: RotationState, caPem: string, caKeyPem: string): ServingVerdict {
  const tls = state.tlsSecret;
  const certPem = tls?.['tls.crt'];
  const parsed = certPem === undefined ? undefined : inspectCert(certPem);
  const info = parsed?.ok ? parsed.value : undefined;
  const base = info ? { info } : {};
  if (tls === undefined) return { ...base, renew: 'no TLS Secret', fromSigning: false };
  const verdict = assessCertSet({
    pems: { caCertPem: caPem, caKeyPem, certPem, keyPem: tls['tls.key'] },
    dnsNames: state.dnsNames,
    now: state.now,
    renewBeforeDays: state.thresholds.servingRenewBeforeDays,
  });
  if (verdict.action === 'reuse') return { ...base, fromSigning: true };
  // A pair signed by the signing CA that only needs renewing (names, end) is still what the gate may serve.
  const fromSigning = info !== undefined && certPem !== undefined && signedBy(new X509Certificate(certPem), caPem) && pairMatches(tls);
  return { ...base, renew: `serving certificate: ${verdict.reason}`, fromSigning };
}

function pairMatches(tls: Readonly<Record<string, string>>): boolean {
  try {
    // checkPrivateKey throws on an unreadable key: the pair is then not one the gate could serve.
    return new X509Certificate(tls['tls.crt'] ?? '').checkPrivateKey(createPrivateKey(tls['tls.key'] ?? ''));
  } catch {
    return false;
  }
}

/**
 * The signing CA, then — while a gate may still serve a certificate of another CA — the other valid CAs
 * the gate was last told to trust (the TLS Secret's ca.crt, which only this plan writes) and whichever
 * bundle CA issued the Secret's certificate. Not every CA found in a webhook: a foreign CA someone added
 * there must not spread to the others.
 */
function desiredBundle(state: RotationState, signing: BundleCert, keepOld: boolean): BundleCert[] {
  const out: BundleCert[] = [signing];
  if (!keepOld) return out;
  const seen = new Set([signing.info.fingerprintSha256]);
  const served = state.tlsSecret?.['tls.crt'];
  const issuers = served === undefined ? [] : state.webhooks.flatMap((w) => splitBundle(w.caBundlePem ?? '')).filter((ca) => issued(served, ca.pem));
  for (const c of [...splitBundle(state.tlsSecret?.['ca.crt'] ?? ''), ...issuers]) {
    if (seen.has(c.info.fingerprintSha256) || !isValidCa(c, state.now)) continue;
    seen.add(c.info.fingerprintSha256);
    out.push(c);
  }
  return out;
}

function issued(certPem: string, caPem: string): boolean {
  try {
    return signedBy(new X509Certificate(certPem), caPem);
  } catch {
    return false;
  }
}
