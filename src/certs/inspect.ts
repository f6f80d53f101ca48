import { X509Certificate, createPrivateKey } from 'node:crypto';
import { isIP } from 'node:net';
import type { Parsed } from '../errors.js';

/** What an operator (and the expiry metric) needs to know about one certificate. */
export interface CertInfo {
  /** RFC 4514-ish, e.g. `CN=tracegate`; several attributes are joined with ", ". */
  subject: string;
  dnsNames: string[];
  /** Canonical form: dotted IPv4, compressed lower-case IPv6. */
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex without separators, as `IssuedCa.serialHex`. */
  serialHex: string;
  isCa: boolean;
  /** Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprintSha256: string;
}

/** The PEM texts of a certificate set as found on disk; absent files are undefined. */
export interface CertSetPems {
  caCertPem?: string | undefined;
  caKeyPem?: string | undefined;
  certPem?: string | undefined;
  keyPem?: string | undefined;
}

/**
 * What to do with a certificate set: keep it, re-issue only the serving cert with the (checked) CA in `ca`
 * so the caBundle stays unchanged, or start over with a new CA.
 */
export type CertSetAssessment =
  | { action: 'reuse'; reason: string }
  | { action: 'renew-serving'; reason: string; ca: { certPem: string; keyPem: string } }
  | { action: 'renew-all'; reason: string };

const DAY_MS = 24 * 60 * 60 * 1000;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
/** Node prints SANs as `DNS:a, IP Address:1.2.3.4`, JSON-quoting any value that contains a separator. */
const SAN_ENTRY = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;

/** Parses the first certificate of a PEM text. Never throws. */
export function inspectCert(pem: string): Parsed<CertInfo> {
  const parsed = parseX509(pem);
  return parsed.ok ? { ok: true, value: describe(parsed.value) } : parsed;
}

/**
 * Checks that `keyPem` belongs to `certPem`, that the certificate is valid at `now` and — given `caPem` —
 * that a CA in it (a bundle of several is fine, as during CA rotation) signed it and is valid too.
 * The error lists every failure, separated by "; ". Never throws.
 */
export function verifyServingPair(opts: { caPem?: string; certPem: string; keyPem: string; now?: Date }): Parsed<CertInfo> {
  const now = opts.now ?? new Date();
  const cert = parseX509(opts.certPem);
  if (!cert.ok) return { ok: false, error: `serving certificate: ${cert.error}` };
  const problems: string[] = [];
  // Without a CA bundle (development certificates, no --tls-ca) only the pair itself is checked.
  if (opts.caPem !== undefined) {
    const cas = parseBundle(opts.caPem);
    if (!cas.ok) return { ok: false, error: `CA bundle: ${cas.error}` };
    const issuer = cas.value.find((ca) => cert.value.checkIssued(ca) && cert.value.verify(ca.publicKey));
    if (issuer === undefined) {
      const subjects = cas.value.map((ca) => oneLine(ca.subject)).join(' | ');
      problems.push(`certificate (issuer ${oneLine(cert.value.issuer)}) was not signed by the CA (${subjects}): clients trusting this caBundle would reject it as "unknown authority"`);
    } else {
      if (!issuer.ca) problems.push(`issuing certificate ${oneLine(issuer.subject)} is not a CA`);
      const caWindow = validityProblem('CA certificate', describe(issuer), now);
      if (caWindow !== undefined) problems.push(caWindow);
    }
  }
  const keyProblem = privateKeyProblem(cert.value, opts.keyPem);
  if (keyProblem !== undefined) problems.push(keyProblem);
  const info = describe(cert.value);
  const window = validityProblem('serving certificate', info, now);
  if (window !== undefined) problems.push(window);

  return problems.length === 0 ? { ok: true, value: info } : { ok: false, error: problems.join('; ') };
}

/** The value for `webhooks[].clientConfig.caBundle`: the PEM bytes, base64-encoded (not the DER). */
export function caBundleBase64(caPem: string): string {
  return Buffer.from(caPem, 'utf8').toString('base64');
}

/**
 * Decides whether a certificate set on disk can serve `dnsNames`/`ipAddresses` for at least
 * `renewBeforeDays` more days. A usable CA is always kept, so renewing the serving cert never changes
 * the caBundle. Never throws.
 */
export function assessCertSet(opts: {
  pems: CertSetPems;
  dnsNames: string[];
  ipAddresses?: string[];
  now: Date;
  renewBeforeDays: number;
}): CertSetAssessment {
  const { pems, now } = opts;
  const horizon = new Date(now.getTime() + opts.renewBeforeDays * DAY_MS);
  if (pems.caCertPem === undefined) return { action: 'renew-all', reason: 'no CA certificate' };
  if (pems.caKeyPem === undefined) return { action: 'renew-all', reason: 'no CA key' };
  const caCert = parseX509(pems.caCertPem);
  if (!caCert.ok) return { action: 'renew-all', reason: `CA certificate: ${caCert.error}` };
  const caInfo = describe(caCert.value);
  if (!caInfo.isCa) return { action: 'renew-all', reason: 'CA certificate is not a CA' };
  const caKeyProblem = privateKeyProblem(caCert.value, pems.caKeyPem);
  if (caKeyProblem !== undefined) return { action: 'renew-all', reason: `CA ${caKeyProblem}` };
  const caWindow = validityProblem('CA certificate', caInfo, now);
  if (caWindow !== undefined) return { action: 'renew-all', reason: caWindow };
  if (caInfo.notAfter <= horizon) return { action: 'renew-all', reason: `CA certificate expires soon (${caInfo.notAfter.toISOString()})` };

  const ca = { certPem: pems.caCertPem, keyPem: pems.caKeyPem };
  if (pems.certPem === undefined) return { action: 'renew-serving', reason: 'no serving certificate', ca };
  if (pems.keyPem === undefined) return { action: 'renew-serving', reason: 'no serving key', ca };
  const pair = verifyServingPair({ caPem: pems.caCertPem, certPem: pems.certPem, keyPem: pems.keyPem, now });
  if (!pair.ok) return { action: 'renew-serving', reason: pair.error, ca };
  const missing = missingNames(pair.value, opts.dnsNames, opts.ipAddresses ?? []);
  if (missing.length > 0) return { action: 'renew-serving', reason: `serving certificate does not cover ${missing.join(', ')}`, ca };
  if (pair.value.notAfter <= horizon) {
    return { action: 'renew-serving', reason: `serving certificate expires soon (${pair.value.notAfter.toISOString()})`, ca };
  }
  return { action: 'reuse', reason: `certificates valid until ${pair.value.notAfter.toISOString()}` };
}

/** Requested names and addresses the certificate lacks; DNS compared case-insensitively, IPs canonically. */
function missingNames(info: CertInfo, dnsNames: string[], ipAddresses: string[]): string[] {
  const haveDns = new Set(info.dnsNames.map((n) => n.toLowerCase()));
  const haveIps = new Set(info.ipAddresses);
  return [
    ...dnsNames.filter((n) => !haveDns.has(n.toLowerCase())),
    ...ipAddresses.filter((ip) => !haveIps.has(canonicalIp(ip))),
  ];
}

function parseX509(pem: string): Parsed<X509Certificate> {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return { ok: false, error: 'no PEM certificate found' };
  try {
    return { ok: true, value: new X509Certificate(pem) };
  } catch (err) {
    return { ok: false, error: `not a readable certificate (${(err as Error).message})` };
  }
}

function parseBundle(pem: string): Parsed<X509Certificate[]> {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return { ok: false, error: 'no PEM certificate found' };
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    const parsed = parseX509(block);
    if (!parsed.ok) return parsed;
    certs.push(parsed.value);
  }
  return { ok: true, value: certs };
}

function privateKeyProblem(cert: X509Certificate, keyPem: string): string | undefined {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem)) ? undefined : 'private key does not match the certificate';
  } catch (err) {
    return `private key cannot be read (${(err as Error).message})`;
  }
}

function validityProblem(what: string, info: CertInfo, now: Date): string | undefined {
  if (now < info.notBefore) return `${what} is not valid before ${info.notBefore.toISOString()}`;
  if (now > info.notAfter) return `${what} expired on ${info.notAfter.toISOString()}`;
  return undefined;
}

function describe(cert: X509Certificate): CertInfo {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const [, kind, raw = ''] of (cert.subjectAltName ?? '').matchAll(SAN_ENTRY)) {
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (kind === 'DNS') dnsNames.push(value);
    else if (kind === 'IP Address') ipAddresses.push(canonicalIp(value));
  }
  return {
    subject: oneLine(cert.subject),
    dnsNames,
    ipAddresses,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serialHex: cert.serialNumber.toLowerCase(),
    isCa: cert.ca,
    fingerprintSha256: cert.fingerprint256,
  };
}

/** Node prints IPv6 SANs expanded and upper-case (`FE80:0:0:0:0:0:0:1`); the URL parser compresses them. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]`).hostname.slice(1, -1);
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}
