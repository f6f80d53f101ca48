import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TracegateError } from '../errors.js';
import { DEFAULT_SERVING_VALID_DAYS, issueCa, issueServingCert } from './issue.js';
import type { IssuedCa, IssuedServing } from './issue.js';
import { assessCertSet } from './inspect.js';
import type { CertSetPems } from './inspect.js';

/** Where a certificate set lives; the file names are those of a `kubernetes.io/tls` Secret and cert-manager. */
export interface CertPaths {
  dir: string;
  caCert: string;
  caKey: string;
  tlsCert: string;
  tlsKey: string;
}

/** Outcome of {@link ensureDevCerts}. `caChanged` means the caBundle in the webhook configuration must be updated. */
export interface EnsuredCerts {
  paths: CertPaths;
  created: boolean;
  caChanged: boolean;
  reason: string;
}

/** 30 days: a month of warning (metric, health) before anything expires, and still under any sane lifetime. */
export const DEFAULT_RENEW_BEFORE_DAYS = 30;

/** Keys are secrets: owner-only. */
const KEY_MODE = 0o600;
/** Certificates are public: anyone may read them (e.g. to build the caBundle). */
const CERT_MODE = 0o644;

/** The four file paths of a certificate set in `dir`. */
export function certPaths(dir: string): CertPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    tlsCert: join(dir, 'tls.crt'),
    tlsKey: join(dir, 'tls.key'),
  };
}

/**
 * Writes all four files (creating `dir`), each atomically. Order: CA, then serving key, then serving cert
 * last — a reloader that watches tls.crt finds the matching key already in place. Throws CERT_WRITE.
 */
export async function writeCertSet(dir: string, set: { ca: IssuedCa; serving: IssuedServing }): Promise<CertPaths> {
  const paths = certPaths(dir);
  await makeDir(dir);
  await writeAtomic(paths.caKey, set.ca.keyPem, KEY_MODE);
  await writeAtomic(paths.caCert, set.ca.certPem, CERT_MODE);
  await writeServing(paths, set.serving);
  return paths;
}

/**
 * Embedded defaults for `npm start` / local development: keeps the certificates in `dir` while they are
 * valid, match each other, cover the requested names and do not expire within `renewBeforeDays`
 * (default 30). Otherwise re-issues the serving cert with the existing CA when that CA is still good, or a
 * whole new CA + cert. Never regenerates without a reason, so the caBundle stays stable across restarts.
 * Not for production: there the set comes from a mounted Secret via {@link readCertSet}.
 * Throws CERT_INVALID (unreadable file, bad names), CERT_WRITE, or CONFIG_INVALID (bad renewBeforeDays).
 */
export async function ensureDevCerts(opts: {
  dir: string;
  dnsNames: string[];
  ipAddresses?: string[];
  now?: Date;
  renewBeforeDays?: number;
}): Promise<EnsuredCerts> {
  const renewBeforeDays = opts.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
  // At or beyond a serving cert's whole lifetime every fresh cert would already be "expiring": endless renewal.
  if (!Number.isFinite(renewBeforeDays) || renewBeforeDays < 0 || renewBeforeDays >= DEFAULT_SERVING_VALID_DAYS) {
    throw new TracegateError('CONFIG_INVALID', `renewBeforeDays must be between 0 and ${DEFAULT_SERVING_VALID_DAYS - 1}, got ${String(renewBeforeDays)}`);
  }
  if (opts.dnsNames.length === 0) throw new TracegateError('CERT_INVALID', 'a serving certificate needs at least one DNS name');
  const now = opts.now ?? new Date();
  const paths = certPaths(opts.dir);
  const pems = await readOptionalSet(paths);
  const ipAddresses = opts.ipAddresses ?? [];
  const verdict = assessCertSet({ pems, dnsNames: opts.dnsNames, ipAddresses, now, renewBeforeDays });

  switch (verdict.action) {
    case 'reuse':
      return { paths, created: false, caChanged: false, reason: `reused ${opts.dir}: ${verdict.reason}` };
    case 'renew-serving': {
      const serving = issueServingCert({ ca: verdict.ca, dnsNames: opts.dnsNames, ipAddresses, now });
      await makeDir(opts.dir);
      await writeServing(paths, serving);
      return { paths, created: true, caChanged: false, reason: `issued a serving certificate with the existing CA: ${verdict.reason}` };
    }
    case 'renew-all': {
      const ca = issueCa({ now });
      const serving = issueServingCert({ ca, dnsNames: opts.dnsNames, ipAddresses, now });
      await writeCertSet(opts.dir, { ca, serving });
      return { paths, created: true, caChanged: true, reason: `issued a new CA and serving certificate: ${verdict.reason}` };
    }
  }
}

/** Reads the files a server needs (not the CA key). Throws CERT_INVALID naming the file that cannot be read. */
export async function readCertSet(paths: CertPaths): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  // In order, not Promise.all: with several files missing the error must name the same (first) one every time.
  const caPem = await readRequired(paths.caCert);
  const certPem = await readRequired(paths.tlsCert);
  const keyPem = await readRequired(paths.tlsKey);
  return { caPem, certPem, keyPem };
}

async function writeServing(paths: CertPaths, serving: IssuedServing): Promise<void> {
  await writeAtomic(paths.tlsKey, serving.keyPem, KEY_MODE);
  await writeAtomic(paths.tlsCert, serving.certPem, CERT_MODE);
}

async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new TracegateError('CERT_WRITE', `cannot create certificate directory ${dir}: ${(err as Error).message}`, { path: dir }, { cause: err });
  }
}

/** Write to a temp file in the same directory, then rename: readers see the old file or the new one, never half. */
export async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  // Random suffix (4 bytes is plenty) so two writers never share a temp file.
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.chmod(mode); // open's mode is filtered by the umask; the file must end up exactly `mode`
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw new TracegateError('CERT_WRITE', `cannot write ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

async function readRequired(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const message = missing ? `certificate file ${path} does not exist` : `cannot read ${path}: ${(err as Error).message}`;
    throw new TracegateError('CERT_INVALID', message, { path }, { cause: err });
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TracegateError('CERT_INVALID', `cannot read ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

/** Reads whichever files of a certificate set exist; a missing file is undefined, an unreadable one an error. */
export async function readOptionalSet(paths: CertPaths): Promise<CertSetPems> {
  const [caCertPem, caKeyPem, certPem, keyPem] = await Promise.all([
    readOptional(paths.caCert),
    readOptional(paths.caKey),
    readOptional(paths.tlsCert),
    readOptional(paths.tlsKey),
  ]);
  return { caCertPem, caKeyPem, certPem, keyPem };
}
