import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { TracegateError } from '../errors.js';

/** A self-signed CA that signs the webhook's serving certificate; its PEM is the webhook `caBundle`. */
export interface IssuedCa {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  /** Lower-case hex, 32 digits (16 bytes). */
  serialHex: string;
}

/** A serving certificate for the webhook's HTTPS endpoint, signed by an {@link IssuedCa}. */
export interface IssuedServing {
  certPem: string;
  keyPem: string;
  notAfter: Date;
  serialHex: string;
  dnsNames: string[];
}

/** Supplies an RSA key pair; injectable so tests can reuse or pin keys. */
export type KeyPairGenerator = () => forge.pki.rsa.KeyPair;

/** Supplies random bytes for serial numbers; injectable so tests can reach the edge cases. */
export type RandomBytes = (size: number) => Uint8Array;

/** 5 years: the CA is what the webhook configuration trusts, so it should change rarely (Kyverno's 1-year CA expired unnoticed). */
export const DEFAULT_CA_VALID_DAYS = 1825;
/** 1 year: serving certs are rotated in place under the same CA, so a shorter life costs nothing and limits a leaked key. */
export const DEFAULT_SERVING_VALID_DAYS = 365;
/** Backdate notBefore so an apiserver whose clock runs a little behind ours does not see a fresh cert as not yet valid. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
/** 2048 bits: what the apiserver, cert-manager and kubeadm default to; larger keys only slow every handshake. */
export const RSA_KEY_BITS = 2048;

const DAY_MS = 24 * 60 * 60 * 1000;
/** 16 bytes: RFC 5280 allows up to 20 octets; 127 random bits make collisions impossible in practice. */
const SERIAL_BYTES = 16;
const DEFAULT_CA_COMMON_NAME = 'tracegate-ca';
/** RFC 1123 label: letters, digits and inner hyphens, at most 63 characters. */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
/** RFC 1035 limit on a whole name. */
const MAX_DNS_NAME_LENGTH = 253;

/** The names the apiserver may use for a Service: `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<clusterDomain>`. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

/** RSA key pair via forge, which delegates to Node's native `generateKeyPairSync` (tens of ms, not seconds). */
export function defaultKeyPairGenerator(): forge.pki.rsa.KeyPair {
  return forge.pki.rsa.generateKeyPair({ bits: RSA_KEY_BITS, e: 0x10001 }); // 65537: the universal RSA public exponent
}

/**
 * A random positive serial as 32 hex digits. The first byte is kept in 0x01–0x7f: a set high bit would make
 * the DER INTEGER negative and a zero first byte would be a non-minimal encoding — Go's x509 parser (the
 * apiserver's) rejects both; it also guarantees the serial is never zero.
 */
export function randomSerialHex(randomBytes: RandomBytes = nodeRandomBytes): string {
  const bytes = Buffer.from(randomBytes(SERIAL_BYTES));
  const first = (bytes[0] ?? 0) & 0x7f;
  bytes[0] = first === 0 ? 0x01 : first;
  return bytes.toString('hex');
}

/** Issues a self-signed CA (CA:true, keyCertSign + cRLSign, path length 0). Throws CERT_INVALID on bad options. */
export function issueCa(opts: {
  commonName?: string;
  validDays?: number;
  now?: Date;
  generateKeyPair?: KeyPairGenerator;
  randomBytes?: RandomBytes;
}): IssuedCa {
  const validDays = checkValidDays(opts.validDays ?? DEFAULT_CA_VALID_DAYS);
  const keys = (opts.generateKeyPair ?? defaultKeyPairGenerator)();
  const { notBefore, notAfter } = validity(opts.now ?? new Date(), validDays);
  const subject = [{ name: 'commonName', value: opts.commonName ?? DEFAULT_CA_COMMON_NAME }];

  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex(opts.randomBytes);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    // pathLen 0: this CA only ever signs leaf serving certs, never another CA.
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());

  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
    notAfter,
    serialHex: cert.serialNumber,
  };
}

/**
 * Issues a serving certificate for `dnsNames` (CN = the first) and `ipAddresses`, signed by `ca`.
 * notAfter is capped at the CA's notAfter: a leaf outliving its CA would fail verification anyway.
 * Throws CERT_INVALID when the CA is unusable (unparsable, key mismatch, not a CA, not valid at `now`)
 * or a name or address is malformed.
 */
export function issueServingCert(opts: {
  ca: { certPem: string; keyPem: string };
  dnsNames: string[];
  ipAddresses?: string[];
  validDays?: number;
  now?: Date;
  generateKeyPair?: KeyPairGenerator;
  randomBytes?: RandomBytes;
}): IssuedServing {
  const dnsNames = checkDnsNames(opts.dnsNames);
  const ipAddresses = checkIpAddresses(opts.ipAddresses ?? []);
  const validDays = checkValidDays(opts.validDays ?? DEFAULT_SERVING_VALID_DAYS);
  const now = opts.now ?? new Date();
  const ca = loadCa(opts.ca, now);
  const keys = (opts.generateKeyPair ?? defaultKeyPairGenerator)();
  const wanted = validity(now, validDays);
  const notAfter = wanted.notAfter > ca.cert.validity.notAfter ? ca.cert.validity.notAfter : wanted.notAfter;

  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerialHex(opts.randomBytes);
  cert.validity.notBefore = wanted.notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [
        ...dnsNames.map((value) => ({ type: 2, value })), // 2 = dNSName (RFC 5280 GeneralName)
        ...ipAddresses.map((ip) => ({ type: 7, ip })), // 7 = iPAddress
      ],
    },
    { name: 'subjectKeyIdentifier' },
    // forge's `keyIdentifier: true` would use the leaf's own key, so pass the CA's identifier explicitly.
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.keyIdentifier },
  ]);
  cert.sign(ca.key, forge.md.sha256.create());

  return {
    certPem: forge.pki.certificateToPem(cert),
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
    notAfter: new Date(notAfter.getTime()),
    serialHex: cert.serialNumber,
    dnsNames: [...dnsNames],
  };
}

/** Whole-second dates: X.509 times carry no milliseconds, so the returned notAfter equals the certificate's. */
function validity(now: Date, validDays: number): { notBefore: Date; notAfter: Date } {
  const start = Math.floor(now.getTime() / 1000) * 1000;
  if (Number.isNaN(start)) throw new TracegateError('CERT_INVALID', '`now` is not a valid date');
  return { notBefore: new Date(start - CLOCK_SKEW_MS), notAfter: new Date(start + validDays * DAY_MS) };
}

function checkValidDays(days: number): number {
  if (!Number.isInteger(days) || days < 1) {
    throw new TracegateError('CERT_INVALID', `validity must be a whole number of days ≥ 1, got ${String(days)}`, { validDays: days });
  }
  return days;
}

function checkDnsNames(names: string[]): [string, ...string[]] {
  const [first, ...rest] = names;
  if (first === undefined) throw new TracegateError('CERT_INVALID', 'a serving certificate needs at least one DNS name');
  for (const name of names) {
    // A leading "*." wildcard label is allowed; everything else must be plain RFC 1123 labels.
    const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
    if (name.length > MAX_DNS_NAME_LENGTH || !labels.every((l) => DNS_LABEL.test(l))) {
      throw new TracegateError('CERT_INVALID', `"${name}" is not a valid DNS name`, { dnsName: name });
    }
  }
  return [first, ...rest];
}

function checkIpAddresses(ips: string[]): string[] {
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new TracegateError('CERT_INVALID', `"${ip}" is not an IPv4 or IPv6 address`, { ipAddress: ip });
  }
  return ips;
}

interface LoadedCa {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
  keyIdentifier: string;
}

function loadCa(pems: { certPem: string; keyPem: string }, now: Date): LoadedCa {
  let cert: forge.pki.Certificate;
  let key: forge.pki.rsa.PrivateKey;
  try {
    cert = forge.pki.certificateFromPem(pems.certPem);
    key = forge.pki.privateKeyFromPem(pems.keyPem);
  } catch (err) {
    // forge only handles RSA, so an EC CA lands here too.
    throw new TracegateError('CERT_INVALID', `CA certificate or key cannot be read: ${(err as Error).message}`, {}, { cause: err });
  }
  const publicKey = cert.publicKey as forge.pki.rsa.PublicKey;
  if (publicKey.n.compareTo(key.n) !== 0 || publicKey.e.compareTo(key.e) !== 0) {
    throw new TracegateError('CERT_INVALID', 'CA key does not match the CA certificate');
  }
  const constraints = cert.getExtension('basicConstraints') as { cA?: boolean } | null;
  if (constraints?.cA !== true) throw new TracegateError('CERT_INVALID', 'CA certificate is not a CA (basicConstraints CA:false)');
  if (now < cert.validity.notBefore || now > cert.validity.notAfter) {
    throw new TracegateError('CERT_INVALID', `CA certificate is not valid at ${now.toISOString()} (valid ${cert.validity.notBefore.toISOString()} to ${cert.validity.notAfter.toISOString()})`);
  }
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  const keyIdentifier = ski?.subjectKeyIdentifier !== undefined
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
  return { cert, key, keyIdentifier };
}
